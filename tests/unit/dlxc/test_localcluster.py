from __future__ import annotations

from pathlib import Path

import pytest

from dlxc.cluster.local import LocalCluster, LocalNode, stop_order


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
