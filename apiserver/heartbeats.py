"""Node heartbeats without etcd writes: a renewal of a node's Lease is acknowledged from memory.

A Lease held by its own name (holderIdentity == name, as the kubelet writes it) is that node's
heartbeat; leader-election Leases are held by a candidate, never by their own name, and are untouched. The first write of it through this apiserver
(create, takeover, or a renewal of a Lease another apiserver wrote) is an ordinary etcd write whose
key is attached to this apiserver's *session*, one etcd lease kept alive every second. From then
on a renewal that changes nothing but renewTime (same holder, same duration) is answered from
memory: no etcd write, no watch event. The Lease object changes in etcd only when it must:

- the node goes silent: after `expire_after` seconds without a renewal this apiserver deletes the
  Lease (compare-and-swap on the revision it wrote), so the controller sees a DELETE;
- this apiserver dies or hangs: its session expires and etcd deletes every Lease attached to it.

Either way the DELETE happens no sooner than `expire_after` seconds after the last renewal this
apiserver acknowledged: a renewal is acknowledged only while the session is known to outlive it by
that much. The controller therefore counts a node's silence from (DELETE seen - expire_after),
which is never earlier than the start of the kubelet's last acknowledged renewal: the kubelet's
fence timeout and the controller's grace + eviction keep the same margin as when every renewal
was a write ("never two running copies"). Cost: one keepalive per second per apiserver, plus a
write when a node moves between apiservers, appears or goes silent.

renewTime in etcd is that of the last write; this apiserver's GET answers the one in memory. A
renewal stream's `+` line (apiserver.renewals) is renewed with this apiserver's own clock as renewTime:
only readers look at it (expiry above counts on the monotonic clock here, the controller on its own),
so it is formatted when the Lease is read, not 5,000 times a second. The safety argument is unchanged
by it: a `+` is acknowledged under the same `fresh()` condition as a JSON renewal, and the kubelet
counts its fence timeout from when it sent the line either way.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from apiserver.storage import ATTACH_LEASE, Store, WatchEvent
from dlxc.client.errors import ApiError, Conflict, NotFound, TemporaryError
from dlxc.tasks import cancel_and_wait
from schemas.base import Obj, iso_time

__all__ = ["Heartbeats", "is_node_lease", "is_renewal"]

log = logging.getLogger("dlxc.apiserver.heartbeats")

RENEWAL_FIELDS = frozenset({"holderIdentity", "renewTime", "leaseDurationSeconds"})


def is_node_lease(name: str | None, body: Any) -> bool:
    """Whether a Lease write is a node's heartbeat: the body names the Lease's own name as holder."""
    spec = body.get("spec") if isinstance(body, dict) else None
    return bool(name) and isinstance(spec, dict) and spec.get("holderIdentity") == name


def is_renewal(patch: Any, current: Obj) -> bool:
    """A merge patch that only moves renewTime of `current` (same holder, same duration)."""
    if not isinstance(patch, dict) or set(patch) != {"spec"} or not isinstance(patch["spec"], dict):
        return False
    spec = patch["spec"]
    if not set(spec) <= RENEWAL_FIELDS or not isinstance(spec.get("renewTime"), str):
        return False
    held = current.get("spec") or {}
    return all(spec[f] == held.get(f) for f in ("holderIdentity", "leaseDurationSeconds") if f in spec)


@dataclass
class _Owned:
    obj: Obj  # as written to etcd, with renewTime as last renewed in memory
    revision: int  # the mod revision this apiserver wrote
    renewed: float  # monotonic time of the last acknowledged renewal
    stamped: float | None = None  # wall time of a stamped renewal not yet formatted into obj's renewTime
    template: Obj | None = None  # the last stream template checked against obj (is_renewal), so `+` skips the check
    ok: bytes = b""  # the answer line to a renewal of this revision

    def __post_init__(self) -> None:
        self.ok = b'{"code":200,"resourceVersion":"%d"}\n' % self.revision


class Heartbeats:
    def __init__(
        self,
        store: Store,
        *,
        expire_after: float = 5.0,
        session_ttl: int | None = None,
        keepalive_interval: float = 1.0,
        sweep_interval: float = 0.25,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        # Long enough that keepalives may be a few seconds late (a loaded host) and an acknowledgment
        # still covered: when they are later than that, every renewal here fails at once.
        session_ttl = session_ttl if session_ttl is not None else math.ceil(expire_after) + 5
        if session_ttl <= expire_after + keepalive_interval:
            raise ValueError(f"session TTL {session_ttl}s must exceed expire_after {expire_after:g}s + keepalive interval {keepalive_interval:g}s")
        self.store = store
        self.expire_after = expire_after
        self.session_ttl = session_ttl
        self.keepalive_interval = keepalive_interval
        self.sweep_interval = sweep_interval
        self.clock = clock
        self.wall = wall  # renewTime of a stamped renewal (readers only: expiry counts on `clock`)
        self.session: int | None = None
        self.valid_until = 0.0  # the session lives at least until then (monotonic)
        # Oldest renewal first (each renewal moves its Lease to the end): a sweep looks only at the
        # silent ones, not at all 5,000 four times a second.
        self.owned: OrderedDict[str, _Owned] = OrderedDict()
        self.renewals = 0  # answered from memory (for /metrics-like counters and tests)

    # ---- the request path ----

    def fresh(self) -> bool:
        """Whether an acknowledgment now is covered: the session outlives it by expire_after."""
        return self.session is not None and self.valid_until - self.clock() >= self.expire_after

    def renew(self, name: str, patch: Any) -> Obj | None:
        """Acknowledge a renewal from memory: the Lease as renewed, or None (then write it to etcd)."""
        owned = self.owned.get(name)
        if owned is None or not is_renewal(patch, owned.obj):
            return None
        if not self.fresh():
            raise TemporaryError("the apiserver's heartbeat session is not confirmed; retry", delay=0.5)
        owned.obj["spec"]["renewTime"] = patch["spec"]["renewTime"]
        owned.stamped = None
        owned.renewed = self.clock()
        self.owned.move_to_end(name)
        self.renewals += 1
        return owned.obj

    def stamp(self, name: str, template: Obj) -> bytes | None:
        """A renewal stamped here (`+` on a renewal stream): `template` renewed now. The answer line, or
        None (then write it to etcd). renewTime is formatted when the Lease is read, not per renewal."""
        owned = self.owned.get(name)
        if owned is None:
            return None
        if owned.template is not template:
            if not is_renewal(template, owned.obj):
                return None
            owned.template = template
        now = self.clock()
        if self.session is None or self.valid_until - now < self.expire_after:  # fresh(), inlined: per renewal
            raise TemporaryError("the apiserver's heartbeat session is not confirmed; retry", delay=0.5)
        owned.renewed = now
        owned.stamped = self.wall()
        self.owned.move_to_end(name)
        self.renewals += 1
        return owned.ok

    def current(self, name: str) -> Obj | None:
        owned = self.owned.get(name)
        if owned is None:
            return None
        if owned.stamped is not None:
            owned.obj["spec"]["renewTime"] = iso_time(datetime.fromtimestamp(owned.stamped, timezone.utc))
            owned.stamped = None
        return owned.obj

    @contextlib.contextmanager
    def writing(self, plural: str, name: str | None, body: Any) -> Iterator[bool]:
        """Around a write: a node's Lease is attached to the session (yields whether it is)."""
        if plural != "leases" or not is_node_lease(name, body):
            yield False
            return
        if not self.fresh():
            raise TemporaryError("the apiserver's heartbeat session is not confirmed; retry", delay=0.5)
        token = ATTACH_LEASE.set(self.session)
        try:
            yield True
        finally:
            ATTACH_LEASE.reset(token)

    def wrote(self, obj: Obj) -> None:
        """After a write attached to the session: this apiserver now keeps the Lease alive."""
        name = obj["metadata"]["name"]
        self.owned.pop(name, None)  # to the end: the newest renewal
        self.owned[name] = _Owned(obj=obj, revision=int(obj["metadata"]["resourceVersion"]), renewed=self.clock())

    def forget(self, name: str) -> None:
        self.owned.pop(name, None)

    def observe(self, event: WatchEvent) -> None:
        """Every Lease event (from the watch): a Lease written or deleted elsewhere is no longer ours
        to renew from memory; the kubelet's next renewal writes (or creates) it again."""
        name = event.obj.get("metadata", {}).get("name")
        owned = self.owned.get(name)
        if owned is not None and (event.kind == "DELETE" or event.revision != owned.revision):
            del self.owned[name]

    # ---- the background loop ----

    async def keep_alive(self) -> None:
        """One keepalive; a new session when the old one expired (everything it held is gone with it)."""
        sent = self.clock()
        if self.session is not None:
            left = await self.store.keep_alive(self.session)
            if left > 0:
                self.valid_until = sent + left
                return
            log.warning("heartbeat session expired (the apiserver was stopped or cut off); node Leases it held are gone")
        self.owned.clear()
        self.session = await self.store.grant_lease(self.session_ttl)
        self.valid_until = sent + self.session_ttl

    async def sweep(self) -> None:
        """Delete the Lease of every node silent for expire_after (only the revision written here)."""
        if self.clock() > self.valid_until:
            self.owned.clear()  # the session may have expired; etcd deletes what it held
            return
        now = self.clock()
        silent = []
        for name, owned in self.owned.items():
            if now - owned.renewed < self.expire_after:
                break  # every later one was renewed after this one
            silent.append((name, owned))
        for name, owned in silent:
            self.owned.pop(name, None)
            try:
                await self.store.delete("leases", name, expected_rv=owned.revision)
                log.warning("node %s: no lease renewal for %.1fs: its Lease is deleted", name, now - owned.renewed)
            except (Conflict, NotFound):
                pass  # written meanwhile (by another apiserver) or already gone: not ours to end

    async def _keep_alive_forever(self) -> None:
        while True:
            started = self.clock()
            try:
                await self.keep_alive()
            except ApiError as exc:
                log.warning("heartbeat session keepalive failed: %s", exc.message)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise
                log.warning("heartbeat session keepalive cut off (etcd failover); retrying")
            except Exception:  # the loop must outlive any one failure, or every node looks silent
                log.exception("heartbeat session keepalive failed")
            await asyncio.sleep(max(0.0, self.keepalive_interval - (self.clock() - started)))

    async def run(self) -> None:
        # The keepalive has its own loop: a sweep busy deleting must not make the session stale.
        keeping = asyncio.create_task(self._keep_alive_forever())
        try:
            while True:
                try:
                    await self.sweep()
                except ApiError as exc:
                    log.warning("heartbeat sweep failed: %s", exc.message)
                except asyncio.CancelledError:
                    task = asyncio.current_task()
                    if task is not None and task.cancelling():
                        raise
                except Exception:
                    log.exception("heartbeat sweep failed")
                await asyncio.sleep(self.sweep_interval)
        finally:
            await cancel_and_wait(keeping)
