"""`dlxc import FILE [--name N]`: a container made from an archive `dlxc export` (or a backup) wrote.

The whole file is read and checked first (zstd frame checksum, tar structure, the index at its
end): a truncated or corrupt archive is refused before anything is created. A Backup labelled
dlxc.io/imported is then made for the target node, the file streamed through the apiserver to
that node's kubelet (`PUT backups/NAME/archive`, which checks it again before keeping it in its
--backup-dir), the Backup marked Completed, and the container restored from it like any
backup. If anything after the check fails, the Backup (and so its archive) and the container are
removed again.
"""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from dlxc.cli import console
from dlxc.cli.common import fail, with_client

if TYPE_CHECKING:
    from dlxc.client.api import Client
    from schemas.base import Obj

__all__ = ["IMPORTED_LABEL", "check_spec", "import_archive", "imported_spec", "pick_node"]

IMPORTED_LABEL = "dlxc.io/imported"


async def pick_node(client: Client, wanted: str | None, *, container: Obj) -> str:
    """`wanted` if it exists, is Ready, is not cordoned and the scheduler's filters let `container`
    run there; else where the scheduler would place it (dlxc.apply.moves.pick_node)."""
    from dlxc.apply import moves

    try:
        return await moves.pick_node(client, wanted, container=container)
    except moves.MoveError as exc:
        return fail(str(exc))


def check_spec(spec: Obj, *, name: str, what: str) -> None:
    """Refuse, before anything is uploaded, an archive whose container spec this dlxc does not accept
    (made by another version, or edited): the apiserver would refuse it only after the whole upload."""
    from pydantic import ValidationError

    from schemas.container import Container

    try:
        Container.model_validate({"metadata": {"name": name}, "spec": spec})
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        fail(f"{what}: the archive's container spec is not valid here: {field}: {first['msg']} "
             f"(an archive of another dlxc version?); nothing was created")


def imported_spec(document: Obj, *, name: str) -> Obj:
    """The spec an import records and restores from an archive's container document: under another
    name than the exported container's, without its cluster address (see dlxc.cli.backup.restored_spec)."""
    from dlxc.cli.backup import restored_spec

    original = (document.get("metadata") or {}).get("name")
    return restored_spec(document.get("spec") or {}, renamed=name != original)


def imported_metadata(document: Obj, *, name: str) -> Obj:
    """The labels and annotations an import records: the archive's, less its apply set under another
    name than the exported container's (the import's own record is made under the new name, so
    restore_body cannot tell; it keeps of the rest what a restored container may have,
    dlxc.cli.backup.restored_metadata)."""
    from dlxc.cli.backup import restored_metadata

    meta = document.get("metadata") or {}
    labels, annotations = restored_metadata(meta, renamed=name != meta.get("name"))
    return {"labels": labels, "annotations": annotations}


def import_archive(
    file: Path = typer.Argument(..., help="An archive written by `dlxc export` (or a backup's .tar.zst)."),
    name: str = typer.Option(None, "--name", help="Name of the new container (default: the exported container's)."),
    node: str = typer.Option(None, "--node", help="Node to create it on (default: where the scheduler would place it)."),
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
    spec = imported_spec(checked.spec, name=target)
    check_spec(spec, name=target, what=str(file))

    async def chunks() -> AsyncIterator[bytes]:
        with open(file, "rb") as src:
            while chunk := await asyncio.to_thread(src.read, 1 << 20):
                yield chunk

    async def go(client: Client) -> Obj:
        from dlxc.cli.backup import _get, restore_container, wait_running
        from dlxc.client.errors import TemporaryError
        from dlxc.client.streams import write_archive
        from schemas.base import now_iso
        from schemas.wire import BACKUP_FINALIZER, CONTAINER_LABEL

        if await _get(client, "containers", target) is not None:
            fail(f"container {target} already exists; import under another name with --name, or delete it first")
        where = await pick_node(client, node, container={"metadata": {"name": target}, "spec": spec})
        record = backup_name(target, datetime.now(timezone.utc))
        created = made_container = False
        try:
            await client.create("backups", {
                "metadata": {"name": record, "labels": {IMPORTED_LABEL: "true", CONTAINER_LABEL: target},
                             "finalizers": [BACKUP_FINALIZER]},
                "spec": {"container": target}})
            created = True
            # The node first: the apiserver sends the archive to the kubelet the status names.
            await client.patch_status("backups", record, {"node": where, "message": f"receiving {file.name}"})
            for attempt in range(30):
                try:
                    kept = await write_archive(client, record, chunks())
                    break
                except TemporaryError:
                    # A node that just started may not publish its stream endpoint yet: send it again.
                    if attempt == 29:
                        raise
                    await asyncio.sleep(1.0)
            if kept.get("checksum") != checked.checksum:
                fail(f"{file} arrived damaged on node {where} (sha256 {kept.get('checksum')}, sent {checked.checksum}); nothing was kept")
            await client.patch_status("backups", record, {
                "phase": "Completed", "node": where, "location": kept["location"], "size": kept["size"],
                "checksum": kept["checksum"], "files": checked.index.get("files"), "rootfsBytes": checked.index.get("dataBytes"),
                "consistency": checked.index.get("consistency"), "containerSpec": spec,
                "containerMetadata": imported_metadata(checked.spec, name=target),
                "completionTime": now_iso(), "message": f"imported from {file.name}"})
            made = await restore_container(client, record, name=target, node=where)
            made_container = True
            if wait and made["spec"].get("state", "Running") == "Running":
                made = await wait_running(client, target, timeout=600)
            return made
        except BaseException:
            if made_container:
                await client.delete("containers", target)
            if created:
                await client.delete("backups", record)  # its node's kubelet removes the archive it kept
            raise

    made = with_client(go, streaming=True)
    console.out(f"container/{made['metadata']['name']} imported from {file} on node {made['spec'].get('nodeName')}")
