"""Planning the VXLAN forwarding table from Nodes and Containers, without touching the kernel."""
from __future__ import annotations

import ipaddress

import pytest

from kubelet.lxcconfig import hwaddr_for
from kubelet.overlay import FLOOD, FdbPlan, desired_fdb, gateway_mac, plan_fdb, vxlan_name


def node(name: str, tunnel: str | None) -> dict:
    return {"metadata": {"name": name}, "status": {"tunnelAddress": tunnel} if tunnel else {}}


def ct(name: str, node_name: str | None, *, network: dict | None = None, deleting: bool = False) -> dict:
    meta: dict = {"name": name, **({"deletionTimestamp": "2026-01-01T00:00:00Z"} if deleting else {})}
    spec: dict = {"image": "busybox", **({"nodeName": node_name} if node_name else {})}
    if network is not None:
        spec["network"] = network
    return {"metadata": meta, "spec": spec}


NODES = [node("a", "10.0.0.1"), node("b", "10.0.0.2"), node("c", "10.0.0.3")]


@pytest.mark.parametrize(
    ("nodes", "containers", "expected"),
    [
        (NODES, [], {(FLOOD, "10.0.0.2"), (FLOOD, "10.0.0.3")}),
        ([node("a", "10.0.0.1")], [], set()),
        ([node("a", "10.0.0.1"), node("a2", "10.0.0.1"), node("x", None)], [], set()),
        (NODES, [ct("web", "c"), ct("db", "a"), ct("new", None)],
         {(FLOOD, "10.0.0.2"), (FLOOD, "10.0.0.3"), (hwaddr_for("web"), "10.0.0.3")}),
        (NODES, [ct("br", "b", network={"type": "bridge", "bridge": "br0"}), ct("lo", "b", network={"type": "none"}),
                 ct("st", "b", network={"type": "cluster", "ipv4": "10.88.0.9/16"}), ct("gone", "b", deleting=True),
                 ct("lost", "zz")],
         {(FLOOD, "10.0.0.2"), (FLOOD, "10.0.0.3"), (hwaddr_for("st"), "10.0.0.2")}),
    ],
    ids=["peers", "alone", "same-host-and-no-address", "remote-container-macs", "only-cluster-live-known"],
)
def test_desired_fdb(nodes: list, containers: list, expected: set) -> None:
    assert desired_fdb(nodes, containers, node_name="a", local="10.0.0.1") == expected


MAC = "02:00:00:00:00:01"


@pytest.mark.parametrize(
    ("current", "wanted", "expected"),
    [
        (set(), set(), FdbPlan()),
        (set(), {(MAC, "10.0.0.2"), (FLOOD, "10.0.0.2")}, FdbPlan(add=((FLOOD, "10.0.0.2"), (MAC, "10.0.0.2")))),
        ({(FLOOD, "10.0.0.2"), (MAC, "10.0.0.2")}, {(FLOOD, "10.0.0.2"), (MAC, "10.0.0.3")},
         FdbPlan(add=((MAC, "10.0.0.3"),), remove=((MAC, "10.0.0.2"),))),
        ({(FLOOD, "10.0.0.2"), (MAC, "10.0.0.2")}, set(), FdbPlan(remove=((MAC, "10.0.0.2"), (FLOOD, "10.0.0.2")))),
    ],
    ids=["nothing", "first-peer-flood-first", "container-moved", "last-peer-gone-flood-last"],
)
def test_plan_fdb(current: set, wanted: set, expected: FdbPlan) -> None:
    assert plan_fdb(current, wanted) == expected
    assert bool(expected) == bool(current ^ wanted)


def test_gateway_mac_is_per_network_unicast_and_local() -> None:
    one = gateway_mac(ipaddress.IPv4Network("10.88.0.0/16"))
    assert one == gateway_mac(ipaddress.IPv4Network("10.88.0.0/16"))
    assert one != gateway_mac(ipaddress.IPv4Network("10.89.0.0/16"))
    assert int(one[:2], 16) & 0x03 == 0x02


def test_vxlan_name_fits_an_interface_name() -> None:
    assert vxlan_name("dlxc0") == "dlxc0-vx"
    assert len(vxlan_name("a" * 15)) == 15


def test_forwarding_is_turned_off_again_by_the_last_network_only_if_dlxc_turned_it_on(
        tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kubelet import hostfeatures, overlay
    monkeypatch.setattr(hostfeatures, "private_namespace", lambda kind, proc=None: False)  # the machine's own
    sysctl, record = tmp_path / "ip_forward", tmp_path / "run" / "ip_forward.before"
    sysctl.write_text("0\n")
    overlay.enable_forwarding(sysctl, record)
    overlay.enable_forwarding(sysctl, record)  # a second network: still "off before dlxc"
    assert (sysctl.read_text(), record.read_text()) == ("1\n", "0\n")
    overlay.restore_forwarding(networks_left=True, sysctl=sysctl, record=record)
    assert sysctl.read_text() == "1\n" and record.exists()
    overlay.restore_forwarding(networks_left=False, sysctl=sysctl, record=record)
    assert sysctl.read_text() == "0\n" and not record.exists()
    # On already (the admin's choice): dlxc records nothing and never turns it off.
    sysctl.write_text("1\n")
    overlay.enable_forwarding(sysctl, record)
    overlay.restore_forwarding(networks_left=False, sysctl=sysctl, record=record)
    assert sysctl.read_text() == "1\n" and not record.exists()


def test_a_simulated_hosts_network_namespace_records_nothing(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kubelet import hostfeatures, overlay
    monkeypatch.setattr(hostfeatures, "private_namespace", lambda kind, proc=None: True)
    sysctl, record = tmp_path / "ip_forward", tmp_path / "ip_forward.before"
    sysctl.write_text("0\n")
    overlay.enable_forwarding(sysctl, record)
    assert sysctl.read_text() == "1\n" and not record.exists()
