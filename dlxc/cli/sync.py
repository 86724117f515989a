"""`dlxc sync DIR [--watch] [--prune] [--interval S]` and `dlxc sync status DIR`: GitOps from a folder of manifests."""
from __future__ import annotations

from typing import TYPE_CHECKING

import asyncio
import contextlib
import signal
from pathlib import Path

import typer

from dlxc.apply.inventory import validate_applyset
from dlxc.apply.sync import ObjectReport, SyncReport, SyncSettings, run_sync, sync_once
from dlxc.cli import console
from dlxc.cli.common import fail, seconds, with_client
from dlxc.client.errors import ApiError

if TYPE_CHECKING:
    from dlxc.client.api import Client

__all__ = ["Printer", "report_lines", "sync"]

HEADERS = ["OBJECT", "SOURCE", "SYNC", "ACTION", "HEALTH", "DETAIL"]


def _row(o: ObjectReport, *, actions: bool) -> list[str]:
    row = [o.ref, o.source, o.sync, o.action, o.health, o.detail]
    return row if actions else row[:3] + row[4:]


def report_lines(report: SyncReport, *, actions: bool = True, only_changes: bool = False) -> list[str]:
    """The report as table lines; with only_changes, just the objects that are not quietly in sync."""
    objects = [o for o in report.objects if not (only_changes and o.in_sync and o.action == "-")]
    if not objects:
        return []
    headers = HEADERS if actions else [h for h in HEADERS if h != "ACTION"]
    return console.format_table(headers, [_row(o, actions=actions) for o in objects])


class Printer:
    """Prints each round: the full table first, then only what changed; file errors when they change."""

    def __init__(self, *, watching: bool = False) -> None:
        self.watching = watching
        self.rounds = 0
        self._errors: list[str] = []
        self._skipped = ""

    def __call__(self, report: SyncReport) -> None:
        self.rounds += 1
        first = self.rounds == 1
        if report.failure:
            console.error(f"sync round failed{', retrying' if self.watching else ''}: {report.failure}")
            return
        errors = [str(e) for e in report.errors]
        errors_changed = first or errors != self._errors
        if errors_changed:
            for err in errors:
                console.error(err)
            self._errors = errors
        skipped_changed = report.prune_skipped != self._skipped
        if report.prune_skipped and (first or skipped_changed):
            console.warn(report.prune_skipped)
        self._skipped = report.prune_skipped
        for o in report.objects:
            for warning in o.warnings:
                console.warn(warning)
        for line in report_lines(report, only_changes=not first):
            console.out(line)
        changed = sum(1 for o in report.objects if o.action not in ("-", "failed"))
        failed = sum(1 for o in report.objects if o.action == "failed")
        if not first and not changed and not failed and not errors_changed and not skipped_changed:
            return  # a quiet round: nothing to say
        console.out(
            f"sync: {len(report.objects)} object(s), {changed} changed, {failed} failed, {len(errors)} file error(s)"
        )


def _settings(
    path: str, *, prune: bool, interval: float, applyset: str | None, inventory_dir: Path | None, force_rebuild: bool = False,
    allow_empty_prune: bool = False,
) -> SyncSettings:
    if not Path(path).exists():
        fail(f"{path}: no such file or directory", 2)
    try:
        set_id = validate_applyset(applyset) if applyset else None
    except ValueError as exc:
        fail(str(exc), 2)
    return SyncSettings(
        paths=[path], prune=prune, interval=interval, applyset=set_id, inventory_dir=inventory_dir, force_rebuild=force_rebuild,
        allow_empty_prune=allow_empty_prune,
    )


def sync(
    args: list[str] = typer.Argument(..., help="DIR, or `status DIR`.", metavar="[status] DIR"),
    watch: bool = typer.Option(False, "--watch", help="Keep syncing: on every file change and every --interval."),
    prune: bool = typer.Option(False, "--prune", help="Delete objects this folder created and no longer holds."),
    interval: str = typer.Option("60s", "--interval", help="Time between re-applies that correct drift, e.g. 30s, 5m or plain seconds."),
    applyset: str = typer.Option(None, "--applyset", envvar="DLXC_APPLYSET", help="Name of the set; default: derived from DIR."),
    inventory_dir: Path = typer.Option(None, "--inventory-dir", envvar="DLXC_INVENTORY_DIR", help="Where applyset records live."),
    force_rebuild: bool = typer.Option(False, "--force-rebuild", help="Apply image changes, which rebuild a container's rootfs and lose its data."),
    allow_empty_prune: bool = typer.Option(
        False, "--allow-empty-prune", help="Let --prune delete every object of the set when the folder holds none."
    ),
) -> None:
    """Make the cluster match a folder (recursively); `sync status DIR` only reports.

    Per object: InSync, Drifted (which fields), Missing, Extra (removed from the folder) or
    Pruned, and health from status. A broken file is reported and stops nothing but --prune,
    which is skipped while a file is broken, the folder is missing or an apply failed, and when
    the folder holds no objects (unless --allow-empty-prune). Exit 0 in sync, 1 out of sync
    (also: a prune skipped for an empty folder), 2 errors.
    """
    every = seconds(interval, flag="--interval")
    if every < 0.1:
        raise typer.BadParameter(f"{interval} is shorter than the shortest interval, 0.1s", param_hint="'--interval'")
    if len(args) == 2 and args[0] == "status":
        settings = _settings(
            args[1], prune=prune, interval=every, applyset=applyset, inventory_dir=inventory_dir,
            allow_empty_prune=allow_empty_prune,
        )

        async def status(client: Client) -> None:
            try:
                report = await sync_once(client, settings, apply=False)
            except ApiError as exc:
                fail(exc.message, 2)
            for err in report.errors:
                console.error(str(err))
            if report.prune_skipped:
                console.warn(report.prune_skipped)
            for o in report.objects:
                for warning in o.warnings:
                    console.warn(warning)
            for line in report_lines(report, actions=False):
                console.out(line)
            if report.errors or any(o.sync == "Failed" for o in report.objects):
                raise typer.Exit(2)
            raise typer.Exit(0 if report.clean else 1)

        with_client(status)
        return
    if len(args) != 1:
        fail("give one folder: dlxc sync DIR, or dlxc sync status DIR", 2)
    settings = _settings(
        args[0], prune=prune, interval=every, applyset=applyset, inventory_dir=inventory_dir, force_rebuild=force_rebuild,
        allow_empty_prune=allow_empty_prune,
    )
    printer = Printer(watching=watch)

    async def go(client: Client) -> None:
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        if watch and task is not None:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, task.cancel)
        try:
            report = await run_sync(client, settings, printer, watch=watch)
        except asyncio.CancelledError:
            return  # stopped by a signal: a clean exit
        finally:
            if watch:
                for sig in (signal.SIGTERM, signal.SIGINT):
                    with contextlib.suppress(Exception):
                        loop.remove_signal_handler(sig)
        if report.failure or report.errors or any(o.action == "failed" for o in report.objects):
            raise typer.Exit(2)
        if report.prune_skipped:
            raise typer.Exit(1)  # an emptied folder: the set's objects are still there

    with_client(go, streaming=True)
