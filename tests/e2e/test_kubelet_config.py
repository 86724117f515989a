"""The spec as LXC config on a real node: pinned cores, memory without swap, network, live and restarting changes."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from conftest import Cluster
from kubelet_helpers import Api, init_pid, wait_for

pytestmark = [pytest.mark.lxc, pytest.mark.timeout(240)]

MiB = 2**20


def cgroup(node, name: str, key: str) -> str:
    result = subprocess.run(["lxc-cgroup", "-P", str(node.lxc_path), "-n", name, key], capture_output=True, text=True, check=True)
    return result.stdout.strip()


def attach(node, name: str, *command: str) -> str:
    result = subprocess.run(["lxc-attach", "-P", str(node.lxc_path), "-n", name, "--clear-env", "--", *command],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    return result.stdout


def ids(pid: int, field: str) -> list[int]:
    line = next(l for l in Path(f"/proc/{pid}/status").read_text().splitlines() if l.startswith(field + ":"))
    return [int(x) for x in line.split()[1:]]


def test_config_and_changes_in_place(cluster: Cluster) -> None:
    node = cluster.add_node()
    api = Api(cluster)
    try:
        api.create("db", node, cpu=1, memory="64Mi", hostname="db-1", env={"MODE": "prod"},
                   network={"type": "bridge", "bridge": node.bridge})
        api.create("cache", node, cpu=1, network={"type": "none"})
        for name in ("db", "cache"):
            wait_for(lambda: api.phase(name) == "Running", timeout=60, what=f"{name} Running")
        pid = init_pid(node.lxc_path, "db")
        generation = api.get("db")["metadata"]["generation"]

        # Unprivileged: container root is a plain host user.
        assert ids(pid, "Uid")[0] > 0 and ids(pid, "Gid")[0] > 0
        # Whole cores are pinned, spread over the node's cpus; memory has no swap on top.
        pins = {cgroup(node, "db", "cpuset.cpus"), cgroup(node, "cache", "cpuset.cpus")}
        assert pins == {"0", "1"}
        assert cgroup(node, "db", "memory.limit_in_bytes") == str(64 * MiB)
        assert cgroup(node, "db", "memory.memsw.limit_in_bytes") == str(64 * MiB)
        assert cgroup(node, "db", "pids.max") == "2048"
        # Hostname, static address from the node's subnet, stable MAC, default route via the bridge.
        assert attach(node, "db", "/bin/hostname") == "db-1\n"
        status = api.status("db")
        subnet_prefix = node.subnet.rsplit(".", 1)[0]
        assert status["ip"].startswith(subnet_prefix + ".")
        assert status["ip"] in attach(node, "db", "/bin/busybox", "ip", "-4", "addr", "show", "eth0")
        from kubelet.lxcconfig import hwaddr_for

        assert hwaddr_for("db") in attach(node, "db", "/bin/cat", "/sys/class/net/eth0/address")
        assert f"default via {node.subnet.split('/')[0]}" in attach(node, "db", "/bin/busybox", "ip", "route")

        # Memory up and a second core: applied to the running cgroups, same init.
        api.patch("db", {"spec": {"memory": "128Mi", "cpu": 2}})
        wait_for(lambda: api.status("db").get("observedGeneration") == generation + 1, timeout=30, what="generation applied")
        assert cgroup(node, "db", "memory.limit_in_bytes") == str(128 * MiB)
        assert cgroup(node, "db", "memory.memsw.limit_in_bytes") == str(128 * MiB)
        assert cgroup(node, "db", "cpuset.cpus") == "0-1"
        assert init_pid(node.lxc_path, "db") == pid
        # And down again, still live.
        api.patch("db", {"spec": {"memory": "48Mi"}})
        wait_for(lambda: cgroup(node, "db", "memory.limit_in_bytes") == str(48 * MiB), timeout=30, what="memory down")
        assert cgroup(node, "db", "memory.memsw.limit_in_bytes") == str(48 * MiB)
        assert init_pid(node.lxc_path, "db") == pid

        # The environment can only change at boot: the config is rewritten and the container restarted.
        api.patch("db", {"spec": {"env": {"MODE": "staging"}}})
        wait_for(lambda: init_pid(node.lxc_path, "db") not in (pid, -1) and api.phase("db") == "Running",
                 timeout=30, what="restart for env")
        new_pid = init_pid(node.lxc_path, "db")
        assert b"MODE=staging" in Path(f"/proc/{new_pid}/environ").read_bytes().split(b"\0")
        wait_for(lambda: api.status("db").get("observedGeneration") == generation + 3, timeout=30, what="generation 3")
        assert api.status("db").get("restartCount", 0) == 0  # a restart we chose is not a crash
    finally:
        api.close()
