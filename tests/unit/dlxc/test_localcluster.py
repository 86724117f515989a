from __future__ import annotations

import threading
from pathlib import Path

import pytest

from dlxc.cluster.local import LocalCluster, LocalNode, node_ready, stop_containers, stop_order


def test_nodes_get_their_own_name_lxcpath_bridge_and_subnet() -> None:
    cluster = LocalCluster(Path("/s"), port=7000, node_name="box", nodes=3)
    assert cluster.local_nodes() == [
        LocalNode(0, "box", Path("/s/lxc"), "dlxcbr0", "10.77.0.1/24"),
        LocalNode(1, "box-1", Path("/s/lxc-1"), "dlxcbr0-1", "10.77.1.1/24"),
        LocalNode(2, "box-2", Path("/s/lxc-2"), "dlxcbr0-2", "10.77.2.1/24"),
    ]
    assert [n.component for n in cluster.local_nodes()] == ["kubelet", "kubelet-1", "kubelet-2"]


@pytest.mark.parametrize(
    ("members", "endpoints"),
    [(1, ["http://127.0.0.1:7001"]), (3, ["http://127.0.0.1:7001", "http://127.0.0.1:7003", "http://127.0.0.1:7005"])],
    ids=["one", "three"],
)
def test_etcd_members_take_two_ports_each_after_the_apiserver(members: int, endpoints: list[str]) -> None:
    cluster = LocalCluster(Path("/s"), port=7000, etcd_members=members)
    assert cluster.etcd_endpoints == endpoints
    assert cluster.etcd_ports(members - 1) == (7000 + 2 * members - 1, 7000 + 2 * members)


def test_stop_order_kubelets_first_etcd_last() -> None:
    names = ["etcd", "apiserver", "kubelet-1", "etcd-2", "scheduler", "kubelet", "controller", "etcd-1"]
    assert stop_order(names) == ["kubelet", "kubelet-1", "controller", "scheduler", "apiserver", "etcd", "etcd-1", "etcd-2"]


def test_allowed_host_paths_default_to_what_needs_no_trust() -> None:
    cluster = LocalCluster(Path("/s"))
    assert cluster.allowed_host_paths == ["/s/volumes", "/usr/share:ro"]
    wider = LocalCluster(Path("/s"), extra_host_paths=("/srv", "/home:ro"))
    assert wider.allowed_host_paths == ["/s/volumes", "/usr/share:ro", "/srv", "/home:ro"]


class SlowRuntime:
    """Stands in for LxcRuntime.stop: records how many stops overlap and the grace each was given."""

    def __init__(self, *, fail: set[str] = frozenset()) -> None:
        self.lock = threading.Lock()
        self.in_flight = 0
        self.most_in_flight = 0
        self.graces: dict[str, float] = {}
        self.fail = fail
        self.all_started = threading.Barrier(6, timeout=5)

    def stop(self, name: str, *, timeout: float) -> None:
        with self.lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            self.graces[name] = timeout
        self.all_started.wait()  # every stop is under way before any ends: they run side by side
        with self.lock:
            self.in_flight -= 1
        if name in self.fail:
            raise RuntimeError("boom")


def test_down_stops_every_container_at_once_each_with_the_full_grace() -> None:
    rt = SlowRuntime(fail={"c3"})
    names = [f"c{i}" for i in range(6)]
    failed = stop_containers([(rt, n) for n in names], grace=10.0)
    assert rt.most_in_flight == 6
    assert rt.graces == dict.fromkeys(names, 10.0)
    assert failed == ["c3"]
    assert stop_containers([], grace=10.0) == []


READY = [{"type": "Ready", "status": "True"}]


@pytest.mark.parametrize(
    ("status", "since", "ready"),
    [
        ({"conditions": READY, "lastHeartbeatTime": "2026-11-30T10:00:05.000000Z"}, None, True),
        ({"conditions": READY, "lastHeartbeatTime": "2026-11-30T10:00:05.000000Z"}, 1796032800.0, True),
        ({"conditions": READY, "lastHeartbeatTime": "2026-11-30T09:59:59.000000Z"}, 1796032800.0, False),
        ({"conditions": READY}, 1796032800.0, False),
        ({"conditions": [{"type": "Ready", "status": "False"}], "lastHeartbeatTime": "2026-11-30T10:00:05Z"}, None, False),
        ({}, None, False),
    ],
    ids=["ready", "posted-after", "left-by-the-last-kubelet", "never-posted", "not-ready", "no-status"],
)
def test_a_node_counts_as_ready_for_up_only_when_its_new_kubelet_says_so(status: dict, since: float | None, ready: bool) -> None:
    """After `dlxc down`, the Node keeps the last kubelet's Ready: `up` waits for a post by the kubelet it started."""
    assert node_ready(status, since=since) is ready
