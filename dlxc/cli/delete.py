"""`dlxc delete container NAME` and `dlxc delete -f FILE`."""
from __future__ import annotations

from typing import TYPE_CHECKING

import time

import typer

from dlxc.apply.applier import delete_one
from dlxc.apply.manifests import load_manifests
from dlxc.cli import console
from dlxc.cli.common import fail, seconds, with_client
from dlxc.cli.completion import complete_kinds, complete_names
from dlxc.client.waiter import WaitFor, wait_for
from schemas import kind_for_plural

if TYPE_CHECKING:
    from dlxc.client.api import Client

__all__ = ["delete"]


def delete(
    kind: str = typer.Argument(None, help="container or node", autocompletion=complete_kinds),
    names: list[str] = typer.Argument(None, help="Names of the objects.", autocompletion=complete_names),
    filename: list[str] = typer.Option(None, "--filename", "-f", help="Delete the objects in these manifests."),
    wait: bool = typer.Option(False, "--wait", help="Wait until the objects are gone."),
    timeout: str = typer.Option("120s", "--timeout", help="How long --wait waits, e.g. 30s, 2m or plain seconds."),
    recursive: bool = typer.Option(False, "--recursive", "-R", help="Read folders recursively."),
) -> None:
    """Delete objects; a container's LXC container is removed by its kubelet before the object goes."""
    limit = seconds(timeout, flag="--timeout")
    targets: list[tuple[str, str, str]] = []
    if filename:
        manifests, errors = load_manifests(filename, recursive=recursive)
        if errors:
            for err in errors:
                console.error(str(err))
            fail(f"{len(errors)} error(s); nothing was deleted")
        targets = [(kind_for_plural(m.kind).plural, m.name, m.ref) for m in manifests]
    elif kind and names:
        try:
            found = kind_for_plural(kind)
        except KeyError:
            fail(f"unknown kind {kind!r}; use container or node")
        targets = [(found.plural, name, f"{found.name.lower()}/{name}") for name in names]
    else:
        fail("give KIND NAME... or -f FILE")

    async def go(client: Client) -> None:
        missing = 0
        deleted = []
        for plural, name, ref in targets:
            result = await delete_one(client, plural, name, ref=ref)
            if result.action == "not found":
                missing += 1
                console.error(f"{ref} not found")
            else:
                deleted.append((plural, name, ref))
                console.out(f"{ref} deleted")
        if wait:
            deadline = time.monotonic() + limit
            for plural, name, ref in deleted:
                with console.progress(f"waiting for {ref} to be deleted", prefix=ref) as bar:
                    gone, state = await wait_for(
                        client, plural, name, WaitFor("delete"),
                        timeout=max(deadline - time.monotonic(), 0), on_change=bar.update,
                    )
                if not gone:
                    fail(f"timed out waiting for {ref} to be deleted; it is {state}")
        if missing:
            raise typer.Exit(1)

    with_client(go, streaming=wait)
