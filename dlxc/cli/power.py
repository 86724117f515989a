"""`dlxc start|stop|restart NAME...`: thin merge PATCHes of a container's desired state; the kubelet acts on them."""
from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from dlxc.cli import console
from dlxc.cli.common import with_client
from dlxc.cli.completion import complete_container_names
from dlxc.client.errors import ApiError
from dlxc.client.lifecycle import request_restart, set_state, start as start_container

if TYPE_CHECKING:
    from dlxc.client.api import Client

__all__ = ["power", "restart", "start", "stop"]

_DONE = {"start": "started", "stop": "stopped", "restart": "restart requested"}


async def power(client: Client, verb: str, names: list[str]) -> int:
    """Start, stop or restart each container; one line each; returns the number that failed. The shell runs this too."""
    failures = 0
    for name in names:
        done = _DONE[verb]
        try:
            if verb == "restart":
                await request_restart(client, name)
            elif verb == "start":
                obj, requested = await start_container(client, name)
                if requested:
                    # spec.state already said Running; the kubelet starts it once for the request.
                    phase = (obj.get("status") or {}).get("phase")
                    done = f"start requested (it was {phase})"
            else:
                await set_state(client, name, "Stopped")
        except ApiError as exc:
            failures += 1
            console.error(f"container/{name}: {exc.message}")
            continue
        console.out(f"container/{name} {done}")
    return failures


def _run(verb: str, names: list[str]) -> None:
    async def go(client: Client) -> None:
        if await power(client, verb, names):
            raise typer.Exit(1)

    with_client(go)


def start(names: list[str] = typer.Argument(..., help="Containers.", autocompletion=complete_container_names)) -> None:
    """Set spec.state to Running; a container that halted while Running is started once (restart annotation)."""
    _run("start", names)


def stop(names: list[str] = typer.Argument(..., help="Containers.", autocompletion=complete_container_names)) -> None:
    """Set spec.state to Stopped."""
    _run("stop", names)


def restart(names: list[str] = typer.Argument(..., help="Containers.", autocompletion=complete_container_names)) -> None:
    """Record a restart request (annotation dlxc.io/restartedAt) that the kubelet honours."""
    _run("restart", names)
