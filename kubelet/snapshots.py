"""Snapshots of a container's data on its node: taken, deleted and restored to match its annotations.

Level-triggered: annotation dlxc.io/snapshots holds the names a container should have (JSON
list); the kubelet takes the missing ones, deletes the ones no longer listed, and lists what
exists in status.snapshots. A restore is one request, SNAP@TIME in dlxc.io/snapshot-restore,
honoured once and echoed in status.observedSnapshotRestore (as restarts are). The wanted set
lives with the container because snapshots live with it: in its directory on its node, gone with
it; a kubelet that restarts reads the same wish and converges.

What a snapshot is: a copy of the overlay's upper dir (the container's own changes over its
image; `cp -a --reflink=auto`, so copy-on-write where the filesystem supports reflinks) or of
the whole rootfs dir of an adopted container. Taken *frozen* (a running container's processes
are paused for the copy, then thawed); restored *stopped* (the container is stopped, its upper
dir replaced, and started again if it was running), since an overlay's upper dir must not change
under a mounted overlay.
"""
from __future__ import annotations

import asyncio
import json
import logging
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dlxc.client.errors import Conflict, NotFound
from dlxc.client.informer import Informer
from dlxc.client.workqueue import WorkQueue
from dlxc.tasks import cancel_and_wait
from kubelet.hold import held
from kubelet.lxcconfig import split_overlay_rootfs
from kubelet.retry import handle_or_retry
from schemas.base import Obj, now_iso
from schemas.wire import SNAPSHOT_RESTORE_ANNOTATION, SNAPSHOTS_ANNOTATION

__all__ = ["Drop", "Restore", "SnapshotAgent", "Take", "plan_snapshots", "wanted_snapshots"]

log = logging.getLogger("dlxc.kubelet.snapshots")
DIR = "snapshots"
_META = "snapshot.json"


@dataclass(frozen=True)
class Take:
    snap: str


@dataclass(frozen=True)
class Drop:
    snap: str


@dataclass(frozen=True)
class Restore:
    snap: str
    request: str


def wanted_snapshots(annotations: dict[str, str]) -> list[str]:
    raw = annotations.get(SNAPSHOTS_ANNOTATION)
    if not raw:
        return []
    try:
        names = json.loads(raw)
    except ValueError:
        return []
    return [n for n in names if isinstance(n, str)] if isinstance(names, list) else []


def plan_snapshots(wanted: list[str], have: list[str], *, request: str | None, observed: str | None) -> list[Take | Drop | Restore]:
    """What to do, in order: a new restore request first (of a snapshot that exists, or is taken first), then takes, then drops."""
    first: list[Take | Drop | Restore] = []
    if request and request != observed:
        first.append(Restore(request.partition("@")[0], request))
    return [*first, *[Take(s) for s in wanted if s not in have], *[Drop(s) for s in have if s not in wanted]]


def _only_unwanted_takes(message: str, wanted: list[str]) -> bool:
    """Whether every failure in a SnapshotFailed message is a take of a snapshot no longer wanted."""
    parts = [p.partition(":")[0].split(" ") for p in message.split("; ")]
    return all(len(p) == 2 and p[0] == "take" and p[1] not in wanted for p in parts)


class SnapshotAgent:
    """Its own watch on the containers bound here (the kubelet's reconcile is not touched by it)."""

    def __init__(self, kubelet: Any) -> None:
        self.kubelet = kubelet
        self.client = kubelet.client
        node = kubelet.settings.node_name
        self.informer = Informer(self.client, "containers", self._on_container, field_selector=f"spec.nodeName={node}")
        self.queue: WorkQueue[str] = WorkQueue()
        # Restore requests this process carried out, with what went wrong, until the status says so: a report that
        # lost a race (Conflict) or a cache one event behind must not restore (stop, copy, start) a second time.
        self.honoured: dict[str, tuple[str, list[str]]] = {}

    async def _on_container(self, name: str, old: Obj | None, new: Obj | None) -> None:
        if new is None:
            self.honoured.pop(name, None)
            return
        meta = new["metadata"].get("annotations") or {}
        status = new.get("status") or {}
        if SNAPSHOTS_ANNOTATION in meta or SNAPSHOT_RESTORE_ANNOTATION in meta or status.get("snapshots"):
            self.queue.add(name)

    async def run(self) -> None:
        tasks = [asyncio.create_task(self.informer.run()), asyncio.create_task(self.queue.run(self._process))]
        try:
            await asyncio.gather(*tasks)
        finally:
            await cancel_and_wait(*tasks)

    async def _process(self, name: str) -> None:
        await handle_or_retry(self.queue, name, self.handle, log, "snapshots of %s")

    def root(self, name: str) -> Path:
        return self.kubelet.settings.lxc_path / name / DIR

    async def handle(self, name: str) -> None:
        obj = self.informer.cache.get(name)
        if obj is None or obj["metadata"].get("deletionTimestamp"):
            return
        annotations = obj["metadata"].get("annotations") or {}
        status = obj.get("status") or {}
        found = await asyncio.to_thread(self.kubelet.runtime.inspect, name)
        if found is None:
            return  # not created yet: the next event (or a retry) finds it
        have = await asyncio.to_thread(self.existing, name)
        request = annotations.get(SNAPSHOT_RESTORE_ANNOTATION)
        honoured = status.get("observedSnapshotRestore")
        problems: list[str] = []
        done = self.honoured.get(name)
        if done and done[0] == request and honoured != request:
            honoured, problems = done[0], list(done[1])
        actions = plan_snapshots(wanted_snapshots(annotations), [s["name"] for s in have], request=request, observed=honoured)
        if actions:
            async with held(self.kubelet, name):
                for action in actions:
                    try:
                        await asyncio.to_thread(self.execute, name, dict(found.items).get("lxc.rootfs.path", ""), action)
                    except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
                        problems.append(f"{type(action).__name__.lower()} {action.snap}: {exc}")
                    if isinstance(action, Restore):
                        honoured = action.request  # honoured (or refused, with a reason) once either way
                        self.honoured[name] = (action.request, list(problems))
        await self._report(obj, await asyncio.to_thread(self.existing, name), honoured, problems, actions=actions,
                           wanted=wanted_snapshots(annotations))

    def existing(self, name: str) -> list[Obj]:
        root = self.root(name)
        found = []
        for meta in sorted(root.glob(f"*/{_META}")) if root.is_dir() else []:
            try:
                found.append(json.loads(meta.read_text()))
            except ValueError:
                continue
        return sorted(found, key=lambda s: (s["created"], s["name"]))

    def _data_dir(self, rootfs: str) -> Path:
        parts = split_overlay_rootfs(rootfs)
        return Path(parts[1]) if parts else Path(rootfs.removeprefix("dir:"))

    def execute(self, name: str, rootfs: str, action: Take | Drop | Restore) -> None:
        """Blocking; each action is safe to repeat."""
        runtime = self.kubelet.runtime
        data = self._data_dir(rootfs)
        target = self.root(name) / action.snap
        if isinstance(action, Drop):
            shutil.rmtree(target, ignore_errors=True)
            return
        if isinstance(action, Take):
            staging = self.root(name) / f".{action.snap}.new"
            shutil.rmtree(staging, ignore_errors=True)
            staging.mkdir(parents=True)
            frozen = runtime.freeze(name)
            try:
                subprocess.run(["cp", "-a", "--reflink=auto", f"{data}/.", str(staging / "data")], check=True,
                               capture_output=True, text=True, timeout=3600)
            finally:
                if frozen:
                    runtime.unfreeze(name)
            size = int(subprocess.run(["du", "-sb", str(staging / "data")], capture_output=True, text=True, check=True).stdout.split()[0])
            (staging / _META).write_text(json.dumps({"name": action.snap, "created": now_iso(), "size": size,
                                                     "consistency": "frozen" if frozen else "stopped"}))
            shutil.rmtree(target, ignore_errors=True)
            staging.rename(target)
            return
        if not (target / _META).is_file():
            raise RuntimeError(f"snapshot {action.snap} of {name} does not exist on node {self.kubelet.settings.node_name}")
        was_running = runtime.inspect(name).state in ("RUNNING", "FROZEN")
        stops = self.kubelet.stops
        if was_running:
            stops.mark(name, "snapshot restore")  # our stop: not an exit of the container's own to its restart policy
        runtime.stop(name, timeout=30)
        fresh = data.parent / f".{data.name}.restore"
        try:
            shutil.rmtree(fresh, ignore_errors=True)
            subprocess.run(["cp", "-a", "--reflink=auto", str(target / "data"), str(fresh)], check=True,
                           capture_output=True, text=True, timeout=3600)
            old = data.parent / f".{data.name}.old"
            shutil.rmtree(old, ignore_errors=True)
            data.rename(old)
            fresh.rename(data)
            shutil.rmtree(old, ignore_errors=True)
            work = data.parent / "work"
            if work.is_dir():  # the overlay's scratch space belongs to the old upper dir
                shutil.rmtree(work, ignore_errors=True)
        except BaseException:
            # The copy failed (a full disk, a timeout): the container keeps its rootfs as it was, and runs
            # again if it ran (it stayed down, and its restart policy took our stop for its own exit).
            shutil.rmtree(fresh, ignore_errors=True)
            if was_running:
                try:
                    runtime.start(name, timeout=30)
                    stops.clear(name)
                except Exception:  # the mark stays: the reconcile starts it as its spec says
                    log.exception("%s: cannot start it again after a failed snapshot restore", name)
            raise
        if was_running:
            runtime.start(name, timeout=30)
            stops.clear(name)

    async def _report(self, obj: Obj, snapshots: list[Obj], honoured: str | None, problems: list[str], *,
                      actions: list[Take | Drop | Restore], wanted: list[str]) -> None:
        """The status from one pass. SnapshotFailed says what the last work that failed was: it stays through
        passes that did nothing (or the next event would erase it before anyone read it), keeps its time while
        the same failure of a take repeats (or each retry's write would bring the next retry), and goes once work
        succeeds. A restore runs once per request, so its failure is always new (the CLI compares the time with its
        request's), and a kept failed take of a snapshot no longer wanted goes with the wish."""
        status = obj.get("status") or {}
        patch: Obj = {}
        if (status.get("snapshots") or []) != snapshots:
            patch["snapshots"] = snapshots
        if honoured and honoured != status.get("observedSnapshotRestore"):
            patch["observedSnapshotRestore"] = honoured
        conditions = [c for c in status.get("conditions", []) if c.get("type") != "SnapshotFailed"]
        failed = next((c for c in status.get("conditions", []) if c.get("type") == "SnapshotFailed"), None)
        if problems:
            message = "; ".join(problems)[:1000]
            restored = any(isinstance(action, Restore) for action in actions)
            if restored or failed is None or failed.get("message") != message:
                failed = {"type": "SnapshotFailed", "status": "True", "reason": "SnapshotError",
                          "message": message, "lastTransitionTime": now_iso()}
            conditions.append(failed)
        elif failed is not None and not actions and not _only_unwanted_takes(failed.get("message", ""), wanted):
            conditions.append(failed)
        if conditions != status.get("conditions", []):
            patch["conditions"] = conditions
        if not patch:
            if honoured and honoured == status.get("observedSnapshotRestore"):
                self.honoured.pop(obj["metadata"]["name"], None)  # the status says it now
            return
        try:
            await self.client.patch_status("containers", obj["metadata"]["name"], patch,
                                           resource_version=obj["metadata"]["resourceVersion"])
        except Conflict:
            self.queue.add(obj["metadata"]["name"])  # changed meanwhile: judge again on the newer copy
        except NotFound:
            pass
