"""One cluster network over three simulated hosts (network namespaces on a test LAN), with real LXC.

Containers on different hosts reach each other by name through the VXLAN overlay; a container
moved off a host that lost power keeps its address and is reachable again; a host cut off from
the LAN catches up when the link is back; and nothing (namespace, bridge, VXLAN port, process,
the lxcfs each host's kubelet started) is left behind.
"""
from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from netnodes import NetCluster, NetNode  # noqa: E402

pytestmark = [pytest.mark.lxc, pytest.mark.timeout(300)]


@pytest.fixture
def hosts(etcd, image_dir: Path, lxc_root: Path, tmp_path: Path) -> Iterator[NetCluster]:
    if os.geteuid() != 0:
        pytest.fail("network-namespace hosts need root")
    cluster = NetCluster(etcd.endpoint, tmp_path, lxc_root, image_dir, max_nodes=3)
    try:
        cluster.start()
        for _ in range(3):
            cluster.add_node()
        yield cluster
    finally:
        cluster.close()
        assert cluster.leftovers() == []


def api(cluster: NetCluster, method: str, *args, **kwargs):
    async def go():
        async with cluster.client() as c:
            return await getattr(c, method)(*args, **kwargs)

    return asyncio.run(go())


def wait_until(what: str, check, *, timeout: float, every: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(every)


def running_on(cluster: NetCluster, name: str, *, not_on: str | None = None) -> dict | None:
    obj = api(cluster, "get", "containers", name)
    node = obj["spec"].get("nodeName")
    if obj["status"].get("phase") == "Running" and node and node != not_on:
        return obj
    return None


def host_of(cluster: NetCluster, obj: dict) -> NetNode:
    return next(n for n in cluster.nodes if n.name == obj["spec"]["nodeName"])


def pings(cluster: NetCluster, node: NetNode, source: str, target: str) -> bool:
    return cluster.attach(node, source, "/bin/busybox", "ping", "-c1", "-W1", target, timeout=10).returncode == 0


def hosts_file(node: NetNode, name: str) -> Path:
    """The kubelet's hosts file of container `name` (kubelet.names: LXCPATH/.hosts/NAME), bind-mounted at its /etc/hosts."""
    return node.lxc_path / ".hosts" / name


def etc_hosts_inside(cluster: NetCluster, node: NetNode, name: str) -> tuple[str, str]:
    """(device:inode, content) of /etc/hosts as the container sees it."""
    out = cluster.attach(node, name, "/bin/busybox", "sh", "-c", "busybox stat -c %d:%i /etc/hosts && cat /etc/hosts").stdout
    identity, _, text = out.partition("\n")
    return identity, text


def test_one_network_across_three_hosts(hosts: NetCluster) -> None:
    a, b, c = hosts.nodes

    def registered() -> bool:
        items, _ = api(hosts, "list", "nodes")
        return {n["metadata"]["name"] for n in items if n["status"].get("tunnelAddress")} == {a.name, b.name, c.name}

    wait_until("three nodes registered", registered, timeout=60)
    # Each host is a machine of its own: its kubelet, in its own mount namespace, sees none of the
    # machine's lxcfs and runs its own, which must end with it (SIGKILL below; SIGTERM: the fixture's leftovers()).
    assert all(hosts.lxcfs_of(n.proc.pid) and hosts.lxcfs_pidfile(n.proc.pid).exists() for n in (a, b, c) if n.proc), \
        "a host's kubelet started no lxcfs of its own"
    nodes = {n["metadata"]["name"]: n for n in api(hosts, "list", "nodes")[0]}
    # Each host's tunnel address is its own LAN address (found from its route to the apiserver).
    assert [nodes[n.name]["status"]["tunnelAddress"] for n in (a, b, c)] == [a.ns_ip, b.ns_ip, c.ns_ip]
    # Host labels to place containers with: pa on a; pm on b or c (it moves between them).
    for node, labels in ((a, {"host": "a"}), (b, {"host": "b", "mover": "yes"}), (c, {"host": "c", "mover": "yes"})):
        api(hosts, "patch", "nodes", node.name, {"spec": {"labels": labels}})
    for name, selector in (("pa", {"host": "a"}), ("pm", {"mover": "yes"})):
        api(hosts, "create", "containers", {"metadata": {"name": name}, "spec": {"image": "busybox", "nodeSelector": selector}})
    pa = wait_until("pa Running", lambda: running_on(hosts, "pa"), timeout=120)
    pm = wait_until("pm Running", lambda: running_on(hosts, "pm"), timeout=120)
    running_at = time.monotonic()
    first = host_of(hosts, pm)
    assert host_of(hosts, pa) is a and first in (b, c)
    address = pm["spec"]["network"]["ipv4"]
    assert pm["status"]["ip"] == address.split("/")[0]

    # Across hosts, by name: the name is in pa's /etc/hosts within 2 s of pm being Running. Polled on
    # the host (an lxc-attach per look would spend the bound on the probe), in the kubelet's file, which
    # is pa's /etc/hosts: the same inode, bind-mounted (checked below, so also no stale copy inside).
    line = f"{address.split('/')[0]}\tpm pm.dlxc"
    wait_until("pm in pa's /etc/hosts", lambda: line in hosts_file(a, "pa").read_text(), timeout=10, every=0.02)
    assert time.monotonic() - running_at <= 2.0
    file = hosts_file(a, "pa").stat()
    identity, text = etc_hosts_inside(hosts, a, "pa")
    assert identity == f"{file.st_dev}:{file.st_ino}" and line in text, (identity, text)
    wait_until("pa pings pm by name", lambda: pings(hosts, a, "pa", "pm"), timeout=10)
    assert pings(hosts, first, "pm", "pa.dlxc")
    # The other hosts' VXLAN ports hold a flood entry per peer, on the LAN addresses only.
    fdb = a.in_ns("bridge", "fdb", "show", "dev", "dlxc0-vx").stdout
    assert f"00:00:00:00:00:00 dst {b.ns_ip}" in fdb and f"00:00:00:00:00:00 dst {c.ns_ip}" in fdb
    assert "masquerade" in a.in_ns("nft", "list", "table", "ip", "dlxc-dlxc0").stdout

    # Power loss of pm's host: pm comes back on the other mover host with the same address and MAC.
    lost_kubelet = first.proc.pid if first.proc else 0
    hosts.power_loss(first)
    # lxcfs ends on the SIGTERM its kubelet's death sends it, and removes its pid file itself.
    wait_until("the lost host's lxcfs and its pid file gone with its kubelet",
               lambda: not hosts.lxcfs_of(lost_kubelet) and not hosts.lxcfs_pidfile(lost_kubelet).exists(), timeout=5)
    moved = wait_until("pm Running on another host", lambda: running_on(hosts, "pm", not_on=first.name), timeout=60)
    second = host_of(hosts, moved)
    assert second is not first and second is not a
    assert moved["spec"]["network"]["ipv4"] == address and moved["status"]["ip"] == address.split("/")[0]
    from kubelet.lxcconfig import hwaddr_for

    link = hosts.attach(second, "pm", "/bin/busybox", "ip", "link", "show", "eth0").stdout
    assert hwaddr_for("pm") in link
    wait_until("pa pings the moved pm by name", lambda: pings(hosts, a, "pa", "pm"), timeout=10)
    # pm's MAC now points at its new host; the dead host stays a peer until its Node goes, then leaves.
    fdb = a.in_ns("bridge", "fdb", "show", "dev", "dlxc0-vx").stdout
    assert f"{hwaddr_for('pm')} dst {second.ns_ip}" in fdb and f"{hwaddr_for('pm')} dst {first.ns_ip}" not in fdb
    api(hosts, "delete", "nodes", first.name)
    wait_until("the deleted node's flood entry gone", lambda: first.ns_ip not in a.in_ns(
        "bridge", "fdb", "show", "dev", "dlxc0-vx").stdout, timeout=5)

    # A partition of pm's new host: while it lasts a container created elsewhere is unknown there;
    # when the link is back its name resolves and it answers through the overlay.
    hosts.partition(second)
    try:
        api(hosts, "create", "containers", {"metadata": {"name": "pn"}, "spec": {"image": "busybox", "nodeSelector": {"host": "a"}}})
        wait_until("pn Running", lambda: running_on(hosts, "pn"), timeout=60)
        assert not pings(hosts, a, "pa", "pm")
    finally:
        hosts.heal(second)
    wait_until("pm pings pn by name after the partition healed", lambda: pings(hosts, second, "pm", "pn"), timeout=60)
    assert pings(hosts, a, "pn", "pm")
