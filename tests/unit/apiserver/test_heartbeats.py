"""Heartbeats from memory: what counts as a renewal, when an acknowledgment is covered, and loops that outlive failures."""
from __future__ import annotations

import asyncio
from typing import Any

import pytest

from apiserver.heartbeats import Heartbeats, is_node_lease, is_renewal
from apiserver.storage import WatchEvent
from dlxc.client.errors import TemporaryError

HELD = {"metadata": {"name": "n1", "resourceVersion": "9"},
        "spec": {"holderIdentity": "n1", "leaseDurationSeconds": 5, "renewTime": "2026-01-01T00:00:00Z"}}


@pytest.mark.parametrize(
    ("patch", "renewal"),
    [
        ({"spec": {"holderIdentity": "n1", "renewTime": "2026-01-01T00:00:01Z", "leaseDurationSeconds": 5}}, True),
        ({"spec": {"renewTime": "2026-01-01T00:00:01Z"}}, True),
        ({"spec": {"holderIdentity": "other", "renewTime": "2026-01-01T00:00:01Z"}}, False),
        ({"spec": {"renewTime": "2026-01-01T00:00:01Z", "leaseDurationSeconds": 15}}, False),
        ({"spec": {"renewTime": "2026-01-01T00:00:01Z", "leaseTransitions": 1}}, False),
        ({"spec": {"renewTime": "2026-01-01T00:00:01Z"}, "metadata": {"labels": {"a": "b"}}}, False),
        ({"spec": {"holderIdentity": "n1"}}, False),
        ([], False),
    ],
    ids=["kubelet-renewal", "renew-time-only", "takeover", "new-duration", "other-field", "metadata-too", "no-renew-time", "not-a-patch"],
)
def test_is_renewal(patch: Any, renewal: bool) -> None:
    assert is_renewal(patch, HELD) is renewal


@pytest.mark.parametrize(
    ("name", "body", "node"),
    [("n1", {"spec": {"holderIdentity": "n1"}}, True), ("dlxc-scheduler", {"spec": {"holderIdentity": "host-1-42"}}, False),
     ("n1", {"metadata": {"name": "n1"}}, False), (None, {"spec": {"holderIdentity": "n1"}}, False)],
    ids=["kubelet", "leader-election", "no-holder", "no-name"],
)
def test_is_node_lease(name: str | None, body: Any, node: bool) -> None:
    assert is_node_lease(name, body) is node


class FakeStore:
    """The two etcd lease calls, failing as told."""

    def __init__(self, failures: list[BaseException]) -> None:
        self.failures = failures
        self.granted = 0

    async def grant_lease(self, ttl: int) -> int:
        if self.failures:
            raise self.failures.pop(0)
        self.granted += 1
        return 100 + self.granted

    async def keep_alive(self, lease_id: int) -> int:
        return 10


def test_an_acknowledgment_needs_a_session_that_outlives_it_by_expire_after() -> None:
    now = [0.0]
    beats = Heartbeats(FakeStore([]), expire_after=5.0, clock=lambda: now[0])  # type: ignore[arg-type]
    asyncio.run(beats.keep_alive())
    assert (beats.session, beats.session_ttl, beats.valid_until) == (101, 10, 10.0)
    beats.wrote({**HELD, "spec": dict(HELD["spec"])})
    assert beats.renew("n1", {"spec": {"renewTime": "2026-01-01T00:00:02Z"}})["spec"]["renewTime"] == "2026-01-01T00:00:02Z"
    now[0] = 5.5  # keepalives late: the session may end before expire_after from now
    with pytest.raises(TemporaryError):
        beats.renew("n1", {"spec": {"renewTime": "2026-01-01T00:00:03Z"}})


def test_a_lease_written_or_deleted_elsewhere_is_no_longer_renewed_from_memory() -> None:
    beats = Heartbeats(FakeStore([]), expire_after=5.0)  # type: ignore[arg-type]
    asyncio.run(beats.keep_alive())
    beats.wrote({**HELD, "spec": dict(HELD["spec"])})
    beats.observe(WatchEvent("PUT", HELD, None, 9))  # our own write: still ours
    assert beats.current("n1") is not None
    beats.observe(WatchEvent("PUT", {**HELD, "metadata": {"name": "n1", "resourceVersion": "12"}}, HELD, 12))
    assert beats.current("n1") is None
    assert beats.renew("n1", {"spec": {"renewTime": "2026-01-01T00:00:02Z"}}) is None  # written to etcd instead


def test_the_session_loop_outlives_a_failure_of_any_kind() -> None:
    """A gRPC call cut off by an etcd failover raises CancelledError; the loop must go on, or every
    node's renewals fail and every node looks silent (found by the chaos soak)."""
    store = FakeStore([asyncio.CancelledError(), RuntimeError("boom")])
    beats = Heartbeats(store, expire_after=1.0, keepalive_interval=0.05, sweep_interval=0.05)  # type: ignore[arg-type]

    async def go() -> None:
        task = asyncio.create_task(beats.run())
        await asyncio.sleep(0.5)
        assert not task.done()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(go())
    assert beats.session == 101 and beats.fresh()


class DeletingStore(FakeStore):
    """Also records the compare-and-swap deletes of a sweep."""

    def __init__(self) -> None:
        super().__init__([])
        self.deleted: list[tuple[str, int]] = []

    async def delete(self, plural: str, name: str, *, expected_rv: int) -> None:
        self.deleted.append((name, expected_rv))


def held(name: str, rv: int = 9) -> dict[str, Any]:
    return {"metadata": {"name": name, "resourceVersion": str(rv)},
            "spec": {"holderIdentity": name, "leaseDurationSeconds": 5, "renewTime": "2026-01-01T00:00:00Z"}}


def test_a_stamped_renewal_is_answered_from_memory_and_renew_time_formatted_when_read() -> None:
    now, wall = [0.0], [1_767_225_601.5]  # 2026-01-01T00:00:01.5Z
    beats = Heartbeats(FakeStore([]), expire_after=5.0, clock=lambda: now[0], wall=lambda: wall[0])  # type: ignore[arg-type]
    asyncio.run(beats.keep_alive())
    beats.wrote(held("n1"))
    template = {"spec": {"holderIdentity": "n1", "leaseDurationSeconds": 5, "renewTime": "2026-01-01T00:00:00Z"}}
    now[0] = 1.0
    assert beats.stamp("n1", template) == b'{"code":200,"resourceVersion":"9"}\n'
    assert beats.owned["n1"].renewed == 1.0 and beats.renewals == 1
    assert beats.owned["n1"].obj["spec"]["renewTime"] == "2026-01-01T00:00:00Z"  # not formatted per renewal
    assert beats.current("n1")["spec"]["renewTime"] == "2026-01-01T00:00:01.500000Z"
    # A JSON renewal after it wins: its own renewTime, no stale stamp formatted over it.
    beats.renew("n1", {"spec": {"renewTime": "2026-01-01T00:00:07Z"}})
    assert beats.current("n1")["spec"]["renewTime"] == "2026-01-01T00:00:07Z"


@pytest.mark.parametrize(
    ("template", "answered"),
    [({"spec": {"holderIdentity": "n1", "renewTime": "x"}}, True),
     ({"spec": {"holderIdentity": "other", "renewTime": "x"}}, False),
     ({"spec": {"leaseDurationSeconds": 40, "renewTime": "x"}}, False)],
    ids=["same-holder", "takeover", "new-duration"],
)
def test_a_stamp_repeats_its_template_only_when_that_is_a_renewal(template: Any, answered: bool) -> None:
    beats = Heartbeats(FakeStore([]), expire_after=5.0)  # type: ignore[arg-type]
    asyncio.run(beats.keep_alive())
    beats.wrote(held("n1"))
    assert (beats.stamp("n1", template) is not None) is answered  # None: written to etcd instead
    assert beats.stamp("n2", template) is None  # not held here


def test_a_stamp_needs_a_session_that_outlives_it_by_expire_after() -> None:
    now = [0.0]
    beats = Heartbeats(FakeStore([]), expire_after=5.0, clock=lambda: now[0])  # type: ignore[arg-type]
    asyncio.run(beats.keep_alive())
    beats.wrote(held("n1"))
    template = {"spec": {"renewTime": "x"}}
    assert beats.stamp("n1", template) is not None
    now[0] = 5.5
    with pytest.raises(TemporaryError):
        beats.stamp("n1", template)
    assert beats.owned["n1"].renewed == 0.0  # not acknowledged, not counted


def test_a_sweep_deletes_exactly_the_silent_leases_whatever_order_they_were_written_in() -> None:
    now = [0.0]
    store = DeletingStore()
    beats = Heartbeats(store, expire_after=5.0, clock=lambda: now[0])  # type: ignore[arg-type]
    asyncio.run(beats.keep_alive())
    for i, name in enumerate(["a", "b", "c", "d"]):
        beats.wrote(held(name, rv=10 + i))
    template = {"spec": {"renewTime": "x"}}
    now[0] = 3.0
    beats.stamp("a", template)  # a and c renewed later than b and d were written
    beats.renew("c", {"spec": {"renewTime": "2026-01-01T00:00:03Z"}})
    now[0] = 6.0
    asyncio.run(beats.sweep())
    assert sorted(store.deleted) == [("b", 11), ("d", 13)]
    assert list(beats.owned) == ["a", "c"]
    now[0] = 7.9
    asyncio.run(beats.sweep())
    assert sorted(store.deleted) == [("b", 11), ("d", 13)]  # a and c: 4.9 s silent, not yet
    now[0] = 8.0
    asyncio.run(beats.sweep())
    assert sorted(store.deleted) == [("a", 10), ("b", 11), ("c", 12), ("d", 13)]
