"""`dlxc backup create|list|delete|restore`: Backup objects, archived by the kubelet of the container's node."""
from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

import typer

from dlxc.cli import console
from dlxc.cli.common import fail, with_client

if TYPE_CHECKING:
    from collections.abc import Awaitable

    from dlxc.client.api import Client
    from schemas.base import Obj

__all__ = ["backup_app", "create_backup", "restore_body", "restore_container", "restored_spec", "wait_backup", "wait_running"]

backup_app = typer.Typer(help="Back up containers and restore them from their archives.", no_args_is_help=True)

_TIMEOUT = typer.Option("10m", "--timeout", help="How long to wait, e.g. 90s or 10m.")


def _seconds(text: str) -> float:
    from dlxc.client.waiter import parse_duration

    try:
        return parse_duration(text)
    except ValueError as exc:
        return fail(f"--timeout: {exc}", code=2)


async def _get(client: Client, plural: str, name: str) -> Obj | None:
    from dlxc.apply.moves import get_or_none

    return await get_or_none(client, plural, name)


async def _or_fail(step: Awaitable[Obj]) -> Obj:
    """A workflow step of dlxc.apply.moves; its failure ends the command with its message."""
    from dlxc.apply.moves import MoveError

    try:
        return await step
    except MoveError as exc:
        return fail(str(exc))


async def create_backup(client: Client, container: str, *, labels: dict[str, str] | None = None) -> Obj:
    """A new Backup of `container` (which must exist), named CONTAINER-YYYYMMDD-HHMMSS."""
    from dlxc.apply import moves

    return await _or_fail(moves.create_backup(client, container, labels=labels))


async def wait_backup(client: Client, name: str, *, timeout: float) -> Obj:
    """The Backup once Completed; a Failed one, or none by the deadline, ends the command with its message."""
    from dlxc.apply import moves

    return await _or_fail(moves.wait_backup(client, name, timeout=timeout))


async def wait_running(client: Client, name: str, *, timeout: float) -> Obj:
    """The Container once Running; Failed, or not Running by the deadline, ends the command with its message."""
    from dlxc.apply import moves

    return await _or_fail(moves.wait_running(client, name, timeout=timeout))


def restored_spec(spec: Obj, *, renamed: bool) -> Obj:
    """A copy of a backed-up spec; a copy under another name drops its cluster address so the apiserver
    allocates a fresh one (the original container may still hold it: keeping it would be refused as taken)."""
    spec = dict(spec)
    network = spec.get("network")
    if renamed and isinstance(network, dict) and "ipv4" in network:
        spec["network"] = {k: v for k, v in network.items() if k != "ipv4"}
    return spec


def restored_metadata(kept: Obj, *, renamed: bool) -> tuple[Obj, Obj]:
    """The labels and annotations a restored container gets from the backed-up ones. Never set or
    cluster membership: its set or cluster did not make it, and would delete it (an ordinal scaled
    away, an old template). Of dlxc's own annotations only the apply record, and only under the same
    name (snapshot requests, drain marks, member bookkeeping were the original's). A copy under
    another name leaves its apply set too (`apply --prune` would prune it as gone from the manifests)."""
    from schemas.wire import APPLYSET_LABEL, CLUSTER_LABEL, CLUSTER_ROLE_LABEL, LAST_APPLIED_ANNOTATION, SET_LABEL

    labels = {k: v for k, v in (kept.get("labels") or {}).items()
              if k not in (SET_LABEL, CLUSTER_LABEL, CLUSTER_ROLE_LABEL) and not (renamed and k == APPLYSET_LABEL)}
    annotations = {k: v for k, v in (kept.get("annotations") or {}).items()
                   if not k.startswith("dlxc.io/") or (k == LAST_APPLIED_ANNOTATION and not renamed)}
    return labels, annotations


def restore_body(backup: Obj, *, name: str, node: str | None) -> Obj:
    """The Container a restore creates: the backed-up spec, labels and annotations, bound where the
    archive can be read, asking for the archive."""
    from schemas.wire import RESTORE_ANNOTATION

    status = backup.get("status") or {}
    renamed = name != backup["spec"]["container"]
    spec = restored_spec(status.get("containerSpec") or {}, renamed=renamed)
    spec["nodeName"] = node or status.get("node")
    labels, annotations = restored_metadata(status.get("containerMetadata") or {}, renamed=renamed)
    meta: Obj = {"name": name, "annotations": {**annotations, RESTORE_ANNOTATION: backup["metadata"]["name"]}}
    if labels:
        meta["labels"] = labels
    return {"metadata": meta, "spec": spec}


async def restore_container(client: Client, backup_name: str, *, name: str | None, node: str | None) -> Obj:
    """Create the container of a Completed backup; refuses (changing nothing) an unknown backup, a taken name, a bad node."""
    backup = await _get(client, "backups", backup_name)
    if backup is None:
        fail(f"backup {backup_name} does not exist; `dlxc backup list` shows the backups")
    status = backup.get("status") or {}
    if status.get("phase") != "Completed":
        fail(f"backup {backup_name} is {status.get('phase', 'Pending')}, not Completed; only a completed backup can be restored")
    target = name or backup["spec"]["container"]
    if await _get(client, "containers", target) is not None:
        fail(f"container {target} already exists; restore under another name with --as NEWNAME, or delete it first")
    if node is not None:
        found = await _get(client, "nodes", node)
        if found is None:
            fail(f"node {node} does not exist")
    else:
        node = await _where_to_restore(client, backup, name=target)
    return await client.create("containers", restore_body(backup, name=target, node=node))


async def _where_to_restore(client: Client, backup: Obj, *, name: str) -> str | None:
    """The node that wrote the archive while it is Ready (None: restore_body binds there); else a node
    the scheduler picks for the container, reading the archive from a shared --backup-dir (bound to a
    removed or dead node, it stayed Pending for good)."""
    from dlxc.apply import moves

    writer = (backup.get("status") or {}).get("node")
    found = await _get(client, "nodes", writer) if writer else None
    if found is not None and moves.node_is_ready(found):
        return None
    body = restore_body(backup, name=name, node=None)
    try:
        picked = await moves.pick_node(client, None, exclude=writer, container=body)
    except moves.MoveError as exc:
        return fail(f"node {writer} that wrote backup {backup['metadata']['name']} is not Ready, and {exc}")
    console.note(f"node {writer} that wrote backup {backup['metadata']['name']} is not Ready; restoring on {picked} "
                 "(it reads the archive from a shared --backup-dir)")
    return picked


def _row(obj: Obj) -> list[str]:
    status = obj.get("status") or {}
    duration = status.get("durationSeconds")
    return [
        obj["metadata"]["name"], obj["spec"]["container"], status.get("phase", "Pending"),
        console.human_bytes(status.get("size")) if status.get("size") is not None else "-",
        f"{duration:.1f}s" if duration is not None else "-", status.get("node") or "-",
        console.age(obj["metadata"].get("creationTimestamp")),
    ]


@backup_app.command("create")
def create(
    container: str = typer.Argument(..., help="The container to back up."),
    wait: bool = typer.Option(True, "--wait/--no-wait", help="Wait until the archive is written."),
    timeout: str = _TIMEOUT,
) -> None:
    """Create a Backup: the kubelet of the container's node freezes it, archives its rootfs and spec, thaws it."""
    limit = _seconds(timeout)

    async def go(client: Client) -> Obj:
        made = await create_backup(client, container)
        if not wait:
            return made
        return await wait_backup(client, made["metadata"]["name"], timeout=limit)

    obj = with_client(go)
    status = obj.get("status") or {}
    if not wait:
        console.out(f"backup/{obj['metadata']['name']} created")
        return
    console.out(f"backup/{obj['metadata']['name']} completed: {console.human_bytes(status.get('size'))} in "
                f"{status.get('durationSeconds', 0):.1f}s ({status.get('consistency')}), {status.get('location')} on node {status.get('node')}")


@backup_app.command("list")
def list_backups(
    container: str = typer.Argument(None, help="Only this container's backups."),
    output: str = typer.Option("table", "--output", "-o", help="table, json or yaml."),
) -> None:
    """NAME, CONTAINER, PHASE, SIZE, DURATION, NODE and AGE of backups, oldest first."""
    from schemas.wire import CONTAINER_LABEL

    if output not in ("table", "json", "yaml"):
        fail(f"unknown output format {output!r}; use table, json or yaml", code=2)

    async def go(client: Client) -> list[Obj]:
        selector = f"{CONTAINER_LABEL}={container}" if container else None
        return (await client.list("backups", label_selector=selector))[0]

    items = sorted(with_client(go), key=lambda o: (o["metadata"].get("creationTimestamp") or "", o["metadata"]["name"]))
    if output == "json":
        console.print_json(items)
    elif output == "yaml":
        console.print_yaml(items)
    else:
        console.print_table(["NAME", "CONTAINER", "PHASE", "SIZE", "DURATION", "NODE", "AGE"], [_row(o) for o in items])


@backup_app.command("delete")
def delete(
    names: list[str] = typer.Argument(..., help="Backups to delete."),
    timeout: str = typer.Option("60s", "--timeout", help="How long to wait for the archive's removal."),
) -> None:
    """Delete backups and their archives (the kubelet that wrote an archive removes it, then the object goes)."""
    from dlxc.client.errors import NotFound

    limit = _seconds(timeout)

    async def go(client: Client) -> None:
        for name in names:
            try:
                await client.delete("backups", name)
            except NotFound:
                fail(f"backup {name} does not exist")
        deadline = time.monotonic() + limit
        for name in names:
            while (left := await _get(client, "backups", name)) is not None:
                if time.monotonic() > deadline:
                    node = (left.get("status") or {}).get("node")
                    fail(f"backup {name} is still waiting for node {node} to remove its archive")
                await asyncio.sleep(0.2)
            console.out(f"backup/{name} deleted (archive removed)")

    with_client(go)


@backup_app.command("restore")
def restore(
    backup: str = typer.Argument(..., help="The backup to restore."),
    as_name: str = typer.Option(None, "--as", help="Name of the restored container (default: the backed-up container's)."),
    node: str = typer.Option(None, "--node", help="Node to restore on (default: the node that wrote the archive; another node streams it from there)."),
    wait: bool = typer.Option(True, "--wait/--no-wait", help="Wait until the restored container runs."),
    timeout: str = _TIMEOUT,
) -> None:
    """Create a container whose rootfs comes from a backup's archive (the spec is the backed-up one)."""
    limit = _seconds(timeout)

    async def go(client: Client) -> Any:
        made = await restore_container(client, backup, name=as_name, node=node)
        if wait and made["spec"].get("state", "Running") == "Running":
            return await wait_running(client, made["metadata"]["name"], timeout=limit)
        return made

    obj = with_client(go)
    console.out(f"container/{obj['metadata']['name']} restored from backup {backup} on node {obj['spec'].get('nodeName')}")
