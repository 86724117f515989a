"""`dlxc apply -f PATH [-R] [--prune] [--dry-run=client|server] [--wait]`: create, update and prune objects from manifests."""
from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from dlxc.apply.applier import PRUNE_SKIPPED, ApplyResult, apply_set
from dlxc.apply.inventory import chosen_applyset, default_inventory_dir
from dlxc.apply.manifests import Manifest, load_manifests, source_files
from dlxc.cli import console
from dlxc.cli.common import fail, with_client
from dlxc.client.errors import ApiError, Unreachable
from dlxc.client.waiter import WaitFor, parse_duration, wait_for

if TYPE_CHECKING:
    from dlxc.client.api import Client

__all__ = ["apply", "load_or_fail", "print_results", "run_apply", "wait_ready"]

RETRY_DELAYS = (0.5, 1.0, 2.0)  # about as long as an etcd election under load
_SUFFIX = {"none": "", "client": " (dry run)", "server": " (server dry run)"}


def load_or_fail(paths: list[str], *, recursive: bool) -> list[Manifest]:
    """The manifests, or every error on stderr and exit 1: nothing is applied from a half-valid set."""
    manifests, errors = load_manifests(paths, recursive=recursive)
    if errors:
        for err in errors:
            console.error(str(err))
        fail(f"{len(errors)} error(s); nothing was applied")
    if not manifests:
        fail("no objects found in " + ", ".join(paths))
    return manifests


def print_results(results: list[ApplyResult], *, dry_run: str = "none") -> int:
    """One line per object; failures on stderr naming file and object. Returns the number of failures."""
    failures = 0
    for result in results:
        for warning in result.warnings:
            console.warn(warning)
        if result.action == PRUNE_SKIPPED:
            console.warn(result.message)
        elif result.failed:
            failures += 1
            console.error(f"{result.source}: {result.ref}: {result.message}")
        else:
            console.out(f"{result.ref} {result.action}{_SUFFIX[dry_run]}")
    return failures


async def wait_ready(client: Client, results: list[ApplyResult], *, timeout: float) -> int:
    """Wait until every applied container holds its desired state, all within one `timeout` (not
    `timeout` each: ten stuck containers waited ten times as long); returns how many did not in time."""
    late = 0
    deadline = time.monotonic() + timeout
    for result in results:
        obj = result.obj
        if result.failed or result.action == "pruned" or obj is None or obj.get("kind") != "Container":
            continue
        target = WaitFor("phase", (obj.get("spec") or {}).get("state", "Running"))
        left = max(0.0, deadline - time.monotonic())
        with console.progress(f"waiting for {result.ref} to be {target.value}", prefix=result.ref) as bar:
            outcome = await wait_for(client, "containers", obj["metadata"]["name"], target, timeout=left, on_change=bar.update)
        ok, state = outcome
        if outcome.failure:
            late += 1
            console.error(f"{result.ref} will not reach {target}: {outcome.failure}")
        elif not ok:
            late += 1
            console.error(f"{result.ref} is {state}, not {target.value}, after {timeout:g}s")
    return late


async def run_apply(
    client: Client,
    manifests: list[Manifest],
    *,
    applyset: str | None = None,
    prune: bool = False,
    dry_run: str = "none",
    inventory_dir: Path | None = None,
    wait: bool = False,
    timeout: float = 120.0,
    force_rebuild: bool = False,
    read_sources: list[str] | None = None,
) -> int:
    """Apply, print, optionally wait; the exit code (0 all applied, 1 otherwise). `dlxc shell` runs this too.

    An apply is idempotent, so one that met an unavailable server (503 while etcd elects a leader, a
    refused connection) is sent again a few times before the error is reported.
    """
    for delay in (*RETRY_DELAYS, None):
        try:
            results = await apply_set(
                client, manifests, applyset=applyset, prune=prune, dry_run=dry_run, inventory_dir=inventory_dir,
                force_rebuild=force_rebuild, all_or_nothing=True, read_sources=read_sources,
            )
            break
        except ApiError as exc:
            # Not when nothing answered: a cluster that is down should say so at once.
            if not exc.retryable or isinstance(exc, Unreachable) or delay is None:
                raise
            console.error(f"{exc.message}; applying again in {delay:g}s")
            await asyncio.sleep(delay)
    failures = print_results(results, dry_run=dry_run)
    refused = sum(1 for r in results if r.action == "refused")
    if refused:
        console.error(f"{refused} image change(s) need --force-rebuild; nothing was applied")
    elif dry_run == "none" and len(manifests) > 1 and results and all(r.failed for r in results):
        console.error(f"{len(results)} object(s) refused; nothing was applied")
    if wait and dry_run == "none":
        failures += await wait_ready(client, results, timeout=timeout)
    return 1 if failures else 0


def apply(
    filename: list[str] = typer.Option(..., "--filename", "-f", help="File, folder or - for stdin; repeatable."),
    recursive: bool = typer.Option(False, "--recursive", "-R", help="Read folders recursively."),
    prune: bool = typer.Option(False, "--prune", help="Delete objects an earlier apply of this set created that it no longer holds."),
    applyset: str = typer.Option(None, "--applyset", envvar="DLXC_APPLYSET", help="Name of the set; default: derived from the paths."),
    dry_run: str = typer.Option("none", "--dry-run", help="none, client (compare only) or server (validate on the server, write nothing)."),
    wait: bool = typer.Option(False, "--wait", help="Wait until every container holds its desired state."),
    timeout: str = typer.Option("120s", "--timeout", help="How long --wait waits, e.g. 60s or 2m."),
    inventory_dir: Path = typer.Option(None, "--inventory-dir", envvar="DLXC_INVENTORY_DIR", help="Where applyset records live."),
    force_rebuild: bool = typer.Option(False, "--force-rebuild", help="Allow image changes, which rebuild a container's rootfs and lose its data."),
) -> None:
    """Create or update the objects in the manifests; nothing is written if any manifest is invalid."""
    if dry_run not in _SUFFIX:
        fail(f"--dry-run must be none, client or server, not {dry_run!r}")
    try:
        seconds = parse_duration(timeout)
        set_id = chosen_applyset(filename, applyset, prune=prune)
    except ValueError as exc:
        fail(str(exc))
    read = source_files(filename, recursive=recursive)  # before reading stdin, which it does not consume
    manifests = load_or_fail(filename, recursive=recursive)

    async def go(client: Client) -> None:
        code = await run_apply(
            client, manifests, applyset=set_id, prune=prune, dry_run=dry_run,
            inventory_dir=inventory_dir or default_inventory_dir(), wait=wait, timeout=seconds,
            force_rebuild=force_rebuild, read_sources=read,
        )
        if code:
            raise typer.Exit(code)

    with_client(go, streaming=wait)
