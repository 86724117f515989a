"""The kubelet's monitor on a real container: the API's metrics route (served from the kubelet's memory),
/metrics, the JSON file and `dlxc top`, while the container's status in etcd is not written at all."""
from __future__ import annotations

import json
import subprocess
import time

import httpx
import pytest

from conftest import Cluster, dlxc, free_port
from kubelet_helpers import Api, wait_for

pytestmark = [pytest.mark.lxc, pytest.mark.timeout(180)]


def test_metrics_reach_the_api_prometheus_file_and_top_without_status_writes(cluster: Cluster) -> None:
    port = free_port()
    metrics_file = cluster.tmp / "metrics.jsonl"
    node = cluster.add_node(args=["--metrics-interval", "1", "--metrics-port", str(port), "--metrics-file", str(metrics_file)])
    api = Api(cluster)
    try:
        api.create("busy", node, memory="64Mi", network={"type": "bridge", "bridge": node.bridge})
        wait_for(lambda: api.phase("busy") == "Running", timeout=60, what="Running")
        gateway = node.subnet.split("/")[0]
        # Some traffic and some processes to count.
        subprocess.run(["lxc-attach", "-P", str(node.lxc_path), "-n", "busy", "--", "/bin/busybox", "ping", "-c", "3", "-i", "0.2", gateway],
                       capture_output=True, timeout=30, check=True)
        subprocess.run(["lxc-attach", "-P", str(node.lxc_path), "-n", "busy", "--", "/bin/busybox", "dd", "if=/dev/zero",
                        "of=/root/blob", "bs=1024", "count=512"], capture_output=True, timeout=30, check=True)

        headers = {"Authorization": f"Bearer {cluster.api.token}"}

        def served() -> dict:
            got = httpx.get(f"{cluster.api.url}/apis/dlxc.io/v1/containers/busy/metrics", headers=headers, timeout=10)
            return got.json() if got.status_code == 200 else {}

        def fresh() -> dict:
            m = served().get("usage") or {}
            return m if m.get("net.eth0.tx_packets", 0) >= 3 and m.get("rootfs.bytes", 0) >= 512 * 1024 and "cpu.cores" in m else {}

        m = wait_for(fresh, timeout=20, what="metrics from the API")
        assert m["memory.limit_bytes"] == 64 * 2**20
        assert 0 < m["memory.bytes"] <= 64 * 2**20
        assert m["memory.swap_bytes"] == 0
        assert m["processes"] >= 1
        assert m["cpu.seconds"] > 0
        assert m["net.eth0.rx_packets"] >= 3
        assert not any(k.startswith(("blkio.loop", "blkio.dm-")) for k in m)

        # Idle for a stretch of samples (one a second): usage moves, the object in etcd does not.
        before = api.get("busy")["metadata"]["resourceVersion"]
        first = served()
        time.sleep(4)
        later = served()
        assert later["time"] > first["time"] and later["usage"]["cpu.seconds"] >= first["usage"]["cpu.seconds"]
        assert len(later["history"]["time"]) >= 4 and later["history"]["memory"][-1] > 0
        obj = api.get("busy")
        assert obj["metadata"]["resourceVersion"] == before, "a status write while the container idled"
        assert not obj["status"].get("metrics") and not obj["status"].get("metricsTime")

        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        assert f'dlxc_container_cpu_seconds_total{{container="busy",node="{node.name}"}}' in text
        assert f'dlxc_container_network_transmit_packets_total{{container="busy",interface="eth0",node="{node.name}"}}' in text
        assert "process_resident_memory_bytes" in text

        lines = [json.loads(line) for line in metrics_file.read_text().splitlines()]
        assert lines[-1]["node"] == node.name and "cpu.seconds" in lines[-1]["containers"]["busy"]

        top = dlxc("top", "containers", env=cluster.api.env())
        assert top.returncode == 0, top.stderr
        header, row = top.stdout.splitlines()
        assert header.split() == ["NAME", "NODE", "CPU(cores)", "MEMORY", "SWAP", "PROCS", "NET-RX", "NET-TX", "BLK-READ", "BLK-WRITE", "ROOTFS"]
        assert row.split()[:2] == ["busy", node.name] and row.split()[3].endswith(("Ki", "Mi"))
        nodes = dlxc("top", "nodes", env=cluster.api.env())
        assert nodes.returncode == 0 and nodes.stdout.splitlines()[1].split()[0] == node.name
        bad = dlxc("top", "containers", "-o", "yaml", env=cluster.api.env())
        assert (bad.returncode, bad.stderr) == (2, "error: unknown output format 'yaml'; use table or json\n")
    finally:
        api.close()
