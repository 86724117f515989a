"""`dlxc scale set/NAME --replicas N`: set a ContainerSet's spec.replicas; its controller does the rest."""
from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from dlxc.cli import console
from dlxc.cli.common import fail, with_client
from dlxc.cli.objref import parse_ref
from dlxc.client.guarded import patch_guarded

if TYPE_CHECKING:
    from dlxc.client.api import Client
    from schemas.base import Obj

__all__ = ["scale", "scale_set"]


async def scale_set(client: Client, name: str, replicas: int) -> str:
    """Write spec.replicas (conditioned on the version read, read again on a conflict); the line to print."""
    def decide(cset: Obj) -> Obj | None:
        return None if cset["spec"].get("replicas", 1) == replicas else {"spec": {"replicas": replicas}}

    cset, written = await patch_guarded(client, "containersets", name, decide)
    before = cset["spec"].get("replicas", 1)
    autoscale = cset["spec"].get("autoscale")
    if autoscale:
        console.warn(f"set/{name} autoscales ({autoscale.get('min', 1)}..{autoscale['max']}): its next decision may change replicas again")
    if written is None:
        return f"set/{name} already has {replicas} replicas"
    return f"set/{name} scaled from {before} to {replicas}"


def scale(
    ref: list[str] = typer.Argument(..., help="set/NAME (or: set NAME)."),
    replicas: int = typer.Option(..., "--replicas", help="How many members: 0 or more."),
) -> None:
    """Set the number of members of a ContainerSet."""
    obj, rest = parse_ref(ref)
    if rest:
        fail(f"unexpected arguments: {' '.join(rest)}", code=2)
    if obj.kind.name != "ContainerSet":
        fail(f"{obj} cannot be scaled; only sets can (set/NAME)", code=2)
    if replicas < 0:
        fail(f"--replicas must be 0 or more, got {replicas}", code=2)
    console.out(with_client(lambda client: scale_set(client, obj.name, replicas)))
