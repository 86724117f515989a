"""`dlxc logs -f` through the API from a real stream server (mutual TLS, console log files written by
the test): the follow ends when the container is deleted (exit 0), and when its node stops serving
it, an error that says why (a dead host sends no FIN: the follow waited for bytes forever)."""
from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import Etcd, run
from kubelet.runtime import LxcRuntime
from statskubelet import UsageCluster, started_usage_cluster

pytestmark = pytest.mark.timeout(90)


class LogRuntime:
    """Container `web` on disk as liblxc leaves its console log; `gone` once deleted."""

    def __init__(self, lxc_path: Path) -> None:
        self.lxc_path = lxc_path
        self.gone = False
        (lxc_path / "web").mkdir(parents=True)
        (lxc_path / "web" / "console.log").write_bytes(b"booted\n")

    def container_dir(self, name: str) -> Path:
        return self.lxc_path / name

    def state(self, name: str) -> str | None:
        return None if self.gone or name != "web" else "RUNNING"

    console_log_files = LxcRuntime.console_log_files
    console_log_names = LxcRuntime.console_log_names


@pytest.fixture
def logged(etcd: Etcd, tmp_path: Path) -> Iterator[tuple[UsageCluster, LogRuntime]]:
    runtime = LogRuntime(tmp_path / "lxc")
    with started_usage_cluster(etcd, tmp_path, runtime) as cluster:
        cluster.running("web")
        yield cluster, runtime


def follow(cluster: UsageCluster) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "dlxc", "logs", "-f", "web"], env=cluster.api.env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline() == "booted\n"
    return proc


def ended(proc: subprocess.Popen, *, within: float) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=within)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise AssertionError(f"the follow did not end within {within}s") from None
    return proc.returncode, out, err


def test_a_follow_ends_with_an_error_when_the_node_stops_serving_it(logged: tuple[UsageCluster, LogRuntime]) -> None:
    cluster, _runtime = logged
    proc = follow(cluster)

    async def not_ready() -> None:
        async with cluster.api.client() as client:
            await client.patch_status("nodes", "n1", {"conditions": [
                {"type": "Ready", "status": "Unknown", "reason": "NodeStatusUnknown", "message": "the kubelet stopped posting"}]})

    run(not_ready())
    started = time.monotonic()
    code, _out, err = ended(proc, within=15)
    assert (code, err) == (1, "error: the log of container web stopped: node n1 is not Ready (the container fails over "
                              "from there); `dlxc logs -f web` again once it runs\n")
    assert time.monotonic() - started < 8


def test_a_follow_ends_cleanly_when_the_container_is_deleted(logged: tuple[UsageCluster, LogRuntime]) -> None:
    cluster, runtime = logged
    proc = follow(cluster)
    with open(runtime.container_dir("web") / "console.log", "ab") as console:
        console.write(b"later\n")
    assert proc.stdout is not None and proc.stdout.readline() == "later\n"

    async def delete() -> None:
        async with cluster.api.client() as client:
            await client.delete("containers", "web")

    runtime.gone = True
    shutil.rmtree(runtime.container_dir("web"))  # as lxc-destroy leaves it
    run(delete())
    code, _out, err = ended(proc, within=15)
    assert (code, err) == (0, "")


def test_follow_with_previous_prints_the_run_before_and_ends_cleanly(logged: tuple[UsageCluster, LogRuntime]) -> None:
    """The run before does not grow: the kubelet sends it and ends, which is no stream cut off."""
    from kubelet.runtime import PREVIOUS_LOG

    cluster, runtime = logged
    (runtime.container_dir("web") / PREVIOUS_LOG).write_bytes(b"the run before\n")
    proc = subprocess.Popen([sys.executable, "-m", "dlxc", "logs", "-f", "-p", "web"], env=cluster.api.env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert ended(proc, within=15) == (0, "the run before\n", "")
