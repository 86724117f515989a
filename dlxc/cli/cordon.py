"""`dlxc cordon NODE` and `dlxc uncordon NODE`: stop or resume placing new containers on a node."""
from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from dlxc.cli import console
from dlxc.cli.common import with_client
from dlxc.cli.completion import complete_node_names
from dlxc.client.guarded import patch_guarded

if TYPE_CHECKING:
    from dlxc.client.api import Client

__all__ = ["cordon", "set_unschedulable", "uncordon"]


async def set_unschedulable(client: Client, name: str, value: bool) -> bool:
    """Set spec.unschedulable; False when it already had that value (nothing written)."""
    _, written = await patch_guarded(
        client, "nodes", name,
        lambda node: None if bool(node.get("spec", {}).get("unschedulable")) == value else {"spec": {"unschedulable": value}})
    return written is not None


def _run(names: list[str], value: bool, verb: str) -> None:
    async def go(client: Client) -> None:
        for name in names:
            changed = await set_unschedulable(client, name, value)
            console.out(f"node/{name} {verb}" if changed else f"node/{name} already {verb}")

    with_client(go)


def cordon(names: list[str] = typer.Argument(..., help="Node names.", autocompletion=complete_node_names)) -> None:
    """Mark nodes unschedulable: running containers stay, new ones go elsewhere."""
    _run(names, True, "cordoned")


def uncordon(
    names: list[str] = typer.Argument(..., help="Node names.", autocompletion=complete_node_names),
    restore: bool = typer.Option(False, "--restore", help="Also move back the containers `dlxc drain` moved off these nodes."),
    max_parallel: int = typer.Option(2, "--max-parallel", min=1, help="With --restore: containers moved at once."),
) -> None:
    """Mark nodes schedulable again; with --restore, move back what a drain took away."""
    _run(names, False, "uncordoned")
    if restore:
        from dlxc.cli.drain import restore_drained

        restore_drained(names, max_parallel=max_parallel)
