"""`dlxc cluster` on real LXC: a front-end and 2 nodes with a shared /home and a context folder; names resolve by
/etc/hosts (ping), /home is shared, the scripts ran once each; a second cluster beside it is unreachable; addnode,
delnode of a middle node, a failing script, delete leaves nothing."""
from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import Cluster, dlxc
from kubelet_helpers import Api, lxc_state, wait_for

pytestmark = [pytest.mark.lxc, pytest.mark.timeout(420)]

PREFIX = "/apis/dlxc.io/v1"
CONTEXT = """#!/bin/sh
echo "$DLXC_ROLE $DLXC_CLUSTER $DLXC_FRONTEND $DLXC_NODES" >> /home/ctx-$(hostname)
"""


def attach(lxc_path: Path, name: str, *command: str) -> subprocess.CompletedProcess:
    return subprocess.run(["lxc-attach", "-P", str(lxc_path), "-n", name, "--", *command], capture_output=True, text=True, timeout=30)


def on_pty(args: list[str], env: dict[str, str]) -> tuple[subprocess.Popen, int]:
    """`dlxc ARGS` on a new terminal (not pty.fork: this process runs the apiserver's threads)."""
    master, slave = os.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "dlxc", *args], stdin=slave, stdout=slave, stderr=slave, env=env,
                            start_new_session=True)
    os.close(slave)
    return proc, master


def read_until(fd: int, token: bytes, timeout: float = 20) -> bytes:
    seen, deadline = b"", time.monotonic() + timeout
    while token not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                seen += os.read(fd, 4096)
            except OSError:
                break
    assert token in seen, seen[-500:]
    return seen


def block_names(text: str) -> list[str]:
    block = text.split("# BEGIN dlxc cluster")[1].split("# END dlxc cluster")[0] if "# BEGIN dlxc cluster" in text else ""
    return [line.split()[2] for line in block.splitlines()[1:] if line.strip()]


def hosts_names(lxc_path: Path, name: str) -> list[str]:
    return block_names(attach(lxc_path, name, "cat", "/etc/hosts").stdout)


def hosts_file(lxc_path: Path, name: str) -> Path:
    """The kubelet's hosts file of a container on the cluster network (kubelet.names: LXCPATH/.hosts/NAME),
    bind-mounted at its /etc/hosts."""
    return lxc_path / ".hosts" / name


def file_names(lxc_path: Path, name: str) -> list[str]:
    """hosts_names read on the node, from the kubelet's file: a look that costs no lxc-attach, for the
    bounds on how soon a change shows (then checked to be the container's /etc/hosts: same_as_inside)."""
    try:
        return block_names(hosts_file(lxc_path, name).read_text())
    except FileNotFoundError:
        return []


def same_as_inside(lxc_path: Path, name: str) -> None:
    """The kubelet's file is the container's /etc/hosts (the same inode, bind-mounted), and reads the same inside."""
    out = attach(lxc_path, name, "sh", "-c", "stat -c %d:%i /etc/hosts && cat /etc/hosts").stdout
    identity, _, text = out.partition("\n")
    file = hosts_file(lxc_path, name)
    info = file.stat()
    assert identity == f"{info.st_dev}:{info.st_ino}", (name, identity, info)
    assert block_names(text) == block_names(file.read_text()), (name, text)


def test_cluster_builder(cluster: Cluster, tmp_path: Path) -> None:
    node = cluster.add_node()
    env = {**cluster.api.env(), "DLXC_CLUSTER_HOME_ROOT": str(cluster.lxc_root / "homes")}
    api = Api(cluster)
    context = tmp_path / "context"
    context.mkdir()
    (context / "10-record.sh").write_text(CONTEXT)
    (context / "add-node.d").mkdir()
    (context / "add-node.d" / "10-add.sh").write_text('echo "added $DLXC_NODE on $(hostname)" >> /home/hooks\n')
    (context / "remove-node.d").mkdir()
    (context / "remove-node.d" / "10-remove.sh").write_text('echo "removed $DLXC_NODE" >> /home/hooks\n')
    try:
        wait_for(lambda: any(c["type"] == "Ready" and c["status"] == "True" for n in api.list("nodes")
                             for c in n["status"].get("conditions", [])), timeout=60, what="a Ready node")
        # A second cluster alongside (made meanwhile): its members are on the same network, but not reachable from mc's.
        other = dlxc("cluster", "create", "other", "--front-end-image", "busybox", "--working-node-image", "busybox",
                     "--nodes", "1", "--memory", "64Mi", "--no-wait", env=env)
        assert other.returncode == 0, other.stderr
        created = dlxc("cluster", "create", "mc", "--front-end-image", "busybox", "--working-node-image", "busybox",
                       "--nodes", "2", "--device", "home", "--context-folder", str(context), "--memory", "64Mi",
                       "--timeout", "180s", env=env, timeout=200)
        assert created.returncode == 0, created.stdout + created.stderr
        assert created.stdout.splitlines()[-1] == "cluster/mc ready: frontend + 2 nodes"
        members = ["mc-frontend", "mc-node1", "mc-node2"]
        for name in members:
            assert hosts_names(node.lxc_path, name) == ["frontend", "node1", "node2"], name
            assert attach(node.lxc_path, name, "hostname").stdout.strip() == name.removeprefix("mc-")
        # The user's own line outside the block survives the next update.
        assert attach(node.lxc_path, "mc-node1", "sh", "-c", "echo '10.9.9.9 mine' >> /etc/hosts").returncode == 0

        ping = dlxc("exec", "mc-frontend", "--", "ping", "-c1", "-W3", "node2", env=env)
        assert ping.returncode == 0, ping.stdout + ping.stderr
        assert "1 packets received" in ping.stdout
        # Isolation: other's members answer each other, not mc's (and mc's do not reach them).
        wait_for(lambda: api.status("other-node1").get("phase") == "Running" and api.status("other-frontend").get("phase") == "Running",
                 timeout=60, what="the other cluster running")
        own = attach(node.lxc_path, "other-frontend", "ping", "-c1", "-W2", "other-node1")
        assert own.returncode == 0, own.stdout + own.stderr
        for source, target in (("mc-frontend", "other-node1"), ("other-node1", "mc-node1")):
            # The name first (each container's /etc/hosts follows the cluster network within a moment),
            # so a failed ping is the cut, not a name not yet written.
            wait_for(lambda: target in attach(node.lxc_path, source, "cat", "/etc/hosts").stdout, timeout=30,
                     what=f"{target} in {source}'s /etc/hosts")
            cut = attach(node.lxc_path, source, "ping", "-c1", "-W1", target)
            assert (cut.returncode, "0 packets received" in cut.stdout) == (1, True), (source, target, cut.stdout + cut.stderr)
        assert attach(node.lxc_path, "mc-node1", "sh", "-c", "echo shared > /home/from-node1").returncode == 0
        assert attach(node.lxc_path, "mc-node2", "cat", "/home/from-node1").stdout == "shared\n"

        # The context script ran once on each member, as root, with the cluster's variables.
        home = cluster.lxc_root / "homes" / "mc" / "home"
        assert (home / "ctx-frontend").read_text() == "frontend mc frontend node1 node2\n"
        assert (home / "ctx-node1").read_text() == "node mc frontend node1 node2\n"
        # A second reconcile (a label change makes one) does not run it again.
        api.patch("mc-node1", {"metadata": {"labels": {"poke": "1"}}})
        wait_for(lambda: api.status("mc-node1").get("phase") == "Running", timeout=10, what="reconcile")
        assert (home / "ctx-node1").read_text() == "node mc frontend node1 node2\n"

        # A restart (busybox's rcS rewrites /etc/hosts at boot) gets the block back, and no second run of the scripts.
        assert dlxc("restart", "mc-node2", env=env).returncode == 0
        wait_for(lambda: api.status("mc-node2").get("observedRestartAt"), timeout=60, what="the restart")
        wait_for(lambda: hosts_names(node.lxc_path, "mc-node2") == ["frontend", "node1", "node2"], timeout=10,
                 what="the block back after the restart")
        assert (home / "ctx-node2").read_text() == "node mc frontend node1 node2\n"

        added = dlxc("cluster", "addnode", "mc", env=env)
        assert added.stdout == "cluster/mc: added node3\n"
        wait_for(lambda: api.status("mc-node3").get("phase") == "Running", timeout=120, what="node3 Running")
        # Its alias reaches every member (and its own file) within 5 s of it running (looked at on the node:
        # an lxc-attach per member and look would spend the bound on the probe).
        wait_for(lambda: all(file_names(node.lxc_path, n) == ["frontend", "node1", "node2", "node3"]
                             for n in [*members, "mc-node3"]), timeout=5, what="node3 in every /etc/hosts", interval=0.02)
        for n in [*members, "mc-node3"]:
            same_as_inside(node.lxc_path, n)
        # The cluster network's names are there too, in their own block.
        assert "mc-node3 mc-node3.dlxc" in attach(node.lxc_path, "mc-frontend", "cat", "/etc/hosts").stdout
        assert "10.9.9.9 mine" in attach(node.lxc_path, "mc-node1", "cat", "/etc/hosts").stdout
        wait_for(lambda: (home / "ctx-node3").exists(), timeout=60, what="node3's context")
        wait_for(lambda: (home / "hooks").exists(), timeout=30, what="the add-node hook")
        assert (home / "hooks").read_text() == "added node3 on frontend\n"
        assert (home / "ctx-node3").read_text() == "node mc frontend node1 node2 node3\n"

        # cluster enter: a login shell on the front-end, whose exit code is dlxc's.
        client, fd = on_pty(["cluster", "enter", "mc"], env)
        read_until(fd, b"# ", timeout=30)
        os.write(fd, b"echo on=$(hostname); exit 4\n")
        assert b"on=frontend" in read_until(fd, b"on=frontend")
        assert client.wait(30) == 4
        os.close(fd)
        missing = dlxc("cluster", "enter", "nope", env=env)
        assert (missing.returncode, missing.stderr) == (1, "error: containerclusters/nope not found\n")

        listed = dlxc("cluster", "list", env=env).stdout.splitlines()
        assert listed[1].split()[:5] == ["mc", "Ready", "4/4", listed[1].split()[3], "3"]

        # delnode by name: node2 goes, node3 keeps its name and address (a hole at 2).
        node3_ip = api.get("mc-node3")["spec"]["network"]["ipv4"]
        assert dlxc("cluster", "delnode", "mc", "node2", env=env).stdout == "cluster/mc: removed node2\n"
        wait_for(lambda: file_names(node.lxc_path, "mc-frontend") == ["frontend", "node1", "node3"], timeout=5,
                 what="node2 gone from the front-end's /etc/hosts", interval=0.02)
        same_as_inside(node.lxc_path, "mc-frontend")
        assert "10.9.9.9 mine" in attach(node.lxc_path, "mc-node1", "cat", "/etc/hosts").stdout
        wait_for(lambda: lxc_state(node.lxc_path, "mc-node2") == "MISSING", timeout=60, what="node2 destroyed")
        assert api.get("mc-node3")["spec"]["network"]["ipv4"] == node3_ip
        assert attach(node.lxc_path, "mc-node3", "hostname").stdout == "node3\n"
        wait_for(lambda: (home / "hooks").read_text() == "added node3 on frontend\nremoved node2\n", timeout=30,
                 what="the remove-node hook")

        # Nothing made the front-end look outdated (a stored spec differing from the wanted one would replace it in a loop).
        events = api.http.get(f"{PREFIX}/events", params={"fieldSelector": "involvedObject.name=mc"}).json()["items"]
        assert [e["spec"]["message"] for e in events if e["spec"]["reason"] == "ReplaceFrontend"] == []
        assert dlxc("cluster", "delete", "other", "--no-wait", env=env).returncode == 0
        deleted = dlxc("cluster", "delete", "mc", "--timeout", "120s", env=env, timeout=140)
        assert deleted.stdout == "cluster/mc deleted\n", deleted.stderr
        wait_for(lambda: api.list("containerclusters") == [], timeout=60, what="cluster other deleted")
        assert api.list("containers") == [] and api.list("containersets") == []
        assert [n for n in ("mc-frontend", "mc-node1", "mc-node2", "mc-node3", "other-frontend", "other-node1")
                if lxc_state(node.lxc_path, n) != "MISSING"] == []
    finally:
        api.close()


def test_a_failing_context_script_marks_the_member(cluster: Cluster, tmp_path: Path) -> None:
    node = cluster.add_node()
    env = cluster.api.env()
    api = Api(cluster)
    context = tmp_path / "context"
    context.mkdir()
    (context / "10-ok.sh").write_text("true\n")
    (context / "20-fail.sh").write_text("echo failing >&2\nexit 3\n")
    (context / "30-never.sh").write_text("touch /never\n")
    try:
        wait_for(lambda: len(api.list("nodes")) == 1, timeout=60, what="the node")
        created = dlxc("cluster", "create", "bad", "--front-end-image", "busybox", "--working-node-image", "busybox",
                       "--nodes", "1", "--context-folder", str(context), "--timeout", "120s", env=env, timeout=140)
        assert created.returncode == 1
        assert created.stderr.splitlines()[-1].startswith("error: cluster/bad: bad-")
        assert "script 20-fail.sh exited with code 3" in created.stderr
        cond = api.condition("bad-node1", "Contextualized")
        assert (cond["status"], cond["reason"], cond["message"]) == ("False", "ContextFailed", "script 20-fail.sh exited with code 3")
        assert attach(node.lxc_path, "bad-node1", "test", "-e", "/never").returncode == 1
        events = api.http.get(f"{PREFIX}/events", params={"fieldSelector": "involvedObject.name=bad-node1"}).json()["items"]
        assert [(e["spec"]["type"], e["spec"]["message"]) for e in events if e["spec"]["reason"] == "ContextFailed"] == [
            ("Warning", "script 20-fail.sh exited with code 3")]
        logs = dlxc("logs", "bad-node1", env=env)
        assert "failing\n" in logs.stdout, logs.stdout + logs.stderr
        log = (node.lxc_path / "bad-node1" / "context.log").read_text()
        assert "==> 20-fail.sh\nfailing\n<== 20-fail.sh exited 3\n" in log
        assert dlxc("cluster", "delete", "bad", env=env, timeout=140).returncode == 0
    finally:
        api.close()
