from __future__ import annotations

import ipaddress
from types import SimpleNamespace

import pytest

from kubelet.allocator import Allocator


@pytest.mark.parametrize(
    ("subnet", "taken", "name", "expected"),
    [
        ("10.77.0.1/24", {}, "a", "10.77.0.2/24"),
        ("10.77.0.1/24", {"a": "10.77.0.2/24"}, "b", "10.77.0.3/24"),
        ("10.77.0.1/24", {"a": "10.77.0.9/24"}, "a", "10.77.0.9/24"),
        ("10.77.0.5/24", {}, "a", "10.77.0.1/24"),
        ("10.77.0.1/30", {"a": "10.77.0.2/30"}, "b", None),
    ],
    ids=["first-host", "next-free", "kept", "skips-gateway-only", "full"],
)
def test_allocate_ip(subnet: str, taken: dict[str, str], name: str, expected: str | None) -> None:
    allocator = Allocator(ipaddress.IPv4Interface(subnet))
    allocator.ips = {n: ipaddress.IPv4Interface(ip) for n, ip in taken.items()}
    got = allocator.allocate_ip(name)
    assert (str(got) if got else None) == expected


def test_pin_cpus_and_release() -> None:
    allocator = Allocator(ipaddress.IPv4Interface("10.77.0.1/24"))
    allocator.online_cpus = [0, 1, 2, 3]
    assert allocator.pin_cpus("a", 2) == "0-1"
    assert allocator.pin_cpus("b", 1) == "2"
    assert allocator.pin_cpus("a", None) is None
    assert allocator.cpusets == {"b": [2]}
    allocator.allocate_ip("b")
    allocator.release("b")
    assert (allocator.ips, allocator.cpusets) == ({}, {})


def test_recover_reads_addresses_and_pins_from_configs() -> None:
    configs = {
        "a": [("lxc.net.0.ipv4.address", "10.77.0.7/24"), ("lxc.cgroup2.cpuset.cpus", "0-1")],
        "b": [("lxc.cgroup.cpuset.cpus", "not-a-list")],
        "gone": None,
    }
    runtime = SimpleNamespace(
        names=lambda: list(configs),
        inspect=lambda name: SimpleNamespace(items=configs[name]) if configs[name] is not None else None,
    )
    allocator = Allocator(ipaddress.IPv4Interface("10.77.0.1/24"))
    allocator.recover(runtime)
    assert allocator.ips == {"a": ipaddress.IPv4Interface("10.77.0.7/24")}
    assert allocator.cpusets == {"a": [0, 1]}
