"""`dlxc wait container NAME --for phase=Running --timeout 60s`: block until an object reaches a state; exit 1 on timeout."""
from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from dlxc.cli import console
from dlxc.cli.common import fail, with_client
from dlxc.cli.completion import complete_kinds, complete_names, complete_wait_for
from dlxc.client.waiter import parse_duration, parse_for, wait_for

if TYPE_CHECKING:
    from dlxc.client.api import Client

__all__ = ["wait"]


def wait(
    kind: str = typer.Argument(..., help="container or node", autocompletion=complete_kinds),
    name: str = typer.Argument(..., help="Name of the object.", autocompletion=complete_names),
    for_: str = typer.Option(..., "--for", help="phase=PHASE, condition=TYPE[=STATUS] or delete.", autocompletion=complete_wait_for),
    timeout: str = typer.Option("60s", "--timeout", help="e.g. 60s, 2m or plain seconds."),
) -> None:
    """Wait until the object is in the given phase, has the condition, or is deleted."""
    from schemas import kind_for_plural

    try:
        found = kind_for_plural(kind)
        target = parse_for(for_)
        seconds = parse_duration(timeout)
    except KeyError:
        fail(f"unknown kind {kind!r}; use container or node")
    except ValueError as exc:
        fail(str(exc))
    ref = f"{found.name.lower()}/{name}"

    async def go(client: Client) -> None:
        with console.progress(f"waiting for {ref}: {target}", prefix=ref) as bar:
            outcome = await wait_for(client, found.plural, name, target, timeout=seconds, on_change=bar.update)
        ok, state = outcome
        if ok:
            console.out(f"{ref} condition met: {target}")
            return
        if outcome.failure:
            fail(f"{ref} will not reach {target}: {outcome.failure}")
        if state == "gone":
            fail(f"{ref} not found")
        fail(f"timed out after {seconds:g}s waiting for {ref}: {target}; it is {state}")

    with_client(go, streaming=True)
