"""Hollow nodes (scale tooling, no LXC) with the scheduler: registered, Ready, and bound containers reported Running."""
from __future__ import annotations

import asyncio
import time

import pytest

from dlxc.sim.hollow import HollowNodes, mixed_nodes
from scheduler.loop import Scheduler
from schemas.wire import HOLLOW_LABEL

pytestmark = pytest.mark.timeout(90)


def test_hollow_nodes_register_heartbeat_and_report_running(api) -> None:
    async def go() -> None:
        async with api.client() as c:
            hollow = HollowNodes(c, mixed_nodes(5, prefix="h", seed=1), heartbeat_interval=0.5, concurrency=4)
            scheduler = Scheduler(c)
            tasks = [asyncio.create_task(hollow.run()), asyncio.create_task(scheduler.run())]
            try:
                await asyncio.wait_for(hollow.registered.wait(), 10)
                nodes, _ = await c.list("nodes", label_selector=f"{HOLLOW_LABEL}=true")
                assert [n["metadata"]["name"] for n in nodes] == [f"h-0000{i}" for i in range(5)]
                assert all(n["status"]["conditions"][0]["status"] == "True" for n in nodes)
                for i in range(10):
                    await c.create("containers", {"metadata": {"name": f"c{i}"}, "spec": {"image": "busybox", "cpu": 0.5}})
                deadline = time.monotonic() + 20
                while True:
                    items, _ = await c.list("containers")
                    if all(i["status"]["phase"] == "Running" for i in items):
                        break
                    assert time.monotonic() < deadline, [i["status"]["phase"] for i in items]
                    await asyncio.sleep(0.1)
                # Every Running container kept the scheduler's explanation, whoever wrote last.
                assert all(i["status"]["nodeName"] == i["spec"]["nodeName"] for i in items)
                expected: dict[str, int] = {}
                for item in items:
                    expected[item["spec"]["nodeName"]] = expected.get(item["spec"]["nodeName"], 0) + 1
                # The counts reach the Node objects with the next heartbeats (every 0.5 s): poll for them, generously.
                deadline = time.monotonic() + 20
                while True:
                    nodes, _ = await c.list("nodes")
                    per_node = {n["metadata"]["name"]: n["status"]["containerCount"] for n in nodes}
                    if {k: v for k, v in per_node.items() if v} == expected:
                        break
                    assert time.monotonic() < deadline, (per_node, expected)
                    await asyncio.sleep(0.1)
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(go())
