"""`dlxc diff -f PATH [-R]`: a unified diff of live against would-be objects; exit 0 same, 1 different, 2 error."""
from __future__ import annotations

from typing import TYPE_CHECKING

import asyncio

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


def diff(
    filename: list[str] = typer.Option(..., "--filename", "-f", help="File, folder or - for stdin; repeatable."),
    recursive: bool = typer.Option(False, "--recursive", "-R", help="Read folders recursively."),
) -> None:
    """Show what `apply` would change, as `diff -u` of live against desired (kubectl's exit codes)."""
    manifests, errors = load_manifests(filename, recursive=recursive)
    if errors:
        for err in errors:
            console.error(str(err))
        fail(f"{len(errors)} error(s) in the manifests", 2)

    async def go() -> list[str]:
        from dlxc.client.oneshot import OneShotClient

        async with OneShotClient(client_config()) as client:
            return await diff_manifests(client, manifests)

    try:
        texts = asyncio.run(go())
    except ApiError as exc:
        fail(exc.message, 2)
    for text in texts:
        console.raw(text)
    raise typer.Exit(1 if texts else 0)
