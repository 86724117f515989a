from __future__ import annotations

import asyncio
import time

import pytest
from pydantic import ValidationError

from kubelet.lease import LeaseSettings, NodeLease, fence_due, fence_targets


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
    """The loop's own timer and deadline (kubelet.lease._sleep, timeout_at on the loop): renewals every
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
