"""Hollow nodes (scale tooling only): the mix of node sizes and the status they post."""
from __future__ import annotations

import asyncio

from dlxc.sim.hollow import HollowNode, HollowNodes, mixed_nodes, reported
from schemas.wire import HOLLOW_LABEL

GI = 2**30


def test_mixed_nodes_are_the_same_for_a_seed() -> None:
    nodes = mixed_nodes(6, prefix="h", seed=4)
    assert nodes == mixed_nodes(6, prefix="h", seed=4)
    assert [n.name for n in nodes] == [f"h-0000{i}" for i in range(6)]
    assert [n.labels["zone"] for n in nodes] == ["zone-0", "zone-1", "zone-2"] * 2
    assert all(n.labels[HOLLOW_LABEL] == "true" for n in nodes)
    # About half small, a third medium, the rest large (the shares of SIZES: 0.5, 0.35, 0.15).
    sizes = [n.labels["size"] for n in mixed_nodes(1000, seed=4)]
    counts = {s: sizes.count(s) for s in ("small", "medium", "large")}
    assert 450 <= counts["small"] <= 550 and 300 <= counts["medium"] <= 400 and 100 <= counts["large"] <= 200


def test_the_status_is_ready_with_the_made_up_capacity() -> None:
    node = HollowNode("h-1", 8, 32 * GI, 200 * GI, 60)
    status = HollowNodes(None, [node]).status_of(node)  # type: ignore[arg-type]
    assert status["conditions"][0]["type"] == "Ready" and status["conditions"][0]["status"] == "True"
    assert status["allocatable"] == status["capacity"] == {"cpu": 8, "memory": 32 * GI, "disk": 200 * GI, "containers": 60}
    assert status["containerCount"] == 0


def test_a_hollow_node_posts_its_status_only_when_a_real_kubelet_would() -> None:
    # As kubelet.usage.status_due decides for a real kubelet: an idle node's 10 s looks write nothing
    # until its status changes or grows old; forced posts (registration) always write.
    import asyncio

    posts: list[dict] = []

    class Api:
        async def replace_status(self, plural: str, body: dict) -> dict:
            posts.append(body["status"])
            return body

    node = HollowNode("h-1", 8, 32 * GI, 200 * GI, 60)
    hollow = HollowNodes(Api(), [node], status_max_age=300.0)  # type: ignore[arg-type]

    async def scenario() -> None:
        await hollow.heartbeat(node, force=False)  # nothing posted yet: due
        await hollow.heartbeat(node, force=False)  # idle, fresh: not due
        hollow.per_node["h-1"].add("c1")  # a container arrived: due
        await hollow.heartbeat(node, force=False)
        await hollow.heartbeat(node, force=False)
        hollow.posted["h-1"]["lastHeartbeatTime"] = "2020-01-01T00:00:00Z"  # old: due
        await hollow.heartbeat(node, force=False)
        await hollow.heartbeat(node)  # forced
    asyncio.run(scenario())
    assert [p["containerCount"] for p in posts] == [0, 1, 1, 1]


def test_settled_waits_for_every_node_registered_and_renewed_once() -> None:
    """The hollow CLI freezes the process's state for the garbage collector (dlxc.gctune) then, not before."""
    nodes = [HollowNode(f"n{i}", 2, 2**32, 2**34, 10) for i in range(3)]
    hollow = HollowNodes(None, nodes)  # type: ignore[arg-type]

    async def go() -> list[bool]:
        settled = asyncio.ensure_future(hollow.settled())
        seen = []
        for step in (hollow.registered.set, *(lease.renewed.set for lease in hollow.leases.values())):
            await asyncio.sleep(0.01)
            seen.append(settled.done())
            step()
        await asyncio.wait_for(settled, 1.0)
        return seen

    assert asyncio.run(go()) == [False, False, False, False]


def test_a_container_is_reported_again_after_a_spec_change() -> None:
    """Like a kubelet, a hollow node reports on each new generation, so `apply --wait` after a change ends."""
    def ct(generation: int, observed: int | None, phase: str = "Running") -> dict:
        status = {"phase": phase, **({"observedGeneration": observed} if observed is not None else {})}
        return {"metadata": {"name": "web", "generation": generation}, "status": status}

    assert reported(ct(1, 1))
    assert not reported(ct(2, 1))
    assert not reported(ct(1, 1, phase="Pending"))
