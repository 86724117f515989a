"""Failover with real LXC on nodes that are network namespaces: power loss, long and short partitions."""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from netnodes import NetCluster, NetNode  # noqa: E402



@pytest.fixture
def netcluster(etcd, image_dir: Path, lxc_root: Path, tmp_path: Path) -> Iterator[NetCluster]:
    if os.geteuid() != 0:
        pytest.fail("network-namespace nodes need root")
    cluster = NetCluster(etcd.endpoint, tmp_path, lxc_root, image_dir, max_nodes=3)
    try:
        cluster.start()
        for _ in range(3):
            cluster.add_node()
        yield cluster
    finally:
        cluster.close()


async def _containers(cluster: NetCluster) -> dict[str, dict]:
    async with cluster.client() as c:
        items, _ = await c.list("containers")
    return {o["metadata"]["name"]: o for o in items}


def containers(cluster: NetCluster) -> dict[str, dict]:
    return asyncio.run(_containers(cluster))


def create(cluster: NetCluster, names: list[str], **spec: object) -> None:
    async def go() -> None:
        async with cluster.client() as c:
            for name in names:
                await c.create("containers", {"metadata": {"name": name}, "spec": {"image": "busybox", **spec}})

    asyncio.run(go())


def wait_until(what: str, check, *, timeout: float, every: float = 0.2):
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(every)


def all_running(cluster: NetCluster, names: list[str]) -> dict[str, dict] | None:
    objs = containers(cluster)
    if all(objs.get(n, {}).get("status", {}).get("phase") == "Running" for n in names):
        return objs
    return None


def busiest(cluster: NetCluster, objs: dict[str, dict]) -> tuple[NetNode, list[str]]:
    by_node = {n.name: [k for k, o in objs.items() if o["spec"].get("nodeName") == n.name] for n in cluster.nodes}
    name = max(by_node, key=lambda k: len(by_node[k]))
    return next(n for n in cluster.nodes if n.name == name), sorted(by_node[name])


def test_power_loss_moves_every_container_in_15s(netcluster: NetCluster, request: pytest.FixtureRequest) -> None:
    names = [f"pl-{i}" for i in range(6)]
    create(netcluster, names)
    objs = wait_until("every container Running", lambda: all_running(netcluster, names), timeout=90)
    lost, moved = busiest(netcluster, objs)
    assert moved, "the scheduler spread nothing to the busiest node"
    t0 = time.monotonic()
    lost_kubelet = lost.proc.pid if lost.proc else 0
    netcluster.power_loss(lost)

    def moved_and_running() -> dict[str, dict] | None:
        now = containers(netcluster)
        ok = all(now[n]["spec"].get("nodeName") not in (None, lost.name) and now[n]["status"].get("phase") == "Running" for n in moved)
        return now if ok else None

    after = wait_until("moved containers Running elsewhere", moved_and_running, timeout=40)
    elapsed = time.monotonic() - t0
    print(f"power loss of {lost.name}: {len(moved)} containers Running elsewhere after {elapsed:.1f}s")
    assert elapsed <= 15.0, f"recovery took {elapsed:.1f}s"
    node = asyncio.run(_get(netcluster, "nodes", lost.name))
    ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("Unknown", "NodeStatusUnknown")
    for name in moved:
        assert after[name]["metadata"]["generation"] >= 3  # bound, unbound, bound again
    reasons = asyncio.run(_event_reasons(netcluster))
    assert {"NodeNotReady", "Evicted"} <= reasons
    # The others never moved.
    for name in set(names) - set(moved):
        assert after[name]["spec"]["nodeName"] == objs[name]["spec"]["nodeName"]
    # Power comes back: the node removes its stale copies first, starts none of them, and is Ready.
    assert lost.defined() >= set(moved)
    # The lost kubelet's lxcfs ends with it, but one killed on its way out leaves its pid file: the
    # kubelet that starts lxcfs next removes such files (one made here stands for them).
    gone = subprocess.Popen(["true"])
    gone.wait()
    stale = netcluster.lxcfs_pidfile(gone.pid)
    stale.write_text(f"{gone.pid}\n")
    request.addfinalizer(lambda: stale.unlink(missing_ok=True))
    netcluster.start_kubelet(lost)

    def rejoined() -> bool:
        node = asyncio.run(_get(netcluster, "nodes", lost.name))
        ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
        return ready["status"] == "True" and not lost.defined()

    wait_until("the node Ready again without stale copies", rejoined, timeout=30)
    assert not lost.running()
    assert not stale.exists() and not netcluster.lxcfs_pidfile(lost_kubelet).exists()
    final = containers(netcluster)
    assert all(final[n]["spec"]["nodeName"] == after[n]["spec"]["nodeName"] for n in moved)


async def _get(cluster: NetCluster, plural: str, name: str) -> dict:
    async with cluster.client() as c:
        return await c.get(plural, name)


async def _event_reasons(cluster: NetCluster) -> set[str]:
    async with cluster.client() as c:
        items, _ = await c.list("events")
    return {e["spec"]["reason"] for e in items}


def test_partition_longer_than_fence_stops_before_moving_and_rejoins_clean(netcluster: NetCluster) -> None:
    names = [f"pt-{i}" for i in range(4)]
    create(netcluster, names, antiAffinity={"group": "pt", "mode": "preferred"})
    objs = wait_until("every container Running", lambda: all_running(netcluster, names), timeout=90)
    cut, moved = busiest(netcluster, objs)
    create(netcluster, ["pinned"], failover="Never", nodeName=cut.name)
    wait_until("pinned Running", lambda: all_running(netcluster, ["pinned"]), timeout=60)
    assert moved
    # Where each container runs, sampled: never on two nodes at once.
    last_on_cut: dict[str, float] = {}
    first_elsewhere: dict[str, float] = {}
    netcluster.partition(cut)
    t0 = time.monotonic()
    deadline = t0 + 45
    while time.monotonic() < deadline:
        # The other nodes first, then the cut one: the old copy never starts again once stopped, so
        # seeing it on the cut node after the new copy was seen elsewhere means both ran at once.
        for node in netcluster.nodes:
            if node is not cut:
                seen_at = time.monotonic()
                for name in node.running():
                    first_elsewhere.setdefault(name, seen_at)
        on_cut = cut.running()
        now = time.monotonic()
        for name in on_cut:
            last_on_cut[name] = now
        twice = {n for n in on_cut if n in first_elsewhere and n != "pinned"}
        assert not twice, f"running on two nodes at once: {twice} ({now - t0:.1f}s after the partition)"
        if all(n in first_elsewhere for n in moved) and not (on_cut & set(moved)):
            break
        time.sleep(0.1)
    else:
        raise AssertionError(f"not moved within 45s: {set(moved) - set(first_elsewhere)}")
    for name in moved:
        assert last_on_cut.get(name, t0) < first_elsewhere[name], name
    assert "pinned" in cut.running(), "failover: Never must keep running through a partition"
    pinned = wait_until("pinned marked NodeLost", lambda: next(
        (o for o in [containers(netcluster)["pinned"]] if any(c["type"] == "NodeLost" for c in o["status"]["conditions"])), None), timeout=10)
    assert pinned["spec"]["nodeName"] == cut.name
    netcluster.heal(cut)

    def rejoined() -> bool:
        node = asyncio.run(_get(netcluster, "nodes", cut.name))
        ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
        return ready["status"] == "True" and not (cut.defined() & set(moved))

    wait_until("the node Ready again without stale copies", rejoined, timeout=30)
    assert not (cut.running() & set(moved))
    wait_until("NodeLost cleared", lambda: not any(
        c["type"] == "NodeLost" for c in containers(netcluster)["pinned"]["status"]["conditions"]), timeout=10)


def test_partition_shorter_than_grace_moves_nothing(netcluster: NetCluster) -> None:
    names = [f"sp-{i}" for i in range(3)]
    create(netcluster, names)
    before = wait_until("every container Running", lambda: all_running(netcluster, names), timeout=90)
    cut = netcluster.nodes[0] if any(o["spec"]["nodeName"] == netcluster.nodes[0].name for o in before.values()) else busiest(netcluster, before)[0]
    running_before = cut.running()
    netcluster.partition(cut)
    time.sleep(3.0)  # < node grace (5 s) and < fence timeout (6 s)
    netcluster.heal(cut)
    time.sleep(4.0)  # long enough for a wrong eviction to have happened
    after = containers(netcluster)
    for name in names:
        assert after[name]["spec"]["nodeName"] == before[name]["spec"]["nodeName"], name
        assert after[name]["status"]["startedAt"] == before[name]["status"]["startedAt"], name
        assert after[name]["metadata"]["generation"] == before[name]["metadata"]["generation"], name
    assert cut.running() == running_before
    node = asyncio.run(_get(netcluster, "nodes", cut.name))
    assert next(c for c in node["status"]["conditions"] if c["type"] == "Ready")["status"] == "True"
