from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from pydantic import ValidationError

from kubelet.lease import Deadline, LeaseSettings, NodeLease, Wheel, fence_due, fence_targets


@pytest.mark.parametrize(
    ("now", "last", "timeout", "due"),
    [
        (10.0, 9.0, 6.0, False),
        (15.9, 10.0, 6.0, False),
        (16.0, 10.0, 6.0, True),
        (30.0, 10.0, 6.0, True),
    ],
    ids=["just-renewed", "just-before", "exactly-at", "long-after"],
)
def test_fence_due(now: float, last: float, timeout: float, due: bool) -> None:
    assert fence_due(now=now, last_renewed=last, fence_timeout=timeout) is due


def obj(failover: str | None) -> dict:
    return {"spec": {"image": "busybox", **({"failover": failover} if failover else {})}}


@pytest.mark.parametrize(
    ("local", "objects", "targets"),
    [
        ([], {}, []),
        (["a", "b"], {"a": obj("Always"), "b": obj(None)}, ["a", "b"]),
        (["a", "b"], {"a": obj("Never"), "b": obj("Always")}, ["b"]),
        (["orphan"], {}, ["orphan"]),
        (["a"], {"a": obj("Never"), "gone": obj("Always")}, []),
    ],
    ids=["nothing", "all-may-fail-over", "never-stays", "orphan-stopped", "only-local-ones"],
)
def test_fence_targets(local: list[str], objects: dict, targets: list[str]) -> None:
    assert fence_targets(local, objects) == targets


def test_fence_timeout_must_exceed_the_renew_interval() -> None:
    with pytest.raises(ValidationError, match="fence timeout 1s must be longer than the renew interval 1s"):
        LeaseSettings(renew_interval=1.0, fence_timeout=1.0)
    assert LeaseSettings().fence_timeout == 6.0


class Stream:
    """The renewal stream at the boundary: answers at once, or never (a partitioned apiserver)."""

    def __init__(self) -> None:
        self.hang = False
        self.renewals: list[float] = []
        self.stalled = False

    async def renew(self, spec: dict) -> dict:
        self.renewals.append(time.monotonic())
        if self.hang:
            await asyncio.Event().wait()
        return {"code": 200}

    async def close(self, *, move: bool = False) -> None:
        return None


def test_run_renews_every_interval_bounds_each_renewal_and_fences_after_the_fence_timeout() -> None:
    """The loop's own timer and deadline (kubelet.lease._sleep and Deadline, on the Wheel): renewals every
    renew_interval, a hanging one given up after request_timeout, fencing once the fence timeout passed."""
    stream = Stream()
    fenced: list[float] = []

    async def fence() -> None:
        fenced.append(time.monotonic())

    async def nothing() -> None:
        return None

    settings = LeaseSettings(renew_interval=0.1, fence_timeout=0.35, request_timeout=0.05)
    lease = NodeLease(None, "n1", settings, on_fence=fence, on_recover=nothing, stream=stream)  # type: ignore[arg-type]

    async def go() -> float:
        task = asyncio.create_task(lease.run())
        await asyncio.sleep(0.45)
        stream.hang = True
        silent = time.monotonic()
        while not fenced:
            assert time.monotonic() - silent < 2.0, "never fenced"
            await asyncio.sleep(0.01)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return silent

    silent = asyncio.run(go())
    gaps = [b - a for a, b in zip(stream.renewals, stream.renewals[1:])]
    assert all(0.09 <= gap <= 0.6 for gap in gaps), gaps  # every interval, hanging or not (slack for a loaded CI)
    assert lease.last_renewed <= silent and fenced[0] - lease.last_renewed >= settings.fence_timeout
    assert fenced[0] - silent <= settings.fence_timeout + 1.0  # each hanging renewal given up in time
    assert lease.renewed.is_set() and lease.failing and lease.fenced


class Loop:
    """The loop's timers at the boundary: call_at recorded, fired by the test; time as the test sets it."""

    def __init__(self) -> None:
        self.timers: list[tuple[float, Any, Any]] = []

    def call_at(self, when: float, callback: Any, arg: Any) -> None:
        self.timers.append((when, callback, arg))


def test_wheel_entries_due_in_one_millisecond_share_a_loop_timer_and_cancelled_ones_do_not_fire() -> None:
    loop = Loop()
    wheel = Wheel()
    fired: list[str] = []
    wheel.call_at(loop, 10.0001, fired.append, "a")  # type: ignore[arg-type]
    cancelled = wheel.call_at(loop, 10.0009, fired.append, "b")  # type: ignore[arg-type]
    wheel.call_at(loop, 10.001, fired.append, "c")  # type: ignore[arg-type]
    wheel.call_at(loop, 10.0011, fired.append, "d")  # type: ignore[arg-type]
    Wheel.cancel(cancelled)
    assert [when for when, _, _ in loop.timers] == [10.001, 10.002]  # never before an entry's own time
    for _, callback, slot in loop.timers:
        callback(slot)
    assert fired == ["a", "c", "d"] and wheel.slots == {}


def test_a_deadline_raises_timeout_error_and_leaves_an_outside_cancel_alone() -> None:
    async def go() -> tuple[bool, bool]:
        loop = asyncio.get_running_loop()
        wheel = Wheel()
        task = asyncio.current_task()
        assert task is not None
        timed_out = False
        try:
            async with Deadline(loop, task, loop.time() + 0.02, wheel):
                await asyncio.sleep(1.0)
        except TimeoutError:
            timed_out = True
        async with Deadline(loop, task, loop.time() + 1.0, wheel):
            await asyncio.sleep(0.01)  # in time: nothing happens, and nothing fires later
        await asyncio.sleep(0.02)

        async def cancelled_from_outside() -> None:
            async with Deadline(loop, asyncio.current_task(), loop.time() + 1.0, wheel):  # type: ignore[arg-type]
                await asyncio.sleep(1.0)

        inner = asyncio.create_task(cancelled_from_outside())
        await asyncio.sleep(0.01)
        inner.cancel()
        outcome = await asyncio.gather(inner, return_exceptions=True)
        return timed_out, isinstance(outcome[0], asyncio.CancelledError)

    assert asyncio.run(go()) == (True, True)
