"""Leader election through a Lease object, with a fencing token that conditions every write of the leader.

A term begins when a candidate *creates* the Lease; the resourceVersion the create returns is the
term's fencing token. While leading, the client sends `X-Dlxc-Lease-Fence: NAME=TOKEN` with every
write, and the apiserver commits a write only if the Lease is still the one created at TOKEN,
checked in the write's own etcd transaction. Renewals update the Lease (same term, same token);
a takeover deletes and re-creates it (new term, new token), so a deposed leader's late writes are
refused even if it was frozen (SIGSTOP) in the middle of one.

Timers: the leader renews every `renew_interval` (2 s) and steps down when it could not renew for
`renew_deadline` (4 s); a candidate takes over after it has seen the Lease unchanged for
`duration` (5 s) on its own clock. A candidate watches the Lease, so it sees each renewal the moment
it lands and wakes exactly when the Lease could have expired (a poll would see it up to one poll
period late and add that to every handover); the takeover itself still starts from a fresh read.
Each renewal is an etcd write: with the scheduler's and the
controller's Leases that is 1 write/s on an idle cluster (1 s renewals made them its largest writer). Shorter hands over faster after a crash; longer rides out
slow apiservers and pauses without a needless handover (which costs the new leader a relist).
"""
from __future__ import annotations

import asyncio
import logging
import math
import os
import socket
import time
from collections.abc import Awaitable, Callable

from dlxc.client.api import Client
from dlxc.client.errors import AlreadyExists, ApiError, Conflict, NotFound
from dlxc.client.informer import Informer
from dlxc.tasks import cancel_and_wait
from schemas.base import Obj, now_iso

__all__ = ["LeaderElection", "default_identity", "expired"]

log = logging.getLogger("dlxc.client.leaderelection")


def default_identity() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def expired(*, now: float, last_change_seen: float, duration: float) -> bool:
    """Whether a Lease seen unchanged since `last_change_seen` (candidate's clock) may be taken over."""
    return now - last_change_seen >= duration


class LeaderElection:
    def __init__(
        self,
        client: Client,
        name: str,
        *,
        identity: str | None = None,
        duration: float = 5.0,
        renew_interval: float = 2.0,
        renew_deadline: float = 4.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not renew_interval < renew_deadline < duration:
            raise ValueError("leader election needs renew interval < renew deadline < lease duration")
        self.client = client
        self.name = name
        self.identity = identity or default_identity()
        self.duration = duration
        self.renew_interval = renew_interval
        self.renew_deadline = renew_deadline
        self.clock = clock
        self.token: str | None = None  # the term's fencing token while leading
        self.terms = 0
        self._rv: str | None = None
        self._uid: str | None = None  # the term's Lease object: a takeover deletes and re-creates it
        self._seen: tuple[str, float] | None = None  # (resourceVersion, when this candidate first saw it)
        self._lease_absent = False

    @property
    def leading(self) -> bool:
        return self.token is not None

    def _spec(self, transitions: int) -> Obj:
        now = now_iso()
        return {"holderIdentity": self.identity, "leaseDurationSeconds": max(1, math.ceil(self.duration)),
                "acquireTime": now, "renewTime": now, "leaseTransitions": transitions}

    def _note(self, lease: Obj | None) -> None:
        """A version of the Lease seen now (None: there is none): its unchanged time starts here."""
        if lease is None:
            self._seen = None
        elif self._seen is None or self._seen[0] != lease["metadata"]["resourceVersion"]:
            self._seen = (lease["metadata"]["resourceVersion"], self.clock())

    def _next_look(self) -> float:
        """Seconds until the next attempt: when the Lease seen could expire, and at least every half renew interval
        (the watch may be down; the reads then see renewals as before)."""
        if self._seen is None:
            return 0.0 if self._lease_absent else self.renew_interval / 2
        left = self._seen[1] + self.duration - self.clock()
        return max(0.0, min(left, self.renew_interval / 2))

    async def _acquire(self) -> None:
        """Until this candidate leads: a watch on the Lease notes each change; an attempt whenever it could succeed."""
        changed = asyncio.Event()

        async def on_lease(name: str, old: Obj | None, new: Obj | None) -> None:
            self._lease_absent = new is None
            self._note(new)
            changed.set()

        informer = Informer(self.client, "leases", on_lease, field_selector=f"metadata.name={self.name}")
        watching = asyncio.create_task(informer.run())
        try:
            while True:
                try:
                    if await self.try_acquire():
                        return
                except ApiError as exc:
                    log.warning("leader election %s: %s", self.name, exc.message)
                    self._lease_absent = False
                    await asyncio.sleep(self.renew_interval / 2)
                    continue
                # Sleep until the next look is due; a change seen by the watch moves that time (a renewal puts it
                # off, a deletion brings it forward) without a read of its own.
                while not self._lease_absent:
                    changed.clear()
                    try:
                        await asyncio.wait_for(changed.wait(), self._next_look())
                    except asyncio.TimeoutError:
                        break
        finally:
            await cancel_and_wait(watching)

    async def try_acquire(self) -> bool:
        """One attempt: create the Lease, or take an expired one over. True when this candidate leads."""
        transitions = 0
        try:
            current = await self.client.get("leases", self.name)
        except NotFound:
            current = None
        self._lease_absent = current is None
        if current is not None:
            rv = current["metadata"]["resourceVersion"]
            if self._seen is None or self._seen[0] != rv:
                self._note(current)
                return False
            if not expired(now=self.clock(), last_change_seen=self._seen[1], duration=self.duration):
                return False
            transitions = int(current["spec"].get("leaseTransitions") or 0) + 1
            log.warning("lease %s of %s expired; taking over", self.name, current["spec"].get("holderIdentity"))
            try:
                await self.client.delete("leases", self.name)
            except NotFound:
                pass
        try:
            created = await self.client.create("leases", {"metadata": {"name": self.name}, "spec": self._spec(transitions)})
        except AlreadyExists:
            # Another candidate created it first. What the watch noted of that create stays: forgetting it made
            # this candidate time the new term from its next read, up to a read interval late (a 6.08 s handover).
            self._lease_absent = False
            return False
        self.token = self._rv = created["metadata"]["resourceVersion"]
        self._uid = created["metadata"].get("uid")
        self.terms += 1
        log.info("%s leads %s (term %s)", self.identity, self.name, self.token)
        return True

    async def renew(self) -> None:
        """Renew the term; Conflict or NotFound when someone else holds the Lease now."""
        patch = {"metadata": {"resourceVersion": self._rv}, "spec": {"renewTime": now_iso()}}
        try:
            renewed = await self.client.patch("leases", self.name, patch)
        except Conflict:
            # A renewal we gave up on (timed out on a slow apiserver) may still have landed and moved
            # the version on: still our term if the Lease is the object we created and names us.
            current = await self.client.get("leases", self.name)
            if not self._still_ours(current):
                raise
            self._rv = current["metadata"]["resourceVersion"]
            renewed = await self.client.patch("leases", self.name,
                                              {"metadata": {"resourceVersion": self._rv}, "spec": {"renewTime": now_iso()}})
        if not self._still_ours(renewed):
            raise Conflict(f"lease {self.name} is held by {renewed['spec'].get('holderIdentity')}")
        self._rv = renewed["metadata"]["resourceVersion"]

    def _still_ours(self, lease: Obj) -> bool:
        return (lease["spec"].get("holderIdentity") == self.identity
                and (self._uid is None or lease["metadata"].get("uid") == self._uid))

    async def _hold(self) -> None:
        """Renew until the term is lost or the renew deadline passes; then return."""
        last_ok = self.clock()
        while True:
            await asyncio.sleep(self.renew_interval)
            started = self.clock()
            try:
                await asyncio.wait_for(self.renew(), self.renew_interval)
                last_ok = started
            except (Conflict, NotFound) as exc:
                log.warning("lost lease %s: %s", self.name, exc.message)
                return
            except (ApiError, asyncio.TimeoutError) as exc:
                log.warning("renewing lease %s failed: %s", self.name, getattr(exc, "message", None) or type(exc).__name__)
            if self.clock() - last_ok >= self.renew_deadline:
                log.warning("could not renew lease %s for %.1fs; stepping down", self.name, self.renew_deadline)
                return

    async def run(self, lead: Callable[[], Awaitable[None]]) -> None:
        """Forever: wait to become leader, run `lead()` with every write fenced, stop it when the term ends."""
        while True:
            await self._acquire()
            assert self.token is not None
            self.client.fence = (self.name, self.token)
            work = asyncio.create_task(lead())
            hold = asyncio.create_task(self._hold())
            try:
                await asyncio.wait({work, hold}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                await cancel_and_wait(work, hold)
                self.client.fence = None
                self.token = None
                self._seen = None
            if work.done() and not work.cancelled() and work.exception() is not None:
                raise work.exception()  # type: ignore[misc]
