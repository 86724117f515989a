"""`dlxc drain NODE`: cordon the node, then move every container on it elsewhere (`dlxc move`, up to --max-parallel at once).

The workflow is dlxc.apply.moves (prepare_drain, move_all), shared with the dashboard's Drain button.

Containers with `failover: Never` asked not to leave their node: they block the drain (nothing is
changed, not even the cordon) unless --force. Each moved copy carries the annotation
dlxc.io/drained-from=NODE, so `dlxc uncordon NODE --restore` can move them back (the failback
Incus calls `cluster restore`). Progress goes to stderr, one line per step per container; the
summary to stdout; exit 1 if any container could not be moved (it stays or runs again where it
was) or the deadline passed.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from dlxc.cli import console
from dlxc.cli.common import fail
from dlxc.cli.completion import complete_node_names
from dlxc.cli.move import run_moves

if TYPE_CHECKING:
    from dlxc.client.api import Client

__all__ = ["drain", "restore_drained"]


def drain(
    node: str = typer.Argument(..., help="The node to empty.", autocompletion=complete_node_names),
    deadline: str = typer.Option("10m", "--deadline", "--timeout", help="Give up on containers not moved by then, e.g. 10m "
                                 "(a move past its delete still finishes, or goes back where it was)."),
    force: bool = typer.Option(False, "--force", help="Move also containers with failover: Never."),
    max_parallel: int = typer.Option(2, "--max-parallel", min=1, help="Containers moved at once."),
) -> None:
    """Cordon NODE and move every container on it to other nodes; `uncordon NODE --restore` moves them back."""
    from dlxc.apply.moves import DRAINED_FROM, MoveError, move_all, prepare_drain
    from dlxc.client.waiter import parse_duration

    try:
        limit = parse_duration(deadline)
    except ValueError as exc:
        fail(f"--deadline: {exc}", code=2)

    async def go(client: Client) -> tuple[list[str], list[str]]:
        try:
            names = await prepare_drain(client, node, force=force)
        except MoveError as exc:
            return fail(str(exc))
        console.note(f"node/{node} cordoned; moving {len(names)} containers")
        return await move_all(client, names, to=None, max_parallel=max_parallel, deadline=limit,
                              annotations={DRAINED_FROM: node}, say=console.note, warn=console.error)

    moved, failed = run_moves(go)
    for line in moved:
        console.out(line)
    for line in failed:
        console.error(line)
    console.out(f"node/{node} drained: {len(moved)} moved, {len(failed)} not")
    if failed:
        console.error(f"node/{node} stays cordoned: `dlxc drain {node}` again moves what is left, `dlxc uncordon {node}` takes it back as it is")
        raise typer.Exit(1)


def restore_drained(nodes: list[str], *, max_parallel: int) -> None:
    """Move every container a drain took off `nodes` back to its node (`dlxc uncordon NODE --restore`)."""
    from dlxc.apply.moves import DRAINED_FROM, move_all

    async def go(client: Client) -> tuple[list[str], list[str]]:
        containers, _ = await client.list("containers")
        moved: list[str] = []
        failed: list[str] = []
        for node in nodes:
            names = sorted(c["metadata"]["name"] for c in containers
                           if (c["metadata"].get("annotations") or {}).get(DRAINED_FROM) == node)
            console.note(f"node/{node}: moving back {len(names)} containers")
            done, bad = await move_all(client, names, to=node, max_parallel=max_parallel, deadline=3600.0,
                                       annotations={}, strip=(DRAINED_FROM,), say=console.note, warn=console.error)
            moved += done
            failed += bad
        return moved, failed

    moved, failed = run_moves(go)
    for line in moved:
        console.out(line)
    for line in failed:
        console.error(line)
    if failed:
        raise typer.Exit(1)
