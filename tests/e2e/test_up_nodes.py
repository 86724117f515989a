"""`dlxc up --nodes 2 --etcd-members 3` on this host: two Ready nodes over a 3-member etcd, and `down` cleans up."""
from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from conftest import spread

from dlxc.cluster.local import LocalCluster
from dlxc.cluster.pki import ssl_context

# `dlxc up` leaves its processes running on purpose (`dlxc down` stops them): their Popen objects
# go away while they run, which Python reports as a ResourceWarning.
pytestmark = [pytest.mark.timeout(180), pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")]


def free_block(size: int) -> int:
    """A port whose next `size` ports are free too."""
    for _ in range(50):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            base = sock.getsockname()[1]
        if base + size >= 65535:
            continue
        ok = True
        for port in range(base + 1, base + size + 1):
            with socket.socket() as probe:
                try:
                    probe.bind(("127.0.0.1", port))
                except OSError:
                    ok = False
                    break
        if ok:
            return base
    raise RuntimeError("no free block of ports")


def test_up_with_two_nodes_and_three_etcd_members(lxc_root: Path, tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.fail("LXC tests need root")
    suffix = secrets.token_hex(2)
    state = lxc_root / f"up-{suffix}"
    cluster = LocalCluster(state, port=free_block(7), node_name=f"t-{suffix}", bridge=f"dt{suffix}",
                           subnet=f"10.{230 + secrets.randbelow(20)}.{spread(0, 200)}.1/24", nodes=2, etcd_members=3,
                           cluster_cidr=f"10.{spread(64, 64)}.0.0/16", cluster_bridge=f"dt{suffix}c", outbound_nat=False)
    try:
        config = cluster.up(timeout=90)
        assert sorted(cluster.running()) == sorted(
            ["etcd", "etcd-1", "etcd-2", "apiserver", "scheduler", "controller", "kubelet", "kubelet-1"])
        headers = {"Authorization": f"Bearer {config.token}"}
        nodes = httpx.get(f"{cluster.server}/apis/dlxc.io/v1/nodes", headers=headers, verify=ssl_context(config.certificate_authority)).json()
        assert sorted(n["metadata"]["name"] for n in nodes["items"]) == [f"t-{suffix}", f"t-{suffix}-1"]
        members = subprocess.run(["etcdctl", "--endpoints", cluster.etcd_endpoints[0], "member", "list"],
                                 capture_output=True, text=True, env={**os.environ, "ETCDCTL_API": "3"}, check=True).stdout
        assert len(members.strip().splitlines()) == 3

        # A cold move between the two nodes of one host: they share the state dir's backups dir.
        from dlxc.client.config import save_config
        from conftest import dlxc

        env = {**os.environ, "DLXC_CONFIG": str(save_config(config, tmp_path / "config.yaml"))}
        verify = ssl_context(config.certificate_authority)
        body = {"metadata": {"name": "hop"}, "spec": {"image": "busybox", "network": {"type": "none"}, "nodeName": f"t-{suffix}"}}
        assert httpx.post(f"{cluster.server}/apis/dlxc.io/v1/containers", json=body, headers=headers, verify=verify).status_code == 201

        def phase() -> str | None:
            got = httpx.get(f"{cluster.server}/apis/dlxc.io/v1/containers/hop", headers=headers, verify=verify).json()
            return got.get("status", {}).get("phase")

        deadline = time.monotonic() + 60
        while phase() != "Running":
            assert time.monotonic() < deadline, "hop did not run"
            time.sleep(0.3)
        moved = dlxc("move", "hop", "--to", f"t-{suffix}-1", env=env, timeout=120)
        assert moved.returncode == 0, moved.stderr
        assert moved.stdout.startswith(f"container/hop moved from t-{suffix} to t-{suffix}-1 (downtime ")
        assert (state / "backups").is_dir()
    finally:
        stopped = cluster.down()
    # lxcfs is stopped too when a kubelet of this cluster started it (the host ran none) and nothing else uses it.
    assert sorted(s for s in stopped if s != "lxcfs") == sorted(
        ["etcd", "etcd-1", "etcd-2", "apiserver", "scheduler", "controller", "kubelet", "kubelet-1"])
    links = subprocess.run(["ip", "-o", "link", "show", "type", "bridge"], capture_output=True, text=True).stdout
    assert f"dt{suffix}" not in links


def test_up_with_fewer_nodes_leaves_no_ghost_nodes(lxc_root: Path, tmp_path: Path) -> None:
    """`up --nodes 2`, `down`, `up` (one node): the second node is removed, not listed NotReady forever."""
    if os.geteuid() != 0:
        pytest.fail("LXC tests need root")
    suffix = secrets.token_hex(2)
    state = lxc_root / f"up-{suffix}"
    # A cluster network of its own (not the default dlxc0 of a user's `make up`, nor another test's), no NAT.
    layout = dict(port=free_block(3), node_name=f"g-{suffix}", bridge=f"dt{suffix}", subnet=f"10.{230 + secrets.randbelow(20)}.{spread(0, 200)}.1/24",
                  cluster_cidr=f"10.{spread(64, 64)}.0.0/16", cluster_bridge=f"dt{suffix}c", outbound_nat=False)
    two = LocalCluster(state, nodes=2, **layout)
    one = LocalCluster(state, nodes=1, **layout)
    try:
        two.up(timeout=90)
        two.down()
        config = one.up(timeout=90)
        headers = {"Authorization": f"Bearer {config.token}"}
        nodes = httpx.get(f"{one.server}/apis/dlxc.io/v1/nodes", headers=headers, verify=ssl_context(config.certificate_authority)).json()
        assert [n["metadata"]["name"] for n in nodes["items"]] == [f"g-{suffix}"]
        assert "kubelet-1" not in one.running()
        links = subprocess.run(["ip", "-o", "link", "show", "type", "bridge"], capture_output=True, text=True).stdout
        assert f"dt{suffix}-1" not in links
        assert f"kubelet-g-{suffix}-1" not in (state / "tokens").read_text()
    finally:
        one.down()
        two.down()
    shutil.rmtree(state, ignore_errors=True)
