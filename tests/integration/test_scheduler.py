"""The scheduler against a real apiserver and etcd: nodes are registered through the API, no kubelet runs."""
from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from dlxc.client.api import Client
from scheduler.config import SchedulerSettings
from scheduler.loop import Scheduler
from schemas.base import Obj

pytestmark = pytest.mark.timeout(90)

GI = 2**30


def node_body(name: str, *, memory_gi: int = 8, cpu: float = 4, containers: int = 10, ready: str = "True",
              labels: dict[str, str] | None = None) -> Obj:
    alloc = {"cpu": cpu, "memory": memory_gi * GI, "disk": 100 * GI, "containers": containers}
    return {
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {},
        "status": {"conditions": [{"type": "Ready", "status": ready}], "capacity": alloc, "allocatable": alloc},
    }


def container_body(name: str, **spec: Any) -> Obj:
    return {"metadata": {"name": name}, "spec": {"image": "busybox", **spec}}


async def wait_for(check: Callable[[], Awaitable[Any]], *, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s; last: {result!r}")
        await asyncio.sleep(0.05)


async def bound_node(client: Client, name: str) -> str | None:
    return (await client.get("containers", name))["spec"].get("nodeName")


async def with_scheduler(client: Client, body: Callable[[Scheduler], Awaitable[None]], **settings: Any) -> None:
    scheduler = Scheduler(client, SchedulerSettings(**settings))
    task = asyncio.create_task(scheduler.run())
    try:
        await body(scheduler)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def scheduled_condition(obj: Obj) -> Obj:
    return next(c for c in obj["status"]["conditions"] if c["type"] == "Scheduled")


def test_placements_follow_free_memory_and_are_explained(api) -> None:
    async def go() -> None:
        async with api.client() as c:
            for name, memory in (("small", 8), ("medium", 16), ("large", 32)):
                await c.create("nodes", node_body(name, memory_gi=memory))

            async def body(scheduler: Scheduler) -> None:
                await c.create("containers", container_body("web", memory="4Gi"))
                assert await wait_for(lambda: bound_node(c, "web")) == "large"
                obj = await wait_for(lambda: _with_placement(c, "web", bound=True))
                placement = obj["status"]["placement"]
                # large: 30 + 30*28/32 + 20 + 18 = 94.25; medium: 30 + 30*12/16 + 38 = 90.5; small: 30 + 15 + 38 = 83
                assert placement["node"] == "large"
                assert placement["total"] == 94.25
                assert placement["scores"] == {"AvailableCPU": 100.0, "AvailableMemory": 87.5, "AvailableDisk": 100.0,
                                               "ContainerLoad": 90.0}
                assert [(r["node"], r["total"]) for r in placement["runnersUp"]] == [("medium", 90.5), ("small", 83.0)]
                assert (placement["nodes"], placement["feasible"], placement["rejected"]) == (3, 3, {})
                condition = scheduled_condition(obj)
                assert (condition["status"], condition["reason"], condition["message"]) == (
                    "True", "Scheduled", "node large scored 94.2 of 100 (3/3 nodes fit)"
                )
                assert obj["status"]["phase"] == "Scheduled"
                # 28Gi free on large and 16Gi on medium: the next 20Gi container only fits on large.
                await c.create("containers", container_body("db", memory="20Gi"))
                assert await wait_for(lambda: bound_node(c, "db")) == "large"
                await c.create("containers", container_body("cache", memory="6Gi"))
                assert await wait_for(lambda: bound_node(c, "cache")) == "medium"

            await with_scheduler(c, body)

    asyncio.run(go())


async def _with_placement(client: Client, name: str, *, bound: bool = False) -> Obj | None:
    obj = await client.get("containers", name)
    placement = obj["status"].get("placement")
    return obj if placement and (placement.get("node") or not bound) else None


def test_a_container_too_large_for_every_node_waits_with_a_per_node_message(api) -> None:
    async def go() -> None:
        async with api.client() as c:
            await c.create("nodes", node_body("a"))
            await c.create("nodes", node_body("b"))
            await c.create("nodes", node_body("down", ready="Unknown", memory_gi=128))

            async def pending_message() -> str | None:
                obj = await c.get("containers", "huge")
                conditions = [x for x in obj["status"].get("conditions", []) if x["type"] == "Scheduled"]
                return conditions[0]["message"] if conditions else None

            async def body(scheduler: Scheduler) -> None:
                await c.create("containers", container_body("huge", memory="64Gi"))
                message = await wait_for(pending_message)
                assert message == "0/3 nodes are available: 2 insufficient memory, 1 node not ready."
                obj = await c.get("containers", "huge")
                assert obj["status"]["phase"] == "Pending"
                assert obj["status"]["message"] == message
                assert scheduled_condition(obj)["reason"] == "Unschedulable"
                assert obj["status"]["placement"]["rejected"] == {"insufficient memory": 2, "node not ready": 1}
                assert "node" not in obj["status"]["placement"]
                # The node coming back is a change that may make room: tried again at once, not after backoff.
                down = await c.get("nodes", "down")
                down["status"]["conditions"] = [{"type": "Ready", "status": "True"}]
                await c.replace_status("nodes", down)
                assert await wait_for(lambda: bound_node(c, "huge"), timeout=5) == "down"
                placed = await wait_for(lambda: _with_placement(c, "huge", bound=True))
                assert scheduled_condition(placed)["status"] == "True"

            # A long backoff proves the retry came from the node change.
            await with_scheduler(c, body, retry_initial_seconds=60)

    asyncio.run(go())


def test_cordon_moves_new_placements_away(api) -> None:
    from conftest import dlxc

    async def go() -> None:
        async with api.client() as c:
            await c.create("nodes", node_body("big", memory_gi=64))
            await c.create("nodes", node_body("little", memory_gi=8))
            result = await asyncio.to_thread(dlxc, "cordon", "big", env=api.env())
            assert (result.returncode, result.stdout, result.stderr) == (0, "node/big cordoned\n", "")
            again = await asyncio.to_thread(dlxc, "cordon", "big", env=api.env())
            assert (again.returncode, again.stdout) == (0, "node/big already cordoned\n")
            assert (await c.get("nodes", "big"))["spec"]["unschedulable"] is True

            async def body(scheduler: Scheduler) -> None:
                await c.create("containers", container_body("one", memory="1Gi"))
                assert await wait_for(lambda: bound_node(c, "one")) == "little"
                result = await asyncio.to_thread(dlxc, "uncordon", "big", env=api.env())
                assert (result.returncode, result.stdout) == (0, "node/big uncordoned\n")
                await wait_for(lambda: _schedulable(scheduler, "big"))
                await c.create("containers", container_body("two", memory="1Gi"))
                assert await wait_for(lambda: bound_node(c, "two")) == "big"

            await with_scheduler(c, body)
            missing = await asyncio.to_thread(dlxc, "cordon", "nope", env=api.env())
            assert (missing.returncode, missing.stderr) == (1, "error: nodes/nope not found\n")

    asyncio.run(go())


async def _schedulable(scheduler: Scheduler, node: str) -> bool:
    return not scheduler.cache.table.info(node).unschedulable


def test_anti_affinity_spreads_a_group_of_three_across_three_nodes(api) -> None:
    async def go() -> None:
        async with api.client() as c:
            # Without the spread rule all three would go to "big".
            for name, memory in (("big", 64), ("mid", 16), ("low", 8)):
                await c.create("nodes", node_body(name, memory_gi=memory))

            async def body(scheduler: Scheduler) -> None:
                for i in range(3):
                    await c.create("containers", container_body(f"web-{i}", memory="1Gi",
                                                                antiAffinity={"group": "web"}))
                nodes = [await wait_for(lambda i=i: bound_node(c, f"web-{i}")) for i in range(3)]
                assert sorted(nodes) == ["big", "low", "mid"]
                await c.create("containers", container_body("web-3", memory="1Gi", antiAffinity={"group": "web"}))
                obj = await wait_for(lambda: _with_placement(c, "web-3"))
                assert obj["status"]["message"] == "0/3 nodes are available: 3 anti-affinity group already on node."
                # A preferred member may share, and goes where the group is thinnest and room is largest.
                await c.create("containers", container_body(
                    "web-4", memory="1Gi", antiAffinity={"group": "web", "mode": "preferred"}))
                assert await wait_for(lambda: bound_node(c, "web-4")) == "big"
                # Deleting the members on "big" makes room there: the waiting one is placed at once.
                await c.delete("containers", "web-4")
                await c.delete("containers", f"web-{nodes.index('big')}")
                assert await wait_for(lambda: bound_node(c, "web-3"), timeout=5) == "big"

            await with_scheduler(c, body, retry_initial_seconds=60)

    asyncio.run(go())


def test_a_burst_never_overcommits_a_node(api) -> None:
    async def go() -> None:
        async with api.client() as c:
            for i in range(3):
                await c.create("nodes", node_body(f"n{i}", cpu=2, containers=50))

            async def body(scheduler: Scheduler) -> None:
                await asyncio.gather(*(c.create("containers", container_body(f"c{i:02d}", cpu=0.5)) for i in range(20)))

                async def settled() -> list[Obj] | None:
                    items, _ = await c.list("containers")
                    done = [i for i in items if i["spec"].get("nodeName") or i["status"].get("placement")]
                    return items if len(done) == 20 else None

                items = await wait_for(settled)
                per_node: dict[str, float] = {}
                for item in items:
                    if item["spec"].get("nodeName"):
                        per_node[item["spec"]["nodeName"]] = per_node.get(item["spec"]["nodeName"], 0) + item["spec"]["cpu"]
                assert per_node == {"n0": 2.0, "n1": 2.0, "n2": 2.0}
                waiting = sorted({i["status"]["message"] for i in items if not i["spec"].get("nodeName")})
                assert waiting == ["0/3 nodes are available: 3 insufficient cpu."]
                # `bound` counts in _settle(), after the batch answer: wait for the binds in flight to settle.
                await wait_for(lambda: _settled(scheduler))
                assert scheduler.bound == 12

            await with_scheduler(c, body)

    asyncio.run(go())


def test_two_schedulers_never_bind_a_container_twice(api) -> None:
    async def go() -> None:
        async with api.client() as c, api.client() as other:
            for i in range(3):
                await c.create("nodes", node_body(f"n{i}", cpu=64, containers=100))
            second = Scheduler(other, SchedulerSettings(seed=1))
            second_task = asyncio.create_task(second.run())

            async def body(first: Scheduler) -> None:
                await asyncio.gather(*(c.create("containers", container_body(f"c{i:02d}", cpu=0.5)) for i in range(30)))

                async def all_bound() -> bool:
                    items, _ = await c.list("containers")
                    return all(i["spec"].get("nodeName") for i in items)

                await wait_for(all_bound)
                # Each container was bound once, by one of the two; the loser of a race got 409 and let go.
                await wait_for(lambda: _settled(first, second))
                assert first.bound + second.bound == 30

            try:
                await with_scheduler(c, body)
            finally:
                second_task.cancel()
                await asyncio.gather(second_task, return_exceptions=True)

    asyncio.run(go())


async def _settled(*schedulers: Scheduler) -> bool:
    return all(not s.cache.assumed and not s.in_flight for s in schedulers)


async def _events(client: Client, name: str, reason: str) -> list[Obj]:
    items, _ = await client.list("events", field_selector=f"involvedObject.kind=Container,involvedObject.name={name}")
    return sorted((e for e in items if e["spec"]["reason"] == reason), key=lambda e: e["metadata"]["creationTimestamp"])


def test_failed_scheduling_is_one_event_per_reason_whose_count_rises_then_scheduled(api) -> None:
    async def go() -> None:
        async with api.client() as c:
            await c.create("nodes", node_body("a"))
            await c.create("nodes", node_body("b"))

            async def counted(n: int) -> list[Obj] | None:
                found = await _events(c, "huge", "FailedScheduling")
                return found if found and int(found[-1]["status"].get("count", 1)) >= n else None

            async def body(scheduler: Scheduler) -> None:
                await c.create("containers", container_body("huge", memory="64Gi"))
                # Retried every 0.1-0.2 s: one event whose count rises, not one event per retry.
                found = await wait_for(lambda: counted(3))
                assert [(e["spec"]["type"], e["spec"]["message"], e["spec"]["source"]["component"]) for e in found] == [
                    ("Warning", "0/2 nodes are available: 2 insufficient memory.", "scheduler"),
                ]
                # A new reason is a new event.
                await c.create("nodes", node_body("down", ready="Unknown", memory_gi=128))
                found = await wait_for(lambda: _two_reasons(c))
                assert [e["spec"]["message"] for e in found] == [
                    "0/2 nodes are available: 2 insufficient memory.",
                    "0/3 nodes are available: 2 insufficient memory, 1 node not ready.",
                ]
                down = await c.get("nodes", "down")
                down["status"]["conditions"] = [{"type": "Ready", "status": "True"}]
                await c.replace_status("nodes", down)
                scheduled = await wait_for(lambda: _events(c, "huge", "Scheduled"))
                assert [(e["spec"]["type"], e["spec"]["message"]) for e in scheduled] == [
                    ("Normal", "assigned to node down; node down scored 83.0 of 100 (1/3 nodes fit)"),
                ]
                # Written with the bind, in its transaction (nothing writes the container after it here).
                assert scheduled[0]["metadata"]["resourceVersion"] == (await c.get("containers", "huge"))["metadata"]["resourceVersion"]

            await with_scheduler(c, body, retry_initial_seconds=0.1, retry_max_seconds=0.2)

    asyncio.run(go())


async def _two_reasons(client: Client) -> list[Obj] | None:
    found = await _events(client, "huge", "FailedScheduling")
    return found if len(found) == 2 else None
