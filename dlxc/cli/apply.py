"""`dlxc apply -f FILE|DIR|-`: create or update objects from manifests."""
from __future__ import annotations

import typer

from dlxc.applier import apply_one
from dlxc.cli import console
from dlxc.cli.common import fail, with_client
from dlxc.client import Client
from dlxc.manifests import load_manifests

__all__ = ["apply"]


def apply(
    filename: list[str] = typer.Option(..., "--filename", "-f", help="File, folder or - for stdin; repeatable."),
    recursive: bool = typer.Option(False, "--recursive", "-R", help="Read folders recursively."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Validate on the server; write nothing."),
) -> None:
    """Create or update the objects in the manifests; nothing is written if any manifest is invalid."""
    manifests, errors = load_manifests(filename, recursive=recursive)
    if errors:
        for err in errors:
            console.error(str(err))
        fail(f"{len(errors)} error(s); nothing was applied")
    if not manifests:
        fail("no objects found in " + ", ".join(filename))

    async def go(client: Client) -> None:
        for manifest in manifests:
            result = await apply_one(client, manifest, dry_run=dry_run)
            console.out(f"{result.ref} {result.action}{' (dry run)' if dry_run else ''}")

    with_client(go)
