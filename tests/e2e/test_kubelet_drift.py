"""Drift: what happens behind dlxc's back is put back; kubelet and apiserver outages touch nothing that runs."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import Cluster, ThreadedServer
from kubelet_helpers import Api, init_pid, lxc_state, wait_for

pytestmark = [pytest.mark.lxc, pytest.mark.timeout(280)]


def running(api: Api, name: str) -> bool:
    return api.phase(name) == "Running"


def restart_kubelet(cluster: Cluster, node, *, sig: int = signal.SIGTERM) -> None:
    assert node.proc is not None
    node.proc.send_signal(sig)
    node.proc.wait(15)
    cluster.start_kubelet(node)


def test_freeze_config_edit_kubelet_restart_and_orphans(cluster: Cluster) -> None:
    node = cluster.add_node()
    api = Api(cluster)
    try:
        api.create("drift", node, network={"type": "none"}, env={"MODE": "prod"})
        api.create("doomed", node, network={"type": "none"})
        for name in ("drift", "doomed"):
            wait_for(lambda: running(api, name), timeout=60, what=f"{name} Running")
        pid = init_pid(node.lxc_path, "drift")

        # Frozen behind our back: thawed, not restarted.
        subprocess.run(["lxc-freeze", "-P", str(node.lxc_path), "-n", "drift"], check=True)
        wait_for(lambda: lxc_state(node.lxc_path, "drift") == "RUNNING", timeout=10, what="thawed")
        assert init_pid(node.lxc_path, "drift") == pid

        # Config edited behind our back: written back, and the edited key (env) needs a restart to drop.
        config = node.lxc_path / "drift" / "config"
        pristine = config.read_text()
        with config.open("a") as handle:
            handle.write("lxc.environment = INJECTED=1\n")
        wait_for(lambda: config.read_text() == pristine, timeout=10, what="config put back")
        wait_for(lambda: init_pid(node.lxc_path, "drift") not in (pid, -1) and running(api, "drift"), timeout=30, what="restarted")
        pid = init_pid(node.lxc_path, "drift")
        assert b"INJECTED=1" not in Path(f"/proc/{pid}/environ").read_bytes()

        # The kubelet stops (cleanly, then killed): nothing running is restarted when it comes back.
        for sig in (signal.SIGTERM, signal.SIGKILL):
            restart_kubelet(cluster, node, sig=sig)
            wait_for(lambda: api.get(node.name, "nodes")["status"]["lastHeartbeatTime"], timeout=30, what="heartbeat")
            time.sleep(3)
            assert init_pid(node.lxc_path, "drift") == pid

        # Deleted while the kubelet was down: the LXC container is removed when it returns.
        # A container dlxc did not make, in the same lxcpath, is left alone.
        assert node.proc is not None
        node.proc.send_signal(signal.SIGTERM)
        node.proc.wait(15)
        api.patch("doomed", {"metadata": {"finalizers": []}})
        api.delete("doomed")
        foreign = node.lxc_path / "handmade"
        foreign.mkdir()
        (foreign / "config").write_text("lxc.uts.name = handmade\nlxc.rootfs.path = dir:/nonexistent\n")
        cluster.start_kubelet(node)
        wait_for(lambda: not (node.lxc_path / "doomed").exists(), timeout=30, what="orphan removed")
        assert lxc_state(node.lxc_path, "doomed") == "MISSING"
        assert (foreign / "config").read_text() == "lxc.uts.name = handmade\nlxc.rootfs.path = dir:/nonexistent\n"
        assert init_pid(node.lxc_path, "drift") == pid
    finally:
        api.close()


def test_apiserver_outage_keeps_containers_running(cluster: Cluster) -> None:
    node = cluster.add_node()
    api = Api(cluster)
    try:
        api.create("steady", node, network={"type": "none"})
        wait_for(lambda: running(api, "steady"), timeout=60, what="Running")
        pid = init_pid(node.lxc_path, "steady")

        from apiserver.app import ApiServerSettings

        assert cluster.api.server is not None
        cluster.api.server.stop()
        time.sleep(4)  # the kubelet's watch, heartbeat and status writes all fail meanwhile
        assert init_pid(node.lxc_path, "steady") == pid
        assert node.proc is not None and node.proc.poll() is None

        port = int(cluster.api.url.rsplit(":", 1)[1])
        settings = ApiServerSettings(etcd_endpoints=[cluster.api.etcd.endpoint], etcd_prefix=cluster.api.prefix,
                                     token_file=cluster.api.token_file)
        cluster.api.server = ThreadedServer(settings, port)
        cluster.api.server.start(cluster.api.url)

        # Back: the kubelet notices, resyncs, resumes its watch and acts on what changed.
        assert node.log is not None
        wait_for(lambda: "apiserver reachable again; resyncing" in node.log.read_text(), timeout=30, what="resync on return")
        api.create("newcomer", node, network={"type": "none"})
        wait_for(lambda: running(api, "newcomer"), timeout=60, what="newcomer Running")
        assert init_pid(node.lxc_path, "steady") == pid
        assert running(api, "steady")
    finally:
        api.close()


@pytest.mark.slow
# Twenty kubelet restarts in ~25 s: on a loaded machine a restart can take longer than the 5 s node
# grace, and the controller then rightly moves everything. This test is about the kubelet, not failover.
@pytest.mark.controller_args("--node-grace", "60")
def test_kill_kubelet_20_times_during_a_burst_of_creates(cluster: Cluster) -> None:
    import lxc

    node = cluster.add_node()
    api = Api(cluster)
    names = [f"burst-{i:02d}" for i in range(24)]
    first_pid: dict[str, int] = {}

    def sample() -> None:
        # The first init pid seen for each running container; any later change would be a restart.
        for name in names:
            container = lxc.Container(name, str(node.lxc_path))
            if container.state == "RUNNING" and container.init_pid > 0:
                pid = first_pid.setdefault(name, container.init_pid)
                assert pid == container.init_pid, f"{name} was restarted ({pid} -> {container.init_pid})"

    try:
        wait_for(lambda: api.get(node.name, "nodes")["status"].get("lastHeartbeatTime"), timeout=30, what="node")
        rng = random.Random(5)
        pending = list(names)
        started = time.monotonic()
        for kill in range(20):
            for _ in range(min(len(pending), 2)):
                api.create(pending.pop(0), node, network={"type": "none"})
            time.sleep(rng.uniform(0.8, 1.6))
            sample()
            assert node.proc is not None
            os.kill(node.proc.pid, signal.SIGKILL)
            node.proc.wait(10)
            cluster.start_kubelet(node)
        for name in pending:
            api.create(name, node, network={"type": "none"})
        wait_for(lambda: all(running(api, n) for n in names), timeout=90, what="all Running", interval=0.5)
        sample()
        print(f"converged {time.monotonic() - started:.1f}s after the first create")
        listed = sorted(lxc.list_containers(config_path=str(node.lxc_path)))
        assert listed == names  # no duplicate, no orphan
        assert sorted(p.name for p in node.lxc_path.iterdir() if not p.name.startswith(".")) == names  # dot-dirs are bookkeeping
        assert sorted(o["metadata"]["name"] for o in api.list()) == names
        assert all(lxc_state(node.lxc_path, n) == "RUNNING" for n in names)
        assert set(first_pid) == set(names)
        time.sleep(2)
        sample()
    finally:
        api.close()
