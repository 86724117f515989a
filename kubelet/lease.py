"""The node Lease: renewed every heartbeat; a kubelet that cannot renew it for the fence timeout stops its containers.

The guarantee ("never two running copies") rests on two clocks that never need to agree:
the kubelet measures, on its own monotonic clock, the time since the *start* of its last renewal
that the apiserver acknowledged; the controller measures, on its own monotonic clock, the time
since it last *saw* the Lease change. A renewal is seen by the controller after it was sent, so
when the controller's count reaches grace + eviction timeout, the kubelet's count has passed the
fence timeout at least (grace + eviction - fence) seconds ago, and a fenced kubelet has stopped
every container that may fail over. Limits: a kubelet process that is dead (or SIGSTOPped) while
its host and containers live cannot fence; run it under systemd with `Restart=always` and a
`WatchdogSec=` shorter than the fence timeout, or power the host off (STONITH) before forcing.
"""
from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any

from dlxc.client.api import Client
from dlxc.client.errors import ApiError, NotFound
from dlxc.client.renewals import RenewalStream
from kubelet import sdnotify
from kubelet.settings import LeaseSettings
from schemas.base import Obj, now_iso

__all__ = ["Deadline", "LeaseSettings", "NodeLease", "Wheel", "deadline", "fence_due", "fence_targets"]

log = logging.getLogger("dlxc.kubelet.lease")


def fence_due(*, now: float, last_renewed: float, fence_timeout: float) -> bool:
    """Whether a kubelet whose last acknowledged renewal started at `last_renewed` must fence now."""
    return now - last_renewed >= fence_timeout


def fence_targets(local: list[str], objects: dict[str, Obj]) -> list[str]:
    """Local containers to stop when fencing: all but those whose object says `failover: Never`.

    A container without an object (deleted, or never seen) is stopped too: nothing claims it here.
    """
    keep = {name for name, obj in objects.items() if (obj.get("spec") or {}).get("failover") == "Never"}
    return [name for name in local if name not in keep]


class NodeLease:
    """Renews Lease NODE_NAME; calls `on_fence` once when renewals failed for the fence timeout,
    `on_recover` once when a renewal succeeds again after that, and `on_reconnect` when a renewal
    succeeds after shorter failures (the apiserver is back before any fence)."""

    def __init__(
        self,
        client: Client,
        node_name: str,
        settings: LeaseSettings | None = None,
        *,
        on_fence: Callable[[], Awaitable[None]],
        on_recover: Callable[[], Awaitable[None]],
        on_reconnect: Callable[[], Awaitable[None]] | None = None,
        clock: Callable[[], float] = time.monotonic,
        stream: RenewalStream | None = None,
        wheel: Wheel | None = None,
    ) -> None:
        self.client = client
        self.node_name = node_name
        self.settings = settings or LeaseSettings()
        self.on_fence = on_fence
        self.on_recover = on_recover
        self.on_reconnect = on_reconnect
        self.failing = False
        self.clock = clock
        self.last_renewed = clock()  # starting up counts as fresh: nothing runs before the first renewal
        self.fenced = False
        self.renewed = asyncio.Event()  # set after the first acknowledged renewal
        self.stream = stream or RenewalStream(client, node_name)  # a test gives a fake at this boundary
        # The timers of the renewal loop (shared by the NodeLeases of one process of hollow nodes).
        self.wheel = wheel or Wheel()
        self.spec = {"holderIdentity": node_name, "leaseDurationSeconds": self.settings.duration_seconds}  # renewTime: the stream's

    async def renew(self) -> None:
        """One renewal on the renewal stream (renewTime now; the apiserver answers it from memory, see
        apiserver/heartbeats.py); create the Lease when it is missing."""
        try:
            await self.stream.renew(self.spec)
        except NotFound:
            now = now_iso()
            await self.client.create("leases", {"metadata": {"name": self.node_name}, "spec": {**self.spec, "renewTime": now, "acquireTime": now}})

    async def tick(self, loop: asyncio.AbstractEventLoop | None = None, task: asyncio.Task[Any] | None = None) -> None:
        """One renewal, bounded by the request timeout; fence when renewals failed for the fence timeout.
        `loop` and `task`: the running loop and task, when the caller knows them (run() does)."""
        loop = loop or asyncio.get_running_loop()
        started = self.clock()
        try:
            # A deadline, not wait_for: no task per renewal (thousands a second in hollow nodes); and on
            # the loop and task known ahead: asyncio.timeout_at looks both up, and on Python 3.11 each
            # look-up is a getpid() syscall.
            async with deadline(loop, task, loop.time() + self.settings.request_timeout, self.wheel):
                await self.renew()
        except (ApiError, asyncio.TimeoutError) as exc:
            log.warning("lease renewal failed: %s", getattr(exc, "message", None) or type(exc).__name__)
            self.failing = True
            # Unanswered for several renewals: the stream hangs (a partition, a stopped apiserver);
            # the next renewal opens a new one, on the next apiserver.
            if self.stream.stalled:
                await self.stream.close(move=True)
        else:
            # Counted from when the request was sent: the server wrote it no earlier than that.
            self.last_renewed = max(self.last_renewed, started)
            self.renewed.set()
            if self.fenced:
                log.warning("lease renewed again after fencing; removing stale copies, then reconciling")
                try:
                    await self.on_recover()
                except ApiError as exc:
                    log.warning("recovery after fencing failed: %s; staying fenced", exc.message)
                    return
                self.fenced = False
            elif self.failing and self.on_reconnect is not None:
                await self.on_reconnect()
            self.failing = False
            return
        if self.fenced or fence_due(now=self.clock(), last_renewed=self.last_renewed, fence_timeout=self.settings.fence_timeout):
            if not self.fenced:
                log.warning("no lease renewal for %.1fs: fencing (stopping containers that may fail over)", self.clock() - self.last_renewed)
            self.fenced = True
            # Again on every failed tick while fenced: a start that was under way is stopped too.
            await self.on_fence()

    async def run(self) -> None:
        ready = False
        watched = sdnotify.enabled()  # not under systemd: no looking it up again every tick
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        try:
            while True:
                started = self.clock()
                await self.tick(loop, task)
                # Whether or not the renewal went through: the watchdog asks whether this loop (and so
                # fencing) still runs, and a tick is bounded by the request timeout.
                if watched:
                    if not ready and self.renewed.is_set():
                        ready = sdnotify.notify("READY=1")
                    sdnotify.notify("WATCHDOG=1")
                await _sleep(self.wheel, loop, max(0.0, self.settings.renew_interval - (self.clock() - started)))
        finally:
            await self.stream.close()


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


async def _sleep(wheel: Wheel, loop: asyncio.AbstractEventLoop, delay: float) -> None:
    """asyncio.sleep on a loop known ahead (asyncio.sleep looks the running loop up: a getpid() syscall,
    thousands of times a second in a process of hollow nodes), woken by the wheel."""
    future = loop.create_future()
    entry = wheel.call_at(loop, loop.time() + delay, _wake, future)
    try:
        await future
    finally:
        Wheel.cancel(entry)


class Wheel:
    """Timers of one loop due in the same millisecond share one loop timer.

    A process of 5,000 hollow nodes runs 5,000 renewal loops, and each renewal needs a deadline and a
    wake-up for the next one: a loop timer each (made, armed, cancelled, closed) was a fifth of that
    process's CPU. The loop's timers count in whole milliseconds anyway, so sharing them changes no
    timing; a kubelet runs the same code, with one entry per millisecond.
    """

    __slots__ = ("loop", "slots")

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.slots: dict[int, list[list[Any]]] = {}  # millisecond -> entries [callback, argument]

    def call_at(self, loop: asyncio.AbstractEventLoop, when: float, callback: Callable[[Any], None], arg: Any) -> list[Any]:
        """callback(arg) at `when` on loop's clock (not before its millisecond); cancel() the returned entry."""
        if loop is not self.loop:
            self.loop, self.slots = loop, {}  # a new loop (tests run several): the old one's timers are gone
        slot = math.ceil(when * 1000)
        entries = self.slots.get(slot)
        if entries is None:
            entries = self.slots[slot] = []
            loop.call_at(slot / 1000, self._fire, slot)
        entry = [callback, arg]
        entries.append(entry)
        return entry

    @staticmethod
    def cancel(entry: list[Any]) -> None:
        entry[0] = None

    def _fire(self, slot: int) -> None:
        for callback, arg in self.slots.pop(slot, ()):
            if callback is not None:
                callback(arg)


class Deadline:
    """asyncio.timeout_at for a task known ahead: the same semantics (the task is cancelled at `when`,
    and the block raises TimeoutError), without looking up the running loop and task on every use."""

    __slots__ = ("cancelling", "entry", "expired", "loop", "task", "wheel", "when")

    def __init__(self, loop: asyncio.AbstractEventLoop, task: asyncio.Task[Any], when: float, wheel: Wheel) -> None:
        self.loop = loop
        self.task = task
        self.when = when
        self.wheel = wheel
        self.expired = False
        self.cancelling = 0
        self.entry: list[Any] | None = None

    async def __aenter__(self) -> Deadline:
        self.cancelling = self.task.cancelling()
        self.entry = self.wheel.call_at(self.loop, self.when, Deadline._expire, self)
        return self

    def _expire(self) -> None:
        self.expired = True
        self.task.cancel()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self.entry is not None:
            Wheel.cancel(self.entry)
        # Ours only if nobody else cancelled the task meanwhile (as asyncio.Timeout decides).
        if self.expired and self.task.uncancel() <= self.cancelling and exc_type is asyncio.CancelledError:
            raise TimeoutError from exc


def deadline(loop: asyncio.AbstractEventLoop, task: asyncio.Task[Any] | None, when: float, wheel: Wheel) -> Any:
    """A Deadline when the task is known, asyncio.timeout_at otherwise."""
    return Deadline(loop, task, when, wheel) if task is not None else asyncio.timeout_at(when)
