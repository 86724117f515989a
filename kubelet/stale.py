"""Stale copies: a kubelet never starts a container the API no longer binds to it, and removes such copies first.

A node that was partitioned or powered off may come back holding containers that were moved away
meanwhile. Before it reconciles anything it lists, fresh from the apiserver, what is bound to it
and destroys every local container that is not in that list or whose object is a different one
(another uid: deleted and created again under the same name). And before any Create or Start it
confirms the binding with a direct read, because its informer cache may still be catching up.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

from dlxc.client.errors import ApiError, NotFound
from kubelet.lease import NodeLease, fence_targets
from kubelet.ports import ContainerApi, Runtime
from kubelet.stops import StopRecords
from schemas.base import Obj

__all__ = ["StaleGuard", "stale_copies"]

log = logging.getLogger("dlxc.kubelet.stale")


def stale_copies(local: list[str], bound: dict[str, Obj], recorded: dict[str, str]) -> list[str]:
    """Local containers that must go: not bound here any more, or bound here as another object (uid)."""
    stale = []
    for name in local:
        obj = bound.get(name)
        if obj is None or (name in recorded and recorded[name] != obj["metadata"].get("uid")):
            stale.append(name)
    return stale


class StaleGuard:
    """The kubelet's safety hooks: fence, recover, remove stale copies, confirm before starting."""

    def __init__(
        self, api: ContainerApi, runtime: Runtime, *, node_name: str, lxc_path: Path, lease: NodeLease,
        stops: StopRecords, bound: Callable[[], Mapping[str, Obj]], destroy: Callable[[str], None],
        heartbeat: Callable[[], Awaitable[None]], resync: Callable[[], Awaitable[None]],
    ) -> None:
        self.api = api
        self.runtime = runtime
        self.node_name = node_name
        self.lxc_path = Path(lxc_path)
        self.lease = lease
        self.stops = stops
        self.bound = bound  # what the informer holds as bound here
        self.destroy = destroy  # blocking: stop and remove one local container
        self.heartbeat = heartbeat
        self.resync = resync
        self.uid_dir = self.lxc_path / ".dlxc-uids"

    # ---- which object each local container was made for ----

    def record(self, name: str, uid: str) -> None:
        self.uid_dir.mkdir(mode=0o700, exist_ok=True)
        path = self.uid_dir / name
        if not path.exists() or path.read_text() != uid:
            path.write_text(uid)

    def recorded(self) -> dict[str, str]:
        if not self.uid_dir.is_dir():
            return {}
        return {p.name: p.read_text().strip() for p in self.uid_dir.iterdir() if p.is_file()}

    def forget(self, name: str) -> None:
        (self.uid_dir / name).unlink(missing_ok=True)

    # ---- hooks ----

    async def remove_stale_copies(self) -> list[str]:
        """Destroy every local container the API does not bind to this node (as this uid); returns their names."""
        node = self.node_name
        items, _ = await self.api.list("containers", field_selector=f"spec.nodeName={node}")
        bound = {o["metadata"]["name"]: o for o in items}
        # Only containers this kubelet made: anything else in the lxcpath is listed, never touched.
        runtime = self.runtime
        local = await asyncio.to_thread(lambda: [n for n in runtime.names() if runtime.managed(n)])
        stale = stale_copies(local, bound, self.recorded())
        for name in stale:
            log.warning("%s: stale copy (no longer bound to %s); destroying it before anything else", name, node)
            await asyncio.to_thread(self.destroy, name)
            self.forget(name)
        for name, obj in bound.items():
            if name in local and name not in stale and obj["metadata"].get("uid"):
                self.record(name, obj["metadata"]["uid"])
        return stale

    async def remove_stale_copies_first(self) -> None:
        """On startup: remove stale copies, retrying until the apiserver answers."""
        while True:
            try:
                await self.remove_stale_copies()
                return
            except ApiError as exc:
                log.warning("cannot list what is bound here: %s; retrying", exc.message)
                await asyncio.sleep(1.0)

    async def may_start(self, obj: Obj) -> bool:
        """Confirm, by a direct read, that `obj` is still bound here before a Create or Start."""
        name = obj["metadata"]["name"]
        fresh_for = self.lease.settings.fence_timeout / 2
        if self.lease.fenced or time.monotonic() - self.lease.last_renewed > fresh_for:
            log.info("%s: not starting: the node lease is not fresh (fenced or renewal overdue)", name)
            return False
        try:
            current = await self.api.get("containers", name)
        except NotFound:
            return False
        except ApiError as exc:
            log.info("%s: not starting: cannot confirm the binding: %s", name, exc.message)
            return False
        if current["spec"].get("nodeName") != self.node_name or current["metadata"].get("uid") != obj["metadata"].get("uid"):
            log.warning("%s: not starting: it is no longer bound to this node", name)
            return False
        self.record(name, current["metadata"]["uid"])
        return True

    async def fence(self) -> None:
        """Stop every running local container that may fail over, in parallel (called again while fenced)."""
        states = await asyncio.to_thread(self.runtime.states)
        running = [name for name, state in states.items() if state in ("RUNNING", "FROZEN", "STARTING")]
        targets = fence_targets(running, dict(self.bound()))
        if not targets:
            return
        log.warning("fenced: killing %s", ", ".join(targets))
        for name in targets:
            self.stops.mark(name, "fenced")  # our stop, not the container's exit
        results = await asyncio.gather(*(asyncio.to_thread(self._kill, name) for name in targets), return_exceptions=True)
        for name, result in zip(targets, results):
            if isinstance(result, BaseException):
                log.error("fencing %s failed: %s", name, result)

    def _kill(self, name: str) -> None:
        """Kill at once (no clean shutdown): the fence's margin is a few seconds, not a shutdown's."""
        self.runtime.stop(name, timeout=0)

    async def recover(self) -> None:
        """The lease is back: stale copies go first, then everything is reconciled again."""
        await self.remove_stale_copies()
        await self.heartbeat()  # Ready again now, not at the next status interval
        await self.resync()
