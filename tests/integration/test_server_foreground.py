"""`dlxc server`: the control plane as the dlxc-server systemd unit runs it, in the foreground."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "e2e"))
from test_up_nodes import free_block

from dlxc.cluster.host import HostLayout, plan_server
from dlxc.cluster.pki import ssl_context

pytestmark = pytest.mark.timeout(120)


def start(tmp_path: Path) -> tuple[subprocess.Popen, str, Path]:
    layout = HostLayout.of(tmp_path / "host")
    port = free_block(3)
    plan = plan_server(layout, advertise="127.0.0.1", port=port, node_name=None)
    proc = subprocess.Popen([sys.executable, "-m", "dlxc", "server", "--state-dir", str(tmp_path / "host")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"https://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/readyz", verify=ssl_context(layout.pki / "ca.crt"), timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.terminate()  # it stops its children itself
            out, _ = proc.communicate(timeout=30)
            raise AssertionError(f"the apiserver of `dlxc server` did not answer:\n{out}")
        time.sleep(0.2)
    assert [c.name for c in plan.components] == ["etcd", "apiserver", "scheduler", "controller"]
    return proc, url, layout.pki / "ca.crt"


def children(proc: subprocess.Popen) -> list[psutil.Process]:
    return psutil.Process(proc.pid).children()


def wait_children(proc: subprocess.Popen, count: int) -> list[psutil.Process]:
    deadline = time.monotonic() + 30
    while len(kids := children(proc)) < count:
        assert time.monotonic() < deadline, [k.cmdline() for k in kids]
        time.sleep(0.2)
    return kids


def test_sigterm_stops_every_component_and_exits_0(tmp_path: Path) -> None:
    proc, _, _ = start(tmp_path)
    with proc:
        kids = wait_children(proc, 4)
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
        assert proc.returncode == 0
        _, alive = psutil.wait_procs(kids, timeout=5)
        assert alive == []


def test_a_dead_component_stops_the_rest_and_exits_1_for_systemd_to_restart(tmp_path: Path) -> None:
    proc, _, _ = start(tmp_path)
    with proc:
        kids = wait_children(proc, 4)
        apiserver = next(k for k in kids if "apiserver" in k.cmdline())
        os.kill(apiserver.pid, signal.SIGKILL)
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == 1
        assert "dlxc server: apiserver exited with -9; stopping the others" in out
        _, alive = psutil.wait_procs(kids, timeout=5)
        assert alive == []


def spawn_unready(tmp_path: Path, **popen: object) -> subprocess.Popen:
    """`dlxc server` of a fresh layout, not waited for."""
    plan_server(HostLayout.of(tmp_path / "host"), advertise="127.0.0.1", port=free_block(3), node_name=None)
    return subprocess.Popen([sys.executable, "-m", "dlxc", "server", "--state-dir", str(tmp_path / "host")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **popen)


def test_sigterm_to_the_whole_group_during_start_up_stops_at_once(tmp_path: Path) -> None:
    # As a test run or a shell's Ctrl-C stops it: the signal reaches `dlxc server` and its children alike, while
    # it still waits for one to answer. It used to wait out its 90 s start-up timeout for the dead child.
    proc = spawn_unready(tmp_path, start_new_session=True)
    with proc:
        kids = wait_children(proc, 1)
        os.killpg(proc.pid, signal.SIGTERM)
        began = time.monotonic()
        out, _ = proc.communicate(timeout=60)
        assert time.monotonic() - began < 10, out
        assert proc.returncode == 0, out
        _, alive = psutil.wait_procs(kids, timeout=5)
        assert alive == []


def test_a_component_dead_during_start_up_stops_the_rest_at_once(tmp_path: Path) -> None:
    proc = spawn_unready(tmp_path)
    with proc:
        etcd = wait_children(proc, 1)[0]
        etcd.kill()
        began = time.monotonic()
        out, _ = proc.communicate(timeout=60)
        assert time.monotonic() - began < 10, out
        assert proc.returncode == 1
        assert "etcd exited with -9" in out, out
