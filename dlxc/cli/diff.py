"""`dlxc diff -f PATH [-R] [--prune]`: a unified diff of live against would-be objects; exit 0 same, 1 different, 2 error."""
from __future__ import annotations

from typing import TYPE_CHECKING

import asyncio
from pathlib import Path

import typer

from dlxc.apply.applier import desired_wire, image_change, plan_apply, rebuild_warning
from dlxc.apply.diff import pins_address, unified_diff
from dlxc.apply.manifests import Manifest, load_manifests
from dlxc.cli import console
from dlxc.cli.common import client_config, fail
from dlxc.client.errors import ApiError, NotFound
from schemas import kind_for_plural
from schemas.wire import APPLYSET_LABEL

if TYPE_CHECKING:
    from dlxc.client.api import Client

__all__ = ["diff", "diff_manifests"]


async def diff_manifests(client: Client, manifests: list[Manifest]) -> list[str]:
    """The diff text of every object that differs, in manifest order."""
    texts = []
    for manifest in manifests:
        try:
            live = await client.get(kind_for_plural(manifest.kind).plural, manifest.name)
        except NotFound:
            live = None
        if live is None:
            text = unified_diff(desired_wire(manifest), None, ref=manifest.ref)
        else:
            # What a plain `dlxc apply` of this manifest would write: the same three-way merge.
            owner = (live["metadata"].get("labels") or {}).get(APPLYSET_LABEL)
            desired = plan_apply(manifest, live, applyset=owner).obj
            rebuild = image_change(desired, live)
            if rebuild:
                console.warn(rebuild_warning(manifest.ref, rebuild) + "; apply needs --force-rebuild")
            text = unified_diff(desired, live, ref=manifest.ref, merged=True, pinned=pins_address(desired_wire(manifest)))
        if text:
            texts.append(text)
    return texts


async def diff_prunes(client: Client, manifests: list[Manifest], *, applyset: str, inventory_dir: Path, read_sources: list[str]) -> list[str]:
    """The diff text of every object `apply --prune` would delete (all removed lines), decided by the
    applier's own prune rules in a dry run; when those rules skip the prune, why, on stderr."""
    from dlxc.apply.applier import PRUNE_SKIPPED, apply_set

    results = await apply_set(client, manifests, applyset=applyset, prune=True, dry_run="client",
                              inventory_dir=inventory_dir, read_sources=read_sources)
    texts = []
    for result in results:
        if result.action == PRUNE_SKIPPED:
            console.note(result.message)
        elif result.action == "pruned" and result.obj is not None:
            texts.append(unified_diff(None, result.obj, ref=result.ref))
    return texts


def diff(
    filename: list[str] = typer.Option(..., "--filename", "-f", help="File, folder or - for stdin; repeatable."),
    recursive: bool = typer.Option(False, "--recursive", "-R", help="Read folders recursively."),
    prune: bool = typer.Option(False, "--prune", help="Also show what `apply --prune` would delete, as all removed lines."),
    applyset: str = typer.Option(None, "--applyset", envvar="DLXC_APPLYSET", help="Name of the set; default: derived from the paths."),
    inventory_dir: Path = typer.Option(None, "--inventory-dir", envvar="DLXC_INVENTORY_DIR", help="Where applyset records live."),
) -> None:
    """Show what `apply` would change, as `diff -u` of live against desired (kubectl's exit codes)."""
    from dlxc.apply.inventory import chosen_applyset, default_inventory_dir
    from dlxc.apply.manifests import source_files

    try:
        set_id = chosen_applyset(filename, applyset, prune=prune)
    except ValueError as exc:
        fail(str(exc), 2)
    read = source_files(filename, recursive=recursive)  # before reading stdin, which it does not consume
    manifests, errors = load_manifests(filename, recursive=recursive)
    if errors:
        for err in errors:
            console.error(str(err))
        fail(f"{len(errors)} error(s) in the manifests", 2)

    async def go() -> list[str]:
        from dlxc.client.oneshot import OneShotClient

        async with OneShotClient(client_config()) as client:
            texts = await diff_manifests(client, manifests)
            if prune:
                assert set_id is not None  # chosen_applyset gives one with prune
                texts += await diff_prunes(client, manifests, applyset=set_id,
                                           inventory_dir=inventory_dir or default_inventory_dir(), read_sources=read)
            return texts

    try:
        texts = asyncio.run(go())
    except ApiError as exc:
        fail(exc.message, 2)
    for text in texts:
        console.raw(text)
    raise typer.Exit(1 if texts else 0)
