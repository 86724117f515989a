"""`dlxc snapshot create|list|restore|delete`: snapshots of a container's data, kept by the kubelet of its node.

The CLI only states the wish (annotations dlxc.io/snapshots and dlxc.io/snapshot-restore) and
waits for status.snapshots / status.observedSnapshotRestore to show it done.
"""
from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING

import typer

from dlxc.cli import console
from dlxc.cli.common import fail, with_client

if TYPE_CHECKING:
    from dlxc.client.api import Client
    from schemas.base import Obj

__all__ = ["snapshot_app"]

snapshot_app = typer.Typer(help="Take, list, restore and delete snapshots of a container's data.", no_args_is_help=True)
_TIMEOUT = 300.0


async def _container(client: Client, name: str) -> Obj:
    from dlxc.client.errors import NotFound

    try:
        return await client.get("containers", name)
    except NotFound:
        return fail(f"container {name} does not exist")


def _wanted(obj: Obj) -> list[str]:
    from kubelet.snapshots import wanted_snapshots

    return wanted_snapshots(obj["metadata"].get("annotations") or {})


def _have(obj: Obj) -> dict[str, Obj]:
    return {s["name"]: s for s in (obj.get("status") or {}).get("snapshots") or []}


def _problem(obj: Obj, since: str, action: str) -> str | None:
    """The SnapshotFailed condition's message when it was set since `since` (an older one is about an earlier
    request) and names `action` ("take one", "restore one", "drop one": the kubelet's words for what failed)."""
    cond = next((c for c in (obj.get("status") or {}).get("conditions", []) if c.get("type") == "SnapshotFailed"), None)
    if cond is None or (cond.get("lastTransitionTime") or "") < since or f"{action}:" not in cond.get("message", ""):
        return None
    return cond["message"]


async def _set_wanted(client: Client, obj: Obj, change: Callable[[list[str]], list[str]]) -> None:
    """Apply `change` to the wanted list by compare-and-swap, reading again when the kubelet's status
    write (or anyone's) came in between."""
    from dlxc.client.errors import Conflict
    from schemas.wire import SNAPSHOTS_ANNOTATION

    for _ in range(20):
        try:
            await client.patch("containers", obj["metadata"]["name"], {"metadata": {
                "annotations": {SNAPSHOTS_ANNOTATION: json.dumps(change(_wanted(obj)))},
                "resourceVersion": obj["metadata"]["resourceVersion"]}})
            return
        except Conflict:
            obj = await _container(client, obj["metadata"]["name"])
    fail(f"container {obj['metadata']['name']} keeps changing; try again")


async def _until(client: Client, name: str, done: object, what: str, *, action: str, since: str) -> Obj:
    """Poll until `done(obj)`; a failure of `action` reported since `since` (taken before the request was written)
    ends it first, since a refused restore is also an honoured request."""
    deadline = time.monotonic() + _TIMEOUT
    while True:
        obj = await _container(client, name)
        problem = _problem(obj, since, action)
        if problem:
            fail(f"{what} failed: {problem}")
        if done(obj):  # type: ignore[operator]
            return obj
        if time.monotonic() > deadline:
            fail(f"{what}: the kubelet of node {obj['spec'].get('nodeName')} did not finish in {_TIMEOUT:g}s")
        await asyncio.sleep(0.3)


def _check_name(snap: str) -> None:
    from schemas.base import DNS_LABEL

    if len(snap) > 63 or not DNS_LABEL.match(snap):
        fail(f"snapshot name {snap!r} must be a DNS-1123 label (lowercase letters, digits, '-')", code=2)


@snapshot_app.command("create")
def create(
    name: str = typer.Argument(..., help="The container."),
    snap: str = typer.Argument(None, help="The snapshot's name (default: snap-YYYYMMDD-HHMMSS)."),
) -> None:
    """Snapshot the container's data on its node; a running container is frozen for the copy and thawed."""
    snap = snap or datetime.now(timezone.utc).strftime("snap-%Y%m%d-%H%M%S")
    _check_name(snap)

    async def go(client: Client) -> Obj:
        from schemas.base import now_iso

        obj = await _container(client, name)
        if not obj["spec"].get("nodeName"):
            fail(f"container {name} is not on a node yet; nothing to snapshot")
        if snap in _wanted(obj) or snap in _have(obj):
            fail(f"container {name} already has a snapshot {snap}")
        since = now_iso()
        await _set_wanted(client, obj, lambda wanted: [*wanted, snap] if snap not in wanted else wanted)
        return await _until(client, name, lambda o: snap in _have(o), f"snapshot {name}/{snap}",
                            action=f"take {snap}", since=since)

    info = _have(with_client(go))[snap]
    console.out(f"snapshot {name}/{snap} created ({info['consistency']}, {console.human_bytes(info['size'])})")


@snapshot_app.command("list")
def list_snapshots(
    name: str = typer.Argument(..., help="The container."),
    output: str = typer.Option("table", "--output", "-o", help="table, json or yaml."),
) -> None:
    """NAME, CREATED, SIZE and CONSISTENCY of the container's snapshots, oldest first."""

    async def go(client: Client) -> Obj:
        return await _container(client, name)

    items = list(_have(with_client(go)).values())
    if output == "json":
        console.print_json(items)
    elif output == "yaml":
        console.print_yaml(items)
    else:
        console.print_table(["NAME", "CREATED", "SIZE", "CONSISTENCY"],
                            [[s["name"], s["created"], console.human_bytes(s["size"]), s["consistency"]] for s in items])


@snapshot_app.command("restore")
def restore(name: str = typer.Argument(..., help="The container."), snap: str = typer.Argument(..., help="The snapshot.")) -> None:
    """Put the container's data back as it was in the snapshot: it is stopped, its data replaced, and started again if it ran."""
    from schemas.base import now_iso
    from schemas.wire import SNAPSHOT_RESTORE_ANNOTATION

    async def go(client: Client) -> None:
        obj = await _container(client, name)
        if snap not in _have(obj):
            known = ", ".join(_have(obj)) or "none"
            fail(f"container {name} has no snapshot {snap} (it has: {known})")
        asked = now_iso()
        request = f"{snap}@{asked}"
        await client.patch("containers", name, {"metadata": {"annotations": {SNAPSHOT_RESTORE_ANNOTATION: request}}})
        await _until(client, name, lambda o: (o.get("status") or {}).get("observedSnapshotRestore") == request,
                     f"restore of {name} to {snap}", action=f"restore {snap}", since=asked)

    with_client(go)
    console.out(f"container {name} restored to snapshot {snap} (stopped, restored, started again if it was running)")


@snapshot_app.command("delete")
def delete(name: str = typer.Argument(..., help="The container."), snap: str = typer.Argument(..., help="The snapshot.")) -> None:
    """Delete one snapshot of the container."""

    async def go(client: Client) -> None:
        from schemas.base import now_iso

        obj = await _container(client, name)
        if snap not in _have(obj) and snap not in _wanted(obj):
            fail(f"container {name} has no snapshot {snap}")
        since = now_iso()
        await _set_wanted(client, obj, lambda wanted: [s for s in wanted if s != snap])
        await _until(client, name, lambda o: snap not in _have(o), f"deleting snapshot {name}/{snap}",
                     action=f"drop {snap}", since=since)

    with_client(go)
    console.out(f"snapshot {name}/{snap} deleted")
