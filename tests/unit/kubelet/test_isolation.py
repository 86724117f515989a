"""Cluster isolation: which addresses belong to which ContainerCluster, and the exact nftables text."""
from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from kubelet.isolation import cluster_addresses, isolation_rules
from schemas.wire import CLUSTER_LABEL

NET = ipaddress.IPv4Network("10.88.0.0/16")


def ct(name: str, cluster: str | None, ipv4: str | None, *, network: str = "cluster", deleting: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": {CLUSTER_LABEL: cluster} if cluster else {}}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    spec: dict[str, Any] = {"image": "busybox", "network": {"type": network}}
    if ipv4:
        spec["network"]["ipv4"] = ipv4
    return {"metadata": meta, "spec": spec}


@pytest.mark.parametrize(
    ("containers", "expected"),
    [
        ([ct("b-frontend", "b", "10.88.0.20/16"), ct("a-node1", "a", "10.88.0.10/16"), ct("a-frontend", "a", "10.88.0.9/16")],
         {"a": ["10.88.0.9", "10.88.0.10"], "b": ["10.88.0.20"]}),
        # Not a member, no address yet, or on a node bridge: nothing to isolate.
        ([ct("plain", None, "10.88.0.5/16"), ct("a-node2", "a", None), ct("a-node3", "a", None, network="bridge")], {}),
        # A member being deleted still runs: it stays fenced in until it is gone.
        ([ct("a-node1", "a", "10.88.0.10/16", deleting=True)], {"a": ["10.88.0.10"]}),
    ],
    ids=["grouped-sorted", "not-members", "deleting-kept"],
)
def test_cluster_addresses(containers: list[dict[str, Any]], expected: dict[str, list[str]]) -> None:
    assert cluster_addresses(containers) == expected


def test_rules_text() -> None:
    text = isolation_rules("dlxc-iso-br0", {"a": ["10.88.0.9", "10.88.0.10"], "b": ["10.88.0.20"]}, NET)
    assert text == (
        "table bridge dlxc-iso-br0 {}\n"
        "delete table bridge dlxc-iso-br0\n"
        "table bridge dlxc-iso-br0 {\n"
        "  set members { type ipv4_addr; elements = { 10.88.0.9, 10.88.0.10, 10.88.0.20 }; }\n"
        '  set c0 { type ipv4_addr; elements = { 10.88.0.9, 10.88.0.10 }; comment "cluster a"; }\n'
        '  set c1 { type ipv4_addr; elements = { 10.88.0.20 }; comment "cluster b"; }\n'
        "  chain isolate {\n"
        "    ip saddr 10.88.0.1 accept\n"
        "    ip daddr 10.88.0.1 accept\n"
        "    ip saddr @c0 ip daddr @c0 accept\n"
        "    ip saddr @c1 ip daddr @c1 accept\n"
        "    ip saddr @members ip daddr 10.88.0.0/16 drop\n"
        "    ip saddr 10.88.0.0/16 ip daddr @members drop\n"
        "  }\n"
        "  chain forward { type filter hook forward priority filter; policy accept; jump isolate; }\n"
        "  chain output { type filter hook output priority filter; policy accept; jump isolate; }\n"
        "}\n"
    )


def test_no_clusters_removes_the_table() -> None:
    assert isolation_rules("dlxc-iso-br0", {}, NET) == "table bridge dlxc-iso-br0 {}\ndelete table bridge dlxc-iso-br0\n"
