"""Exec into containers of two nodes, each kubelet in its own network namespace: the apiserver on the
host dials each node's stream endpoint at the node's own address, over mutual TLS."""
from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import dlxc
from netnodes import NetCluster

pytestmark = [pytest.mark.lxc, pytest.mark.slow, pytest.mark.timeout(300)]


@pytest.fixture
def netcluster(etcd, image_dir: Path, lxc_root: Path, tmp_path: Path) -> Iterator[NetCluster]:
    if os.geteuid() != 0:
        pytest.fail("network-namespace nodes need root")
    cluster = NetCluster(etcd.endpoint, tmp_path, lxc_root, image_dir, max_nodes=2)
    try:
        cluster.start()
        for _ in range(2):
            cluster.add_node()
        yield cluster
    finally:
        cluster.close()


def test_exec_reaches_the_container_on_each_node(netcluster: NetCluster) -> None:
    async def setup() -> None:
        async with netcluster.client() as client:
            for node in netcluster.nodes:
                name = f"on-{node.name}"
                await client.create("containers", {"metadata": {"name": name},
                                                   "spec": {"image": "busybox", "nodeName": node.name, "network": {"type": "none"}}})

    asyncio.run(setup())

    async def endpoints_and_phases() -> tuple[dict[str, str], dict[str, str]]:
        async with netcluster.client() as client:
            nodes, _ = await client.list("nodes")
            containers, _ = await client.list("containers")
        return ({n["metadata"]["name"]: n["status"].get("streamEndpoint", "") for n in nodes},
                {c["metadata"]["name"]: c["status"].get("phase", "") for c in containers})

    deadline = time.monotonic() + 120
    while True:
        endpoints, phases = asyncio.run(endpoints_and_phases())
        if len(phases) == 2 and all(p == "Running" for p in phases.values()):
            break
        assert time.monotonic() < deadline, phases
        time.sleep(0.5)
    for node in netcluster.nodes:
        assert endpoints[node.name].startswith(f"{node.ns_ip}:"), endpoints
        name = f"on-{node.name}"
        result = dlxc("exec", name, "--", "hostname", env=netcluster.env)
        assert (result.returncode, result.stdout, result.stderr) == (0, f"{name}\n", "")
