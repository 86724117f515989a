"""Cluster address rules of the apiserver: which static addresses are refused, random picks, the update rule."""
from __future__ import annotations

import ipaddress
import random

import pytest

from apiserver.ipam import claim_name, cluster_ipv4, gateway_of, keep_address, random_candidates, static_problem
from dlxc.client.errors import Invalid

NET = ipaddress.IPv4Network("10.88.0.0/16")


@pytest.mark.parametrize(
    ("ipv4", "problem"),
    [
        ("10.88.5.10/16", None),
        ("10.88.255.254/16", None),
        ("10.89.0.5/16", "10.89.0.5 is outside the cluster network 10.88.0.0/16"),
        ("10.88.5.10/24", "the prefix must be the cluster network's: 10.88.5.10/16"),
        ("10.88.0.0/16", "10.88.0.0 is the network's own address"),
        ("10.88.255.255/16", "10.88.255.255 is the network's broadcast address"),
        ("10.88.0.1/16", "10.88.0.1 is the cluster network's gateway (every node's bridge holds it)"),
    ],
    ids=["ok", "last", "outside", "prefix", "network", "broadcast", "gateway"],
)
def test_static_problem(ipv4: str, problem: str | None) -> None:
    assert static_problem(NET, ipv4) == problem


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"image": "busybox"}, None),
        ({"network": {"type": "cluster"}}, None),
        ({"network": {"ipv4": "10.88.1.2/16"}}, "10.88.1.2/16"),
        ({"network": {"type": "bridge", "bridge": "br0"}}, False),
        ({"network": {"type": "none"}}, False),
    ],
    ids=["default", "cluster", "static", "bridge", "none"],
)
def test_cluster_ipv4(spec: dict, expected: object) -> None:
    assert cluster_ipv4(spec) == expected


def test_random_candidates_stay_in_the_network_and_avoid_reserved_addresses() -> None:
    small = ipaddress.IPv4Network("10.88.7.0/29")
    seen = set(random_candidates(small, random.Random(7), 500))
    assert seen == {ipaddress.IPv4Address(f"10.88.7.{i}") for i in range(2, 7)}
    assert gateway_of(small) == ipaddress.IPv4Address("10.88.7.1")
    assert claim_name(ipaddress.IPv4Address("10.88.7.2")) == "ipv4-10.88.7.2"


def spec(network: dict | None) -> dict:
    return {"spec": {"image": "busybox", **({"network": network} if network is not None else {})}}


@pytest.mark.parametrize(
    ("current", "new", "result", "error_field"),
    [
        ({"ipv4": "10.88.1.2/16"}, None, {"type": "cluster", "ipv4": "10.88.1.2/16"}, None),
        ({"type": "cluster", "ipv4": "10.88.1.2/16"}, {"type": "cluster"}, {"type": "cluster", "ipv4": "10.88.1.2/16"}, None),
        ({"type": "cluster", "ipv4": "10.88.1.2/16"}, {"ipv4": "10.88.1.2/16"}, {"ipv4": "10.88.1.2/16"}, None),
        ({"type": "cluster", "ipv4": "10.88.1.2/16"}, {"ipv4": "10.88.1.3/16"}, None, "spec.network.ipv4"),
        ({"type": "cluster", "ipv4": "10.88.1.2/16"}, {"type": "bridge", "bridge": "br0"}, None, "spec.network"),
        ({"type": "bridge", "bridge": "br0"}, None, None, "spec.network"),
        ({"type": "bridge", "bridge": "br0"}, {"type": "none"}, {"type": "none"}, None),
        ({"type": "bridge", "bridge": "br0"}, {"ipv4": "10.88.1.3/16"}, None, "spec.network.ipv4"),
    ],
    ids=["omitted-kept", "type-only-kept", "same", "changed", "to-bridge", "bridge-to-cluster", "bridge-to-none", "set-later"],
)
def test_keep_address(current: dict, new: dict | None, result: dict | None, error_field: str | None) -> None:
    updated = spec(new)
    if error_field is None:
        keep_address(spec(current), updated)
        assert updated["spec"]["network"] == result
    else:
        with pytest.raises(Invalid) as caught:
            keep_address(spec(current), updated)
        assert caught.value.details[0]["field"] == error_field
