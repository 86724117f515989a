"""`dlxc console NAME`: the container's console (tty0) through the API; Ctrl-a q detaches."""
from __future__ import annotations

import typer

from dlxc.cli.completion import complete_container_names

__all__ = ["console"]


def console(
    name: str = typer.Argument(..., help="Container.", autocompletion=complete_container_names),
    tail: int = typer.Option(None, "--tail", help="Print the console's last N lines of output first."),
) -> None:
    """Attach to container NAME's console; detach with Ctrl-a q."""
    from dlxc.cli.common import fail, with_client
    from dlxc.cli.logs import tail_param
    from dlxc.cli.session import run_session
    from dlxc.client.api import Client
    from dlxc.client.streams import read_log

    params = {"tail": tail_param(tail)} if tail else {}

    async def go(client: Client):  # type: ignore[no-untyped-def]
        before = b""
        if params:
            before = b"".join([chunk async for chunk in read_log(client, name, params)])
        return await run_session(client, name, "attach", [], stdin=True, tty_mode=True, before=before)

    outcome = with_client(go, streaming=True)
    if outcome.message:
        fail(outcome.message, outcome.exit_code)
    raise typer.Exit(0)
