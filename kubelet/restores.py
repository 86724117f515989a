"""A container created from a backup: its rootfs is unpacked from the archive instead of cloned from its image.

`dlxc backup restore` (and import, move) create the Container with the annotation
`dlxc.io/restore-from: BACKUP`. When the kubelet renders such a container that has no rootfs yet,
`rootfs()` reads the Backup, checks and unpacks its archive into `<container dir>/.restore`, and
renames it into place as the overlay's upper dir over an empty lower one: the container's files
are exactly the archive's (files deleted before the backup stay deleted), and later snapshots and
backups see it like any other container. Nothing is renamed into place unless the whole archive
was read and its checksum matched, so a bad archive leaves no half-made rootfs. The unpacking
is recorded in `<container dir>/restored-from`, so later renders never unpack again.

Where the archive comes from: this kubelet's own --backup-dir when the file is there (the node
that wrote it, or a shared mount); otherwise it is streamed from the kubelet that holds it through
the apiserver (`GET backups/NAME/archive`, which a node may read for a container bound to it),
straight into the unpacking: no copy of the archive is written here, and the sha256 is checked
before the rename as for a local file. A move that failed finds the container's own old directory
kept on this node (kubelet/keep.py) and renames it back instead of unpacking anything.
"""
from __future__ import annotations

import asyncio
import json
import logging
import queue
import shutil
import threading
from pathlib import Path
from typing import Any

from dlxc.client.errors import ApiError, Conflict, NotFound
from kubelet import keep
from kubelet.archive import ArchiveError, IdShift, Unpacked, read_archive
from kubelet.durable import sync_filesystem, write_durably
from kubelet.lxcconfig import overlay_rootfs
from schemas import Container
from schemas.base import Obj, now_iso
from schemas.wire import RESTORE_ANNOTATION

__all__ = ["RestoreError", "Restorer"]

log = logging.getLogger("dlxc.kubelet.restores")
MARKER = "restored-from"
UPPER = "delta0"
LOWER = "lower"


class RestoreError(ValueError):
    """The container cannot be made from its backup on this node; the message says why (the kubelet reports it as Failed)."""


class Restorer:
    def __init__(self, kubelet: Any) -> None:
        self.kubelet = kubelet
        self.loop: asyncio.AbstractEventLoop | None = None

    def bind_loop(self) -> None:
        self.loop = asyncio.get_running_loop()

    def _call(self, coro: Any, timeout: float = 30.0) -> Any:
        assert self.loop is not None, "Restorer.bind_loop() was not called"
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def shift_for(self, container: Container) -> IdShift:
        idmap = self.kubelet.idmap
        if container.spec.privileged or idmap is None:
            return IdShift()
        return IdShift(idmap.host_uid_start, idmap.host_gid_start, idmap.count)

    def rootfs(self, container: Container) -> str | None:
        """The lxc.rootfs.path of a container restored from a backup (unpacking it first if needed), or
        None when the container is not one (or already had a rootfs of its own before it was asked).
        Blocking: called from the kubelet's render, in a worker thread."""
        backup = container.metadata.annotations.get(RESTORE_ANNOTATION)
        name = container.metadata.name
        directory = self.kubelet.settings.lxc_path / name
        upper, lower, marker = directory / UPPER, directory / LOWER, directory / MARKER
        value = overlay_rootfs(str(lower), str(upper))
        if marker.exists():
            return _recorded_rootfs(marker) or value
        if upper.exists():
            return None  # it has a rootfs of its own here (made from its image): keep it
        after = ""
        if backup:
            kept = keep.reinstate(self.kubelet.settings.lxc_path, name, backup)
            if kept is not None:
                write_durably(marker, keep.kept_record(kept, backup))  # a torn marker would lose its lower dir
                message = (f"rootfs kept on node {self.kubelet.settings.node_name} since the move of backup {backup} "
                           "reinstated (the move did not complete)")
                log.info("%s: %s", name, message)
                self._post(self._announce(name, "RootfsReinstated", message, restored=True))
                return kept
            record = self._backup(backup, name)
        else:
            found = self._failover_backup(container)
            if found is None:
                return None
            record, after = found, " after its failover"
            backup = record["metadata"]["name"]
        status = record.get("status") or {}
        staging = directory / ".restore"
        shutil.rmtree(staging, ignore_errors=True)
        directory.mkdir(mode=0o711, parents=True, exist_ok=True)
        try:
            unpacked = self._unpack(backup, status, staging, shift=self.shift_for(container), name=name)
        except ArchiveError as exc:
            raise RestoreError(f"cannot restore {name} from backup {backup}: {exc}") from None
        except RestoreError as exc:
            if not after:
                raise
            self._post(self._announce(name, "StartedFromImage", f"started from image {container.spec.image}: {exc}", restored=False))
            return None
        lower.mkdir(mode=0o755, exist_ok=True)
        (staging / "rootfs").rename(upper)
        shutil.rmtree(staging, ignore_errors=True)
        # The unpacked tree on disk before the marker vouches for it: after a power cut a marker over a
        # half-written rootfs would be taken for a finished restore and never redone.
        sync_filesystem(directory)
        write_durably(marker, json.dumps({"backup": backup, "checksum": unpacked.checksum, "at": now_iso()}) + "\n")
        made = status.get("completionTime") or status.get("startTime") or "?"
        message = f"rootfs restored from backup {backup} (made {made} on node {status.get('node', '?')}){after}"
        log.info("%s: %s", name, message)
        self._post(self._announce(name, "RestoredFromBackup", message, restored=True))
        return value

    def _post(self, coro: Any) -> None:
        asyncio.run_coroutine_threadsafe(coro, self.loop)  # type: ignore[arg-type]

    def _failover_backup(self, container: Container) -> Obj | None:
        """The latest Completed backup of this very container (same uid, image and privilege), when it
        is being made here afresh although it ran before: a failover, or a move by the controller.
        None (the image, as always) for a container never backed up. Its archive is read here or
        streamed from its node; when neither can be done, rootfs() starts it from the image, saying so."""
        from schemas.wire import CONTAINER_LABEL

        name, uid = container.metadata.name, container.metadata.uid
        if self.loop is None:
            return None  # not running (a unit test's kubelet): no API to ask
        try:
            items, _ = self._call(self.kubelet.client.list("backups", label_selector=f"{CONTAINER_LABEL}={name}"))
        except Exception as exc:  # noqa: BLE001 - a failed lookup must never block a create: the image, as before
            log.warning("%s: cannot list its backups (%s); making it from its image", name, getattr(exc, "message", exc))
            return None
        mine = [b for b in items if (b.get("status") or {}).get("phase") == "Completed" and uid
                and b["status"].get("containerUid") == uid and not b["metadata"].get("deletionTimestamp")
                and (b["status"].get("containerSpec") or {}).get("image") == container.spec.image
                and bool((b["status"].get("containerSpec") or {}).get("privileged")) == container.spec.privileged]
        if not mine:
            return None
        mine.sort(key=lambda b: b["status"].get("completionTime") or "", reverse=True)
        # The latest one: read here (a shared dir) or streamed from its node; when that node is
        # gone too (the usual failover), rootfs() says so and starts from the image.
        return mine[0]

    def _backup(self, backup: str, name: str) -> Obj:
        try:
            record: Obj = self._call(self.kubelet.client.get("backups", backup))
        except NotFound:
            raise RestoreError(f"cannot restore {name}: backup {backup} does not exist") from None
        phase = (record.get("status") or {}).get("phase")
        if phase != "Completed":
            raise RestoreError(f"cannot restore {name}: backup {backup} is {phase or 'Pending'}, not Completed")
        return record

    def _local_archive(self, status: Obj) -> Path | None:
        # Looked up by file name in this kubelet's own --backup-dir, never at the writer's path: a
        # shared mount may sit elsewhere on each node, and a path that merely exists here is not
        # the mount the writer used.
        recorded = Path(status.get("location") or "")
        here = self.kubelet.settings.backups / recorded.name
        return here if recorded.name and here.is_file() else None

    def _unpack(self, backup: str, status: Obj, staging: Path, *, shift: IdShift, name: str) -> Unpacked:
        """Unpack the backup's archive into `staging`: from this node's --backup-dir, or streamed
        from the node that holds it through the apiserver (RestoreError when it cannot send it)."""
        checksum = status.get("checksum")
        local = self._local_archive(status)
        if local is not None:
            with open(local, "rb") as src:
                return read_archive(src, staging, shift=shift, checksum=checksum, what=f"archive {local} of backup {backup}")
        source = status.get("node") or "?"
        pipe = _Pipe()
        pump = asyncio.run_coroutine_threadsafe(self._pump(backup, pipe, name), self.loop)  # type: ignore[arg-type]
        try:
            return read_archive(pipe, staging, shift=shift, checksum=checksum,
                                what=f"the archive of backup {backup} sent by node {source}")
        except ArchiveError:
            if pipe.error is not None:
                raise self._unreachable(backup, source, pipe.error) from None
            raise
        except OSError as exc:
            raise self._unreachable(backup, source, exc) from None
        finally:
            pipe.close()
            pump.cancel()

    def _unreachable(self, backup: str, source: str, exc: BaseException) -> RestoreError:
        return RestoreError(
            f"the archive of backup {backup} is not in the --backup-dir of node {self.kubelet.settings.node_name}, "
            f"and node {source} cannot send it: {getattr(exc, 'message', None) or exc}")

    async def _pump(self, backup: str, pipe: _Pipe, name: str) -> None:
        from dlxc.client import streams

        try:
            async for chunk in streams.read_archive(self.kubelet.client, backup, for_container=name):
                if not await pipe.send(chunk):
                    return  # the reader gave up (a bad archive): stop receiving
        except BaseException as exc:  # noqa: BLE001 - handed to the reading thread, which says what failed
            pipe.error = exc
        finally:
            await pipe.send(None)

    async def _announce(self, name: str, reason: str, message: str, *, restored: bool) -> None:
        """An Event now, and a `Restored` condition once the kubelet's own status writes settled (Running)."""
        kubelet = self.kubelet
        try:
            obj = await kubelet.client.get("containers", name)
            await kubelet.client.record_event({"kind": "Container", **obj}, reason=reason, message=message,
                                              type="Normal" if restored else "Warning",
                                              component="kubelet", host=kubelet.settings.node_name)
        except ApiError as exc:
            log.info("%s: event not recorded: %s", name, exc.message)
        for _ in range(240):
            await asyncio.sleep(0.5)
            try:
                obj = await kubelet.client.get("containers", name)
            except NotFound:
                return
            status = obj.get("status") or {}
            if status.get("phase") not in ("Running", "Stopped"):
                continue
            conditions = [c for c in status.get("conditions", []) if c.get("type") != "Restored"]
            conditions.append({"type": "Restored", "status": "True" if restored else "False", "reason": reason, "message": message,
                               "lastTransitionTime": now_iso()})
            try:
                await kubelet.client.patch_status("containers", name, {"conditions": conditions},
                                                  resource_version=obj["metadata"]["resourceVersion"])
                return
            except Conflict:
                continue
            except ApiError as exc:
                log.info("%s: Restored condition not written: %s", name, exc.message)
                return


def _recorded_rootfs(marker: Path) -> str | None:
    """The rootfs a `restored-from` marker names: a reinstated container keeps its own (image) lower dir."""
    try:
        return json.loads(marker.read_text()).get("rootfs")
    except (OSError, ValueError):
        return None


class _Pipe:
    """Chunks the event loop receives, read as a file by the unpacking thread; bounded, so a slow
    disk holds the sender back instead of filling memory. `close` releases a sender still waiting."""

    def __init__(self, depth: int = 16) -> None:
        self.queue: queue.Queue[bytes | None] = queue.Queue(maxsize=depth)
        self.closed = threading.Event()
        self.error: BaseException | None = None
        self.buf = memoryview(b"")
        self.eof = False

    def feed(self, chunk: bytes | None) -> bool:
        """Blocking put for a thread; False once the reader closed the pipe."""
        while not self.closed.is_set():
            try:
                self.queue.put(chunk, timeout=0.5)
                return True
            except queue.Full:
                continue
        return False

    async def send(self, chunk: bytes | None) -> bool:
        """`feed` for the event loop, without a worker thread: the unpacking itself holds one (the
        render's), and a few restores at once must never take every thread of the default pool
        while they wait for chunks only the loop can give them."""
        delay = 0.001
        while not self.closed.is_set():
            try:
                self.queue.put_nowait(chunk)
                return True
            except queue.Full:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.02)
        return False

    def read(self, size: int = -1) -> bytes:
        while not self.buf and not self.eof:
            try:
                chunk = self.queue.get(timeout=0.5)
            except queue.Empty:
                if self.closed.is_set():
                    raise OSError("the transfer was abandoned") from None
                continue
            if chunk is None:
                self.eof = True
                if self.error is not None:
                    raise OSError(f"the transfer broke: {getattr(self.error, 'message', None) or self.error}")
            else:
                self.buf = memoryview(chunk)
        if size < 0 or size >= len(self.buf):
            data, self.buf = bytes(self.buf), memoryview(b"")
        else:
            data, self.buf = bytes(self.buf[:size]), self.buf[size:]
        return data

    def close(self) -> None:
        self.closed.set()
