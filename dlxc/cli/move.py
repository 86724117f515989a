"""`dlxc move NAME --to NODE`: cold migration through a backup.

Steps: stop the container (spec.state), back it up on its node (a consistent, stopped copy),
delete it there, create it again bound to the target node from that archive, wait until it runs,
delete the move's backup. Downtime is stop request to Running on the target. The target's
kubelet must read the archive: nodes share one --backup-dir (every `dlxc up --nodes N` cluster
does), or the restore fails and the move is rolled back.

What "the old copy stays until the new one runs" means here: the old LXC container is removed
when its object is deleted (step 3), but its data stays in the move's archive until the new copy
runs; if anything fails after the stop, the container is created again on its old node from that
archive and started, and the command says so (exit 1). A failure before the delete just starts it
again where it was.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import typer

from dlxc.cli import console
from dlxc.cli.common import fail, with_client

if TYPE_CHECKING:
    from dlxc.client.api import Client
    from schemas.base import Obj

__all__ = ["MOVE_LABEL", "Moved", "move", "move_container"]

MOVE_LABEL = "dlxc.io/move"


@dataclass(frozen=True)
class Moved:
    name: str
    source: str
    target: str
    downtime: float
    backup: str


async def _gone(client: Client, name: str, *, timeout: float) -> None:
    from dlxc.cli.backup import _get

    deadline = time.monotonic() + timeout
    while await _get(client, "containers", name) is not None:
        if time.monotonic() > deadline:
            fail(f"container {name} was not removed within {timeout:g}s")
        await asyncio.sleep(0.2)


async def _stopped(client: Client, name: str, *, timeout: float) -> None:
    from dlxc.cli.backup import _get

    deadline = time.monotonic() + timeout
    while True:
        obj = await _get(client, "containers", name)
        if obj is None:
            fail(f"container {name} was deleted during the move")
        if (obj.get("status") or {}).get("phase") == "Stopped":
            return
        if time.monotonic() > deadline:
            fail(f"container {name} did not stop within {timeout:g}s")
        await asyncio.sleep(0.2)


def _body(live: Obj, *, node: str, backup: str, annotations: dict[str, str], state: str) -> Obj:
    from kubelet.backups import spec_document
    from schemas.wire import RESTORE_ANNOTATION

    doc = spec_document(live)
    doc["metadata"]["annotations"] = {**doc["metadata"]["annotations"], **annotations, RESTORE_ANNOTATION: backup}
    doc["spec"]["nodeName"] = node
    doc["spec"]["state"] = state  # the live spec says Stopped: the move stopped it
    return doc


async def move_container(
    client: Client, name: str, *, to: str | None, say: Callable[[str], None], timeout: float = 600.0,
    annotations: dict[str, str] | None = None, strip: tuple[str, ...] = (),
) -> Moved:
    """Move one container; see the module's docstring. `annotations` are added to (and `strip` removed from) the new copy."""
    from dlxc.cli.backup import _get, create_backup, wait_backup, wait_running
    from dlxc.cli.importer import pick_node

    live = await _get(client, "containers", name)
    if live is None:
        fail(f"container {name} does not exist")
    source = live["spec"].get("nodeName")
    if not source:
        fail(f"container {name} is not on a node yet; nothing to move")
    if live["metadata"].get("deletionTimestamp"):
        fail(f"container {name} is being deleted")
    if to == source:
        fail(f"container {name} is already on node {source}")
    target = await pick_node(client, to, exclude=source)
    state = live["spec"].get("state", "Running")
    started = time.monotonic()
    if state == "Running":
        say(f"{name}: stopping on {source}")
        await client.patch("containers", name, {"spec": {"state": "Stopped"}})
    try:
        await _stopped(client, name, timeout=timeout)
        say(f"{name}: archiving on {source}")
        made = await create_backup(client, name, labels={MOVE_LABEL: "true"})
        backup = (await wait_backup(client, made["metadata"]["name"], timeout=timeout))["metadata"]["name"]
    except BaseException:
        if state == "Running":
            await client.patch("containers", name, {"spec": {"state": "Running"}})
            console.error(f"move of {name} failed before it left {source}; it is started there again")
        raise
    live = await _get(client, "containers", name) or live
    extra = {k: v for k, v in (annotations or {}).items()}
    live["metadata"]["annotations"] = {k: v for k, v in (live["metadata"].get("annotations") or {}).items() if k not in strip}
    await client.delete("containers", name)
    await _gone(client, name, timeout=timeout)
    say(f"{name}: restoring on {target}")
    try:
        await client.create("containers", _body(live, node=target, backup=backup, annotations=extra, state=state))
        if state == "Running":
            await wait_running(client, name, timeout=timeout)
    except BaseException:
        console.error(f"move of {name} to {target} failed; creating it again on {source} from backup {backup}")
        if await _get(client, "containers", name) is not None:
            await client.delete("containers", name)
            await _gone(client, name, timeout=timeout)
        await client.create("containers", _body(live, node=source, backup=backup, annotations={}, state=state))
        if state == "Running":
            await wait_running(client, name, timeout=timeout)
        console.error(f"container {name} runs on {source} again (backup {backup} kept)")
        raise
    downtime = time.monotonic() - started
    await client.delete("backups", backup)
    return Moved(name, source, target, downtime, backup)


def move(
    name: str = typer.Argument(..., help="The container to move."),
    to: str = typer.Option(..., "--to", help="The node to move it to (Ready, not cordoned)."),
    timeout: str = typer.Option("10m", "--timeout", help="How long each step may take."),
) -> None:
    """Move a container to another node: stop, archive, restore there, start; the downtime is printed."""
    from dlxc.client.waiter import parse_duration

    limit = parse_duration(timeout)

    async def go(client: Client) -> Moved:
        return await move_container(client, name, to=to, say=console.note, timeout=limit)

    moved = with_client(go)
    console.out(f"container/{name} moved from {moved.source} to {moved.target} (downtime {moved.downtime:.1f}s)")
