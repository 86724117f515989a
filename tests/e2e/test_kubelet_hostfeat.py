"""What a new user sees inside a container (issue 18): writable host mounts, their own limits in
/proc, a command instead of init, and a failed start that says why in one line."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import Cluster, Node
from kubelet_helpers import Api, wait_for

from kubelet import hostfeatures

pytestmark = [pytest.mark.lxc, pytest.mark.timeout(240)]

# A short first delay, and a cap high enough that a slow observation on a loaded machine (which makes
# the run look long) does not reset the backoff (a run of twice the cap resets it).
BACKOFF = ["--restart-backoff-base", "1", "--restart-backoff-cap", "60"]


def attach(node: Node, name: str, script: str) -> subprocess.CompletedProcess:
    return subprocess.run(["lxc-attach", "-P", str(node.lxc_path), "-n", name, "--clear-env", "--", "/bin/sh", "-c", script],
                          capture_output=True, text=True, timeout=30, check=False)


def host_dir(cluster: Cluster, name: str) -> Path:
    # Below the 0711 session dir: the container's root (host uid 100000+) must pass through it.
    path = cluster.lxc_root / name
    path.mkdir(mode=0o755)
    return path


def test_unprivileged_container_writes_to_a_rw_mount_and_not_to_a_ro_one(cluster: Cluster) -> None:
    if not hostfeatures.idmapped_mounts_supported():
        pytest.fail("this kernel has no idmapped mounts (Linux >= 5.12); the README says what to do instead")
    node = cluster.add_node()
    api = Api(cluster)
    rw, ro = host_dir(cluster, "vol-rw"), host_dir(cluster, "vol-ro")
    (rw / "old.txt").write_text("from the host\n")
    (ro / "in.txt").write_text("read me\n")
    try:
        api.create("writer", node, network={"type": "none"},
                   mounts=[{"hostPath": str(rw), "path": "/data"}, {"hostPath": str(ro), "path": "/ro", "readOnly": True}])
        wait_for(lambda: api.phase("writer") == "Running", timeout=60, what="writer Running")
        # Host root's files are container root's, not nobody's (65534).
        listing = attach(node, "writer", "stat -c '%u %g' /data/old.txt")
        assert listing.stdout.strip() == "0 0", listing
        wrote = attach(node, "writer", "echo x > /data/new.txt")
        assert wrote.returncode == 0, wrote.stderr
        assert (rw / "new.txt").read_text() == "x\n"
        assert ((rw / "new.txt").stat().st_uid, (rw / "new.txt").stat().st_gid) == (0, 0)
        # The read-only mount reads but refuses writes.
        assert attach(node, "writer", "cat /ro/in.txt").stdout == "read me\n"
        refused = attach(node, "writer", "echo y > /ro/new.txt")
        assert refused.returncode != 0 and "Read-only file system" in refused.stderr
        assert not (ro / "new.txt").exists()
    finally:
        api.close()


def test_container_sees_its_own_memory_limit_through_lxcfs(cluster: Cluster) -> None:
    node = cluster.add_node()
    api = Api(cluster)
    try:
        api.create("small", node, memory="64Mi", network={"type": "none"})
        wait_for(lambda: api.phase("small") == "Running", timeout=60, what="small Running")
        assert hostfeatures.lxcfs_mounted(), "the kubelet did not start lxcfs"
        meminfo = attach(node, "small", "cat /proc/meminfo").stdout
        total_kib = int(next(line for line in meminfo.splitlines() if line.startswith("MemTotal:")).split()[1])
        assert total_kib == 64 * 1024, meminfo
        # busybox's free asks sysinfo(2), which lxcfs cannot change (procps' free reads /proc/meminfo);
        # the container's /proc/uptime is its own: seconds, not the host's days.
        uptime = float(attach(node, "small", "cat /proc/uptime").stdout.split()[0])
        assert uptime < 120
    finally:
        api.close()


def test_command_exit_code_is_recorded_and_on_failure_restarts_it(cluster: Cluster) -> None:
    node = cluster.add_node(args=BACKOFF)
    api = Api(cluster)
    try:
        api.create("exiter", node, command=["/bin/sh", "-c", "echo hi; exit 3"], restartPolicy="OnFailure",
                   network={"type": "none"})
        last = wait_for(lambda: api.status("exiter").get("lastExit"), timeout=60, what="a recorded exit")
        assert (last["reason"], last["exitCode"]) == ("Error", 3)
        # OnFailure brings it back, with backoff, and it fails again the same way.
        wait_for(lambda: api.status("exiter").get("restartCount", 0) >= 2, timeout=60, what="two restarts")
        status = api.status("exiter")
        assert (status["lastExit"]["reason"], status["lastExit"]["exitCode"]) == ("Error", 3)
        config = (node.lxc_path / "exiter" / "config").read_text()
        assert 'lxc.environment = DLXC_COMMAND=["/bin/sh", "-c", "echo hi; exit 3"]' in config
    finally:
        api.close()


def test_failed_start_says_why_in_one_line(cluster: Cluster) -> None:
    node = cluster.add_node()
    api = Api(cluster)
    missing = cluster.lxc_root / "no-such-volume"
    try:
        api.create("nomount", node, network={"type": "none"}, mounts=[{"hostPath": str(missing), "path": "/data"}])
        message = wait_for(lambda: api.phase("nomount") == "Failed" and api.status("nomount")["message"],
                           timeout=60, what="nomount Failed")
        log = node.lxc_path / "nomount" / "lxc.log"
        assert message == f"start failed: mount {missing}: No such file or directory (full log: {log})"
        assert "Failed to create detached mount of" in log.read_text()
        # The same line as a FailedMount event (not FailedStart): the work queue retries, the count rises.
        events = wait_for(lambda: [e["spec"] for e in api.list("events")
                                   if e["spec"]["involvedObject"]["name"] == "nomount" and e["spec"]["type"] == "Warning"
                                   and e["spec"]["source"]["component"] == "kubelet"],
                          timeout=15, what="the FailedMount event")
        assert {(e["reason"], e["message"]) for e in events} == {("FailedMount", message)}
    finally:
        api.close()


def test_without_lxcfs_a_container_still_starts_and_the_kubelet_says_why(cluster: Cluster) -> None:
    node = cluster.add_node(args=["--no-lxcfs"])
    api = Api(cluster)
    try:
        api.create("plain", node, memory="64Mi", network={"type": "none"})
        wait_for(lambda: api.phase("plain") == "Running", timeout=60, what="plain Running")
        meminfo = attach(node, "plain", "cat /proc/meminfo").stdout
        total_kib = int(next(line for line in meminfo.splitlines() if line.startswith("MemTotal:")).split()[1])
        assert total_kib > 64 * 1024  # the host's figure, not the limit
        assert "lxcfs disabled by --no-lxcfs" in node.log.read_text()
        assert "/usr/share/lxcfs" not in (node.lxc_path / "plain" / "config").read_text()
    finally:
        api.close()
