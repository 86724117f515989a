"""`dlxc move NAME --to NODE`: cold migration through a backup (the workflow is dlxc.apply.moves, shared with the dashboard).

Steps: stop the container (spec.state), back it up on its node, delete it there keeping its
directory aside on that node, create it again bound to the target node from that archive (the
target's kubelet streams it from the old node through the apiserver: no shared --backup-dir
needed), wait until it runs there, delete the move's backup (which removes the archive and the
kept directory). Downtime is stop request to Running on the target. A failure after the stop
says why and brings the container back on its old node from its kept directory (exit 1); one
before the delete just starts it again where it was. See dlxc.apply.moves.
"""
from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

import typer

from dlxc.cli import console
from dlxc.cli.common import fail, with_client

if TYPE_CHECKING:
    from dlxc.apply.moves import Moved
    from dlxc.client.api import Client

T = TypeVar("T")

__all__ = ["finish_moves_on_interrupt", "move", "move_container", "run_moves"]


def finish_moves_on_interrupt() -> None:
    """Take Ctrl-C in the running loop: the first press cancels the command once (a move past its
    delete still finishes, or goes back where it was; the others stop and start their container
    again where it was), later presses only say so. asyncio.run's own second press would tear the
    loop down and cut such a move off, its container left deleted in its move's backup."""
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    presses = 0

    def on_interrupt() -> None:
        nonlocal presses
        presses += 1
        if presses == 1:
            console.note("interrupted: a move past its delete finishes first (or goes back where it was); the others stop")
            if main is not None:
                main.cancel()
        else:
            console.note("still finishing the moves past their delete; Ctrl-\\ quits at once, leaving such a container in its move's backup")

    loop.add_signal_handler(signal.SIGINT, on_interrupt)


def run_moves(action: Callable[[Client], Awaitable[T]]) -> T:
    """with_client for a command that moves containers: Ctrl-C as `finish_moves_on_interrupt` takes it, exit 130."""

    async def guarded(client: Client) -> T:
        finish_moves_on_interrupt()
        return await action(client)

    try:
        return with_client(guarded)
    except asyncio.CancelledError:
        raise typer.Exit(130) from None


async def move_container(
    client: Client, name: str, *, to: str | None, say: Callable[[str], None], timeout: float = 600.0,
    annotations: dict[str, str] | None = None, strip: tuple[str, ...] = (),
) -> Moved:
    """Move one container (dlxc.apply.moves.move_container); a failure ends the command with its message."""
    from dlxc.apply import moves

    try:
        return await moves.move_container(client, name, to=to, say=say, warn=console.error, timeout=timeout,
                                          annotations=annotations, strip=strip)
    except moves.MoveError as exc:
        if exc.reported:  # printed already, before the rollback's own lines
            raise typer.Exit(1) from None
        return fail(str(exc))


def move(
    name: str = typer.Argument(..., help="The container to move."),
    to: str = typer.Option(..., "--to", help="The node to move it to (Ready, not cordoned)."),
    timeout: str = typer.Option("10m", "--timeout", help="How long each step may take."),
) -> None:
    """Move a container to another node: stop, archive, restore there, start; the downtime is printed."""
    from dlxc.client.waiter import parse_duration

    try:
        limit = parse_duration(timeout)
    except ValueError as exc:
        fail(f"--timeout: {exc}", code=2)

    async def go(client: Client) -> Moved:
        return await move_container(client, name, to=to, say=console.note, timeout=limit)

    moved = run_moves(go)
    console.out(f"container/{name} moved from {moved.source} to {moved.target} (downtime {moved.downtime:.1f}s)")
