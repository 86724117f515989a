"""`dlxc import FILE [--name N]`: a container made from an archive `dlxc export` (or a backup) wrote.

The whole file is read and checked first (zstd frame checksum, tar structure, the index at its
end): a truncated or corrupt archive is refused before anything is created. It is then copied
into the backup dir (checked again against the sha256 of the first read), recorded as a Completed
Backup labelled dlxc.io/imported, and restored from it like any backup. The backup dir must be
the one the target node's kubelet reads (`--backup-dir`; on a `dlxc up` cluster, its state dir's
`backups`, found by default). If anything after the copy fails, the copy and the Backup are
removed again.
"""
from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from dlxc.cli import console
from dlxc.cli.common import fail, with_client

if TYPE_CHECKING:
    from dlxc.client.api import Client
    from schemas.base import Obj

__all__ = ["IMPORTED_LABEL", "import_archive", "pick_node"]

IMPORTED_LABEL = "dlxc.io/imported"


def _backup_dir(given: Path | None) -> Path:
    if given is not None:
        return given
    from dlxc.cluster.local import default_state_dir

    local = default_state_dir() / "backups"
    if local.is_dir():
        return local
    return fail("give --backup-dir (or DLXC_BACKUP_DIR): the directory the target node's kubelet reads archives from "
                "(its --backup-dir); no `dlxc up` cluster's backup dir was found here", code=2)


def _ready(node: Obj) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in (node.get("status") or {}).get("conditions", []))


async def pick_node(client: Client, wanted: str | None, *, exclude: str | None = None) -> str:
    """`wanted` if it exists, is Ready and not cordoned; else the Ready, schedulable node with the fewest containers."""
    from dlxc.client.errors import NotFound

    if wanted is not None:
        try:
            node = await client.get("nodes", wanted)
        except NotFound:
            return fail(f"node {wanted} does not exist")
        if not _ready(node):
            fail(f"node {wanted} is not Ready; choose another node")
        if (node.get("spec") or {}).get("unschedulable"):
            fail(f"node {wanted} is cordoned; uncordon it first or choose another node")
        return wanted
    nodes, _ = await client.list("nodes")
    fit = [n for n in nodes if _ready(n) and not (n.get("spec") or {}).get("unschedulable") and n["metadata"]["name"] != exclude]
    if not fit:
        return fail("no Ready, schedulable node to place the container on")
    return min(fit, key=lambda n: ((n.get("status") or {}).get("containerCount") or 0, n["metadata"]["name"]))["metadata"]["name"]


def import_archive(
    file: Path = typer.Argument(..., help="An archive written by `dlxc export` (or a backup's .tar.zst)."),
    name: str = typer.Option(None, "--name", help="Name of the new container (default: the exported container's)."),
    node: str = typer.Option(None, "--node", help="Node to create it on (default: the Ready node with the fewest containers)."),
    backup_dir: Path = typer.Option(None, "--backup-dir", envvar="DLXC_BACKUP_DIR", help="The kubelets' shared --backup-dir."),
    wait: bool = typer.Option(True, "--wait/--no-wait", help="Wait until the container runs."),
) -> None:
    """Create a container from an archive; a truncated or corrupt one is refused and nothing is created."""
    from kubelet.archive import ArchiveError, verify_archive
    from schemas.backup import backup_name
    from schemas.base import DNS_LABEL

    if not file.is_file():
        fail(f"{file} is not a file", code=2)
    try:
        with open(file, "rb") as src:
            checked = verify_archive(src, what=str(file))
    except ArchiveError as exc:
        fail(f"{exc}; nothing was created")
    target = name or (checked.spec.get("metadata") or {}).get("name")
    if not target or len(target) > 63 or not DNS_LABEL.match(target):
        fail(f"--name {target!r} is not a container name (a DNS-1123 label)", code=2)
    directory = _backup_dir(backup_dir)

    async def go(client: Client) -> Obj:
        from dlxc.cli.backup import _get, restore_container, wait_running
        from dlxc.cli.export import copy_checked
        from schemas.wire import BACKUP_FINALIZER, CONTAINER_LABEL

        if await _get(client, "containers", target) is not None:
            fail(f"container {target} already exists; import under another name with --name, or delete it first")
        where = await pick_node(client, node)
        record = backup_name(target, datetime.now(timezone.utc))
        archive = directory / f"{record}.tar.zst"
        partial = directory / f"{record}.tar.zst.partial"
        created = made_container = False
        try:
            with open(partial, "wb") as out:
                size = copy_checked(file, out, checksum=checked.checksum, what=f"importing {file.name}")
            os.replace(partial, archive)
            await client.create("backups", {
                "metadata": {"name": record, "labels": {IMPORTED_LABEL: "true", CONTAINER_LABEL: target},
                             "finalizers": [BACKUP_FINALIZER]},
                "spec": {"container": target}})
            created = True
            await client.patch_status("backups", record, {
                "phase": "Completed", "node": where, "location": str(archive), "size": size, "checksum": checked.checksum,
                "files": checked.index.get("files"), "rootfsBytes": checked.index.get("dataBytes"),
                "consistency": checked.index.get("consistency"), "containerSpec": checked.spec.get("spec") or {},
                "message": f"imported from {file}"})
            made = await restore_container(client, record, name=target, node=where)
            made_container = True
            if wait and made["spec"].get("state", "Running") == "Running":
                made = await wait_running(client, target, timeout=600)
            return made
        except BaseException:
            partial.unlink(missing_ok=True)
            if made_container:
                await client.delete("containers", target)
            if created:
                await client.delete("backups", record)  # its node's kubelet removes the archive
            else:
                archive.unlink(missing_ok=True)
            raise

    made = with_client(go)
    console.out(f"container/{made['metadata']['name']} imported from {file} on node {made['spec'].get('nodeName')}")
