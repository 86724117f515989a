"""`dlxc drain NODE`: cordon the node, then move every container on it elsewhere (`dlxc move`, up to --max-parallel at once).

Containers with `failover: Never` asked not to leave their node: they block the drain (nothing is
changed, not even the cordon) unless --force. Each moved copy carries the annotation
dlxc.io/drained-from=NODE, so `dlxc uncordon NODE --restore` can move them back (the failback
Incus calls `cluster restore`). Progress goes to stderr, one line per step per container; the
summary to stdout; exit 1 if any container could not be moved (it stays or runs again where it
was) or the deadline passed.
"""
from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

import typer

from dlxc.cli import console
from dlxc.cli.common import fail, with_client
from dlxc.cli.completion import complete_node_names
from schemas.wire import DRAINED_FROM_ANNOTATION

if TYPE_CHECKING:
    from dlxc.client.api import Client

__all__ = ["DRAINED_FROM", "drain", "move_all", "restore_drained"]

DRAINED_FROM = DRAINED_FROM_ANNOTATION


async def move_all(client: Client, names: list[str], *, to: str | None, max_parallel: int, deadline: float,
                   annotations: dict[str, str], strip: tuple[str, ...] = ()) -> tuple[list[str], list[str]]:
    """Move `names` (each to `to`, or to the least loaded Ready node); (moved, failed) lines, waiting ones reported."""
    from dlxc.cli.move import move_container

    gate = asyncio.Semaphore(max_parallel)
    moved: list[str] = []
    failed: list[str] = []
    end = time.monotonic() + deadline

    async def one(name: str) -> None:
        if gate.locked():
            console.note(f"{name}: waiting (--max-parallel {max_parallel} moves already running)")
        async with gate:
            left = end - time.monotonic()
            if left <= 0:
                failed.append(f"{name}: not moved, the deadline passed")
                return
            try:
                # Never cancelled halfway (a move between its delete and its create must finish):
                # the deadline bounds each step's wait instead.
                result = await move_container(client, name, to=to, say=console.note, timeout=left,
                                              annotations=annotations, strip=strip)
            except typer.Exit:
                failed.append(f"{name}: not moved (see the error above)")
                return
            line = f"{name}: {result.source} -> {result.target} (downtime {result.downtime:.1f}s)"
            console.note(line)
            moved.append(line)

    await asyncio.gather(*(one(n) for n in names))
    return moved, failed


def drain(
    node: str = typer.Argument(..., help="The node to empty.", autocompletion=complete_node_names),
    deadline: str = typer.Option("10m", "--deadline", help="Give up on containers not moved by then, e.g. 10m."),
    force: bool = typer.Option(False, "--force", help="Move also containers with failover: Never."),
    max_parallel: int = typer.Option(2, "--max-parallel", min=1, help="Containers moved at once."),
) -> None:
    """Cordon NODE and move every container on it to other nodes; `uncordon NODE --restore` moves them back."""
    from dlxc.cli.cordon import set_unschedulable
    from dlxc.client.errors import NotFound
    from dlxc.client.waiter import parse_duration

    try:
        limit = parse_duration(deadline)
    except ValueError as exc:
        fail(f"--deadline: {exc}", code=2)

    async def go(client: Client) -> tuple[list[str], list[str]]:
        try:
            await client.get("nodes", node)
        except NotFound:
            fail(f"node {node} does not exist")
        containers, _ = await client.list("containers", field_selector=f"spec.nodeName={node}")
        names = sorted(c["metadata"]["name"] for c in containers if not c["metadata"].get("deletionTimestamp"))
        pinned = sorted(c["metadata"]["name"] for c in containers if c["spec"].get("failover") == "Never")
        if pinned and not force:
            fail(f"containers with failover: Never are on {node}: {', '.join(pinned)}; they block the drain "
                 "(nothing was changed): move them yourself, or drain with --force")
        await set_unschedulable(client, node, True)
        console.note(f"node/{node} cordoned; moving {len(names)} containers")
        return await move_all(client, names, to=None, max_parallel=max_parallel, deadline=limit,
                              annotations={DRAINED_FROM: node})

    moved, failed = with_client(go)
    for line in moved:
        console.out(line)
    for line in failed:
        console.error(line)
    console.out(f"node/{node} drained: {len(moved)} moved, {len(failed)} not")
    if failed:
        raise typer.Exit(1)


def restore_drained(nodes: list[str], *, max_parallel: int) -> None:
    """Move every container a drain took off `nodes` back to its node (`dlxc uncordon NODE --restore`)."""

    async def go(client: Client) -> tuple[list[str], list[str]]:
        containers, _ = await client.list("containers")
        moved: list[str] = []
        failed: list[str] = []
        for node in nodes:
            names = sorted(c["metadata"]["name"] for c in containers
                           if (c["metadata"].get("annotations") or {}).get(DRAINED_FROM) == node)
            console.note(f"node/{node}: moving back {len(names)} containers")
            done, bad = await move_all(client, names, to=node, max_parallel=max_parallel, deadline=3600.0,
                                       annotations={}, strip=(DRAINED_FROM,))
            moved += done
            failed += bad
        return moved, failed

    moved, failed = with_client(go)
    for line in moved:
        console.out(line)
    for line in failed:
        console.error(line)
    if failed:
        raise typer.Exit(1)
