"""`dlxc delete container NAME`, `dlxc delete container/NAME`, `dlxc delete containers -l SELECTOR|--all` and `dlxc delete -f FILE`."""
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
    selector: str = typer.Option(None, "--selector", "-l", help="Delete every object of KIND with these labels, e.g. app=web."),
    all_: bool = typer.Option(False, "--all", help="Delete every object of KIND."),
    ignore_not_found: bool = typer.Option(False, "--ignore-not-found", help="A name that does not exist is not an error."),
) -> None:
    """Delete objects; a container's LXC container is removed by its kubelet before the object goes."""
    limit = seconds(timeout, flag="--timeout")
    targets: list[tuple[str, str, str]] = []
    if kind and "/" in kind:
        # kubectl's KIND/NAME form, also as further arguments: delete container/a container/b
        pairs = [word.partition("/") for word in [kind, *(names or [])]]
        if any(not sep or not name for _, sep, name in pairs):
            fail("give KIND/NAME for every object, or KIND NAME...")
        kinds = {k for k, _, _ in pairs}
        if len(kinds) > 1:
            fail("give objects of one kind at a time")
        kind, names = pairs[0][0], [name for _, _, name in pairs]
    listing = bool(selector) or all_
    if listing and (filename or names):
        fail("-l and --all take a KIND and no names, e.g. dlxc delete containers -l app=web")
    if selector and all_:
        fail("give -l SELECTOR or --all, not both")
    if filename:
        manifests, errors = load_manifests(filename, recursive=recursive)
        if errors:
            for err in errors:
                console.error(str(err))
            fail(f"{len(errors)} error(s); nothing was deleted")
        targets = [(kind_for_plural(m.kind).plural, m.name, m.ref) for m in manifests]
    elif kind and (names or listing):
        try:
            found = kind_for_plural(kind)
        except KeyError:
            fail(f"unknown kind {kind!r}; use container or node")
        targets = [(found.plural, name, f"{found.name.lower()}/{name}") for name in names or []]
    else:
        fail("give KIND NAME..., KIND/NAME..., KIND -l SELECTOR, KIND --all or -f FILE")

    async def go(client: Client) -> None:
        if listing:
            items, _ = await client.list(found.plural, label_selector=selector)
            targets.extend((found.plural, o["metadata"]["name"], f"{found.name.lower()}/{o['metadata']['name']}") for o in items)
            if not targets:
                console.error(f"no {found.plural} found" + (f" with labels {selector}" if selector else ""))
                return
        missing = 0
        deleted = []
        for plural, name, ref in targets:
            result = await delete_one(client, plural, name, ref=ref)
            if result.action == "not found":
                if not ignore_not_found:
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
