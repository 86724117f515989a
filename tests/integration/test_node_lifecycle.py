"""The node Lease and the node lifecycle controller against a real apiserver: NotReady, eviction, fencing."""
from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from controller.nodelifecycle import NodeLifecycleController, NodeLifecycleSettings
from kubelet.lease import LeaseSettings, NodeLease

pytestmark = pytest.mark.timeout(60)

# The apiserver deletes a silent node's Lease after EXPIRE (heartbeat_expire_after); the controller knows it.
EXPIRE = 1.0
FAST = NodeLifecycleSettings(node_grace=1.0, eviction_timeout=1.0, fence_timeout=1.5, fence_margin=0.5, period=0.1, lease_expire_after=EXPIRE)


async def until(what: str, check: Any, *, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = await check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def _noop() -> None:
    return None


def ready_of(node: dict) -> tuple[str, str]:
    cond = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
    return cond["status"], cond["reason"]


async def setup(c: Any) -> None:
    await c.create("nodes", {"metadata": {"name": "n1"}, "spec": {}, "status": {"conditions": [
        {"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}})
    for name, failover in (("a", "Always"), ("p", "Never"), ("other", "Always")):
        await c.create("containers", {"metadata": {"name": name}, "spec": {"image": "busybox", "failover": failover}})
        await c.bind(name, "n1" if name != "other" else "n2")


def test_silent_lease_marks_not_ready_then_moves_what_may_move(make_api: Any) -> None:
    api = make_api(heartbeat_expire_after=EXPIRE)

    async def go() -> None:
        async with api.client() as c:
            await setup(c)
            lease = NodeLease(c, "n1", LeaseSettings(renew_interval=0.2, fence_timeout=1.5), on_fence=_noop, on_recover=_noop)
            renewing = asyncio.create_task(lease.run())
            controller = asyncio.create_task(NodeLifecycleController(c, FAST).run())
            try:
                await asyncio.sleep(2.5)  # longer than grace + eviction: a renewing node is left alone
                assert ready_of(await c.get("nodes", "n1")) == ("True", "KubeletReady")
                assert (await c.get("containers", "a"))["spec"]["nodeName"] == "n1"
                renewing.cancel()
                stopped = time.monotonic()
                node = await until("NotReady", lambda: _not_ready(c))
                assert ready_of(node) == ("Unknown", "NodeStatusUnknown")
                moved = await until("a unbound", lambda: _unbound(c, "a"))
                assert time.monotonic() - stopped >= FAST.node_grace + FAST.eviction_timeout - 0.3
                scheduled = next(x for x in moved["status"]["conditions"] if x["type"] == "Scheduled")
                assert (scheduled["status"], scheduled["reason"]) == ("False", "NodeLost")
                assert scheduled["message"].startswith("evicted: node n1 lost: its lease was not renewed for ")
                pinned = await until("p marked NodeLost", lambda: _node_lost(c, "p"))
                assert pinned["spec"]["nodeName"] == "n1"
                assert (await c.get("containers", "other"))["spec"]["nodeName"] == "n2"
                # The controller writes each status first and its event after: wait for the events themselves.
                expected = {("n1", "NodeNotReady"), ("a", "Evicted"), ("p", "NodeLost")}
                await until("the NodeLost event of p", lambda: _has_events(c, expected))
                events, _ = await c.list("events")
                assert {(e["spec"]["involvedObject"]["name"], e["spec"]["reason"]) for e in events} == expected
                renewing = asyncio.create_task(lease.run())  # the node is back
                await until("NodeLost cleared", lambda: _node_lost_cleared(c, "p"))
            finally:
                renewing.cancel()
                controller.cancel()
                await asyncio.gather(renewing, controller, return_exceptions=True)

    asyncio.run(go())


async def _not_ready(c: Any) -> dict | None:
    node = await c.get("nodes", "n1")
    return node if ready_of(node)[0] != "True" else None


async def _unbound(c: Any, name: str) -> dict | None:
    obj = await c.get("containers", name)
    return obj if not obj["spec"].get("nodeName") else None


async def _node_lost(c: Any, name: str) -> dict | None:
    obj = await c.get("containers", name)
    return obj if any(x["type"] == "NodeLost" for x in obj["status"]["conditions"]) else None


async def _has_events(c: Any, expected: set[tuple[str, str]]) -> bool:
    events, _ = await c.list("events")
    return expected <= {(e["spec"]["involvedObject"]["name"], e["spec"]["reason"]) for e in events}


async def _node_lost_cleared(c: Any, name: str) -> bool:
    obj = await c.get("containers", name)
    return not any(x["type"] == "NodeLost" for x in obj["status"]["conditions"])


def test_lease_fences_when_the_apiserver_is_gone_and_recovers_after(api: Any) -> None:
    calls: list[tuple[str, float]] = []

    async def go() -> None:
        async with api.client() as c:
            t0 = time.monotonic()

            async def fence() -> None:
                calls.append(("fence", time.monotonic() - t0))

            async def recover() -> None:
                calls.append(("recover", time.monotonic() - t0))

            lease = NodeLease(c, "n1", LeaseSettings(renew_interval=0.2, fence_timeout=1.0, request_timeout=0.3), on_fence=fence, on_recover=recover)
            task = asyncio.create_task(lease.run())
            try:
                await asyncio.wait_for(lease.renewed.wait(), 5)
                got = await c.get("leases", "n1")
                assert (got["spec"]["holderIdentity"], got["spec"]["leaseDurationSeconds"]) == ("n1", 5)
                await asyncio.to_thread(api.server.stop)
                stopped = time.monotonic() - t0
                await until("fencing", lambda: _called(calls, "fence"))
                assert lease.fenced
                first_fence = next(t for k, t in calls if k == "fence")
                assert 0.6 <= first_fence - stopped <= 1.8
                await asyncio.to_thread(api.restart)
                await until("recovery", lambda: _called(calls, "recover"))
                await until("unfenced", lambda: _false(lease))
                assert [k for k, _ in calls].count("recover") == 1
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    asyncio.run(go())


async def _called(calls: list, kind: str) -> bool:
    return any(k == kind for k, _ in calls)


async def _false(lease: NodeLease) -> bool:
    return not lease.fenced


def test_a_node_without_a_lease_is_never_evicted(api: Any) -> None:
    settings = NodeLifecycleSettings(node_grace=0.5, eviction_timeout=1.0, fence_timeout=1.0, fence_margin=0.5,
                                     period=0.1, heartbeat_grace=1.0)

    async def go() -> None:
        async with api.client() as c:
            await setup(c)
            controller = asyncio.create_task(NodeLifecycleController(c, settings).run())
            try:
                node = await until("NotReady", lambda: _not_ready(c))
                assert ready_of(node) == ("Unknown", "NodeStatusUnknown")
                await asyncio.sleep(2.0)  # past grace + eviction: still bound, nothing fenced there
                assert (await c.get("containers", "a"))["spec"]["nodeName"] == "n1"
            finally:
                controller.cancel()
                await asyncio.gather(controller, return_exceptions=True)

    asyncio.run(go())
