"""The kubelet's side of Backups: archive the rootfs of a container bound here, and remove the archive when its Backup goes.

A Backup is level-triggered like a Container: each key is re-read from the informer and handled
by its phase. Pending and our container's -> claim it (finalizer, then Running), archive, report
Completed or Failed. Running on this node but not being written by this process -> the kubelet
restarted in the middle: the Backup is marked Failed (never left Running; compare-and-swap on the
version judged, since the cache can still show this process's own finished Running write) and the
partial file removed. Deleted -> remove the archive (and a container directory a move kept for it,
kubelet/keep.py), then our finalizer.

Consistency: a running container is *frozen* (cgroup freezer) for the whole copy and thawed after,
so the archive is one instant of its files; a stopped one is copied as it is. Meanwhile the
container is held out of the kubelet's work queue (kubelet/hold.py), so no reconcile thaws it halfway.
"""
from __future__ import annotations

import asyncio
import logging
import os
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from dlxc.client.errors import ApiError, Conflict, NotFound
from dlxc.client.informer import Informer
from dlxc.client.workqueue import WorkQueue
from dlxc.tasks import cancel_and_wait
from kubelet import keep
from kubelet.archive import IdShift, Written, merged_tree, write_archive
from kubelet.durable import fsync_dir
from kubelet.hold import held
from kubelet.lxcconfig import split_overlay_rootfs
from kubelet.retry import handle_or_retry
from schemas.backup import spec_document
from schemas.base import Obj, iso_time, now_iso
from schemas.wire import BACKUP_FINALIZER

__all__ = ["BackupAgent", "archive_layers", "id_shift_of", "spec_document"]

log = logging.getLogger("dlxc.kubelet.backups")
SUFFIX = ".tar.zst"
PARTIAL = ".partial"
def archive_layers(rootfs: str) -> list[Path]:
    """The directories whose merged view is the rootfs (upper first) of an lxc.rootfs.path value."""
    parts = split_overlay_rootfs(rootfs)
    if parts is not None:
        return [Path(parts[1]), Path(parts[0])]
    return [Path(rootfs.removeprefix("dir:"))]


def id_shift_of(items: list[tuple[str, str]] | tuple[tuple[str, str], ...]) -> IdShift:
    """The id shift an LXC config's `lxc.idmap = u 0 HOST N` / `g 0 HOST N` lines describe (none: privileged)."""
    uid = gid = 0
    count = 65536
    for key, value in items:
        if key != "lxc.idmap":
            continue
        kind, inside, host, number = value.split()
        if inside == "0":
            count = int(number)
            if kind == "u":
                uid = int(host)
            else:
                gid = int(host)
    return IdShift(uid, gid, count)


class BackupAgent:
    """Runs beside the kubelet's container loop, sharing its client, runtime and container informer."""

    def __init__(self, kubelet: Any) -> None:
        self.kubelet = kubelet
        self.client = kubelet.client
        self.node = kubelet.settings.node_name
        self.dir: Path = kubelet.settings.backups
        self.informer = Informer(self.client, "backups", self._on_backup)
        self.queue: WorkQueue[str] = WorkQueue()
        self.writing: set[str] = set()  # Backups this process is archiving right now
        # Backups this process wrote whose Completed status the apiserver did not take (an error, an election):
        # sent again on the retry, instead of judging the Running left in the cache as a kubelet that died midway.
        self.completed: dict[str, tuple[Obj, Obj]] = {}

    def path_for(self, name: str) -> Path:
        return self.dir / f"{name}{SUFFIX}"

    def enqueue(self, name: str) -> None:
        self.queue.add(name)

    async def _on_backup(self, name: str, old: Obj | None, new: Obj | None) -> None:
        if new is None:
            self.completed.pop(name, None)
        self.enqueue(name)

    async def run(self, *, workers: int = 2) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        tasks = [asyncio.create_task(self.informer.run())]
        try:
            await self.informer.synced.wait()
            await self.kubelet.containers.synced.wait()
            tasks.append(asyncio.create_task(self.queue.run(self._process, workers=workers)))
            tasks.append(asyncio.create_task(self._resync()))
            await asyncio.gather(*tasks)
        finally:
            await cancel_and_wait(*tasks)

    async def _resync(self) -> None:
        # A Pending backup of a container that was bound here after the backup's last event.
        while True:
            for name in list(self.informer.cache):
                self.enqueue(name)
            await asyncio.sleep(self.kubelet.settings.resync_interval / 4)

    async def _process(self, name: str) -> None:
        await handle_or_retry(self.queue, name, self.handle, log, "backup %s")

    async def handle(self, name: str) -> None:
        obj = self.informer.cache.get(name)
        if obj is None or name in self.writing:
            return
        meta, status = obj["metadata"], obj.get("status") or {}
        phase = status.get("phase") or "Pending"
        if name in self.completed and phase in ("Pending", "Running") and not meta.get("deletionTimestamp"):
            await self._complete(name, *self.completed[name])
            return
        self.completed.pop(name, None)
        if meta.get("deletionTimestamp"):
            if BACKUP_FINALIZER in meta.get("finalizers", []) and status.get("node") == self.node:
                await asyncio.to_thread(self._remove_files, name)
                await self._drop_finalizer(obj)
            return
        if phase == "Running" and status.get("node") == self.node:
            # Judged on the version read: our own Running write can still be in the cache after we wrote Completed
            # (the work queue hands the key back before the watch catches up); then the swap fails and nothing changes.
            try:
                await self._fail(obj, f"the kubelet of node {self.node} restarted while writing the archive; create a new backup",
                                 resource_version=meta["resourceVersion"])
            except Conflict:
                return  # changed meanwhile: the watch brings the new version
            log.warning("%s: was Running on this node but not being written by this kubelet: an earlier one was stopped "
                        "midway; marked Failed, removing its partial archive", name)
            await asyncio.to_thread(self._remove_files, name, partial_only=True)
            return
        if phase != "Pending":
            return
        container = self.kubelet.containers.cache.get(obj["spec"]["container"])
        if container is None or container["spec"].get("nodeName") != self.node:
            return  # not ours (or not yet): the kubelet of its node takes it
        if container["metadata"].get("deletionTimestamp"):
            try:
                await self._fail(obj, f"container {container['metadata']['name']} is being deleted",
                                 resource_version=meta["resourceVersion"])
            except Conflict:
                pass  # changed meanwhile: the watch brings the new version
            return
        await self._run(obj, container)

    # ---- one backup ----

    async def _run(self, obj: Obj, container: Obj) -> None:
        name = obj["metadata"]["name"]
        meta = obj["metadata"]
        if name in self.writing:
            return
        # Marked before the first await: the watch may bring back our own claim before its answer
        # does, and a second worker must not start the same backup then.
        self.writing.add(name)
        try:
            if BACKUP_FINALIZER not in meta.get("finalizers", []):
                # Claim first (compare-and-swap on the version we judged), so a delete waits for our cleanup.
                try:
                    claimed = await self.client.patch("backups", name, {"metadata": {
                        "finalizers": [*meta.get("finalizers", []), BACKUP_FINALIZER], "resourceVersion": meta["resourceVersion"]}})
                except (Conflict, NotFound):
                    return  # changed meanwhile: the watch brings the new version
                meta = claimed["metadata"]
            await self._write(obj, container, resource_version=meta["resourceVersion"])
        finally:
            self.writing.discard(name)

    async def _write(self, obj: Obj, container: Obj, *, resource_version: str) -> None:
        name = obj["metadata"]["name"]
        started = datetime.now(timezone.utc)
        try:
            await self.client.patch_status("backups", name, {
                "phase": "Running", "node": self.node, "startTime": iso_time(started),
                "message": f"archiving container {container['metadata']['name']} on node {self.node}",
            }, resource_version=resource_version)
        except Conflict:
            return  # judged on a stale version (this process may have just written it Completed): the watch brings the new one
        cname = container["metadata"]["name"]
        t0 = time.monotonic()
        try:
            async with held(self.kubelet, cname):
                written, consistency = await asyncio.to_thread(self._archive, name, container)
        except Exception as exc:
            await asyncio.to_thread(self._remove_files, name, partial_only=True)
            message = f"backup of {cname} failed: {str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}"
            log.warning("%s: %s", name, message)
            await self._fail(obj, message)
            await self._event(container, "BackupFailed", message, warning=True)
            return
        duration = time.monotonic() - t0
        self.completed[name] = ({
            "phase": "Completed", "node": self.node, "location": str(self.path_for(name)),
            "size": written.size, "checksum": written.checksum, "files": written.files,
            "rootfsBytes": written.data_bytes, "durationSeconds": round(duration, 3),
            "completionTime": now_iso(), "consistency": consistency,
            **_kept_of(container), "containerUid": container["metadata"].get("uid"),
            "message": f"{written.files} entries, {written.data_bytes} bytes in {written.size} compressed ({consistency})",
        }, container)
        await self._complete(name, *self.completed[name])

    async def _complete(self, name: str, status: Obj, container: Obj) -> None:
        """Report a written archive; kept for the retry until the apiserver has taken it (an ApiError goes up)."""
        try:
            await self.client.patch_status("backups", name, status)
        except NotFound:
            pass  # deleted meanwhile: the deletion removes the archive
        self.completed.pop(name, None)
        await self._event(container, "BackupCompleted", f"backup {name} written to {self.path_for(name)} ({status['consistency']})")

    def _archive(self, name: str, container: Obj) -> tuple[Written, str]:
        """Blocking: freeze (if running), stream the merged rootfs into the archive, thaw; atomically renamed into place."""
        runtime = self.kubelet.runtime
        cname = container["metadata"]["name"]
        found = runtime.inspect(cname)
        if found is None:
            raise RuntimeError(f"container {cname} has no LXC container on node {self.node} yet")
        items = list(found.items)
        rootfs = dict(items).get("lxc.rootfs.path")
        if not rootfs:
            raise RuntimeError(f"container {cname}: its config has no lxc.rootfs.path")
        final, partial = self.path_for(name), self.dir / f"{name}{SUFFIX}{PARTIAL}"
        self.dir.mkdir(parents=True, exist_ok=True)
        frozen = runtime.freeze(cname)
        try:
            with open(partial, "wb") as out:
                written = write_archive(
                    out, merged_tree(archive_layers(rootfs)), spec=spec_document(container),
                    index={"container": cname, "backup": name, "node": self.node, "created": now_iso(),
                           "consistency": "frozen" if frozen else "stopped"},
                    shift=id_shift_of(items),
                )
                out.flush()
                os.fsync(out.fileno())
        finally:
            if frozen:
                runtime.unfreeze(cname)
        try:
            os.replace(partial, final)
        except FileNotFoundError:
            # Someone removed the file or the directory while we wrote it (a shared dir cleaned up?).
            raise RuntimeError(f"{partial} disappeared before it was complete "
                               f"({'the directory is still there' if self.dir.is_dir() else 'its directory is gone'})") from None
        fsync_dir(self.dir)  # the rename on disk before the backup is reported Completed
        return written, "frozen" if frozen else "stopped"

    def _remove_files(self, name: str, *, partial_only: bool = False) -> None:
        paths = [self.dir / f"{name}{SUFFIX}{PARTIAL}"] + ([] if partial_only else [self.path_for(name)])
        for path in paths:
            path.unlink(missing_ok=True)
        if not partial_only and keep.discard(self.kubelet.settings.lxc_path, name):
            log.info("%s: removed the container directory a move kept until this backup's deletion", name)

    async def _fail(self, obj: Obj, message: str, *, resource_version: str | None = None) -> None:
        """Mark the Backup Failed; with resource_version, only if it is still that version (else Conflict)."""
        try:
            await self.client.patch_status("backups", obj["metadata"]["name"], {
                "phase": "Failed", "node": self.node, "message": message, "completionTime": now_iso()},
                resource_version=resource_version)
        except NotFound:
            pass

    async def _drop_finalizer(self, obj: Obj) -> None:
        meta = obj["metadata"]
        rest = [f for f in meta.get("finalizers", []) if f != BACKUP_FINALIZER]
        try:
            await self.client.patch("backups", meta["name"], {"metadata": {"finalizers": rest, "resourceVersion": meta["resourceVersion"]}})
        except NotFound:
            pass

    async def _event(self, container: Obj, reason: str, message: str, *, warning: bool = False) -> None:
        try:
            await self.client.record_event({"kind": "Container", **container}, reason=reason, message=message,
                                           type="Warning" if warning else "Normal", component="kubelet", host=self.node)
        except ApiError as exc:
            log.info("event %s not recorded: %s", reason, exc.message)


def _kept_of(container: dict[str, Any]) -> dict[str, Any]:
    """The status fields that record what a restore creates again: spec, labels and annotations."""
    document = spec_document(container)
    meta = document["metadata"]
    return {"containerSpec": document["spec"], "containerMetadata": {"labels": meta["labels"], "annotations": meta["annotations"]}}
