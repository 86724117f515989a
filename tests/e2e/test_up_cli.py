"""The quick start through the CLI: `dlxc up` applies the examples and they run; `dlxc down --purge`
leaves nothing behind (no process, container, bridge, state dir or client config)."""
from __future__ import annotations

import ipaddress
import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest
from conftest import spread
from test_up_nodes import free_block

from dlxc.cluster.local import lxc_containers_running
from dlxc.cluster.pki import ssl_context
from kubelet import hostfeatures

pytestmark = [pytest.mark.timeout(240), pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")]


def dlxc(*args: str, env: dict[str, str], timeout: float = 150) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dlxc", *args], env=env, capture_output=True, text=True, timeout=timeout)


def processes_using(state: Path) -> list[int]:
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        if any(str(state) in part for part in proc.info["cmdline"] or []):
            found.append(proc.info["pid"])
    return found


def test_up_applies_the_examples_and_down_purge_leaves_nothing(lxc_root: Path, tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.fail("LXC tests need root")
    lxcfs_before = hostfeatures.lxcfs_mounted()
    suffix = secrets.token_hex(2)
    state, bridge = lxc_root / f"cli-{suffix}", f"dq{suffix}"
    config = tmp_path / "config.yaml"
    env = {**os.environ, "DLXC_CONFIG": str(config), "DLXC_STATE_DIR": str(state), "DLXC_PORT": str(free_block(3)),
           "DLXC_BRIDGE": bridge, "DLXC_SUBNET": f"10.{230 + secrets.randbelow(20)}.{spread(0, 200)}.1/24",
           # The cluster network too is the test's own, and no NAT rule or forwarding is switched on on this host.
           "DLXC_CLUSTER_BRIDGE": f"{bridge}c", "DLXC_CLUSTER_CIDR": f"10.{spread(64, 64)}.0.0/16",
           "DLXC_OUTBOUND_NAT": "false"}
    env.pop("DLXC_SERVER", None)
    env.pop("DLXC_TOKEN", None)
    try:
        up = dlxc("up", env=env)
        assert up.returncode == 0, up.stdout + up.stderr
        assert "cluster is up: apiserver https://127.0.0.1:" in up.stdout
        server = up.stdout.split("cluster is up: apiserver ", 1)[1].split(",", 1)[0]
        assert f"dashboard: {server}/ui/ (`dlxc dashboard` prints a one-time login link)" in up.stdout
        link = dlxc("dashboard", env=env, timeout=30)
        assert link.returncode == 0 and link.stdout.startswith(f"{server}/ui/login?code="), link.stdout + link.stderr
        ca = state / "pki" / "ca.crt"
        login = httpx.get(link.stdout.strip(), verify=ssl_context(ca), timeout=10)
        assert (login.status_code, login.headers["location"]) == (303, "/ui/")
        assert "HttpOnly" in login.headers["set-cookie"] and "Secure" in login.headers["set-cookie"]
        for name in ("shop-frontend", "shop-backend", "shop-db", "my-web-server"):
            assert f"container/{name} created" in up.stdout
        assert config.is_file()
        deadline = time.monotonic() + 90
        while True:
            got = dlxc("get", "containers", "-o", "json", env=env, timeout=30)
            assert got.returncode == 0, got.stderr
            phases = {c["metadata"]["name"]: c["status"].get("phase") for c in json.loads(got.stdout)["items"]}
            if len(phases) == 4 and set(phases.values()) == {"Running"}:
                break
            assert time.monotonic() < deadline, f"not all Running: {phases}"
            time.sleep(0.5)
        assert (state / "lxc" / "shop-db").is_dir()
        # Getting inside works on the cluster `up` made: its CA issued the kubelet's and the apiserver's certificates.
        inside = dlxc("exec", "shop-db", "--", "hostname", env=env, timeout=30)
        assert (inside.returncode, inside.stdout) == (0, "shop-db\n"), inside.stderr
        # The examples without a network field are on the cluster network, with addresses of it.
        db = json.loads(dlxc("get", "container", "shop-db", "-o", "json", env=env, timeout=30).stdout)
        assert ipaddress.IPv4Interface(db["spec"]["network"]["ipv4"]).network == ipaddress.IPv4Network(env["DLXC_CLUSTER_CIDR"])
        assert Path("/sys/class/net", f"{bridge}c", "bridge").is_dir()

        # What needs no trust is allowed; a home is not, and the refusal names what is.
        manifest = tmp_path / "mounts.yaml"
        manifest.write_text("name: homey\nimage: busybox\nmounts: [/home:/data]\n")
        refused = dlxc("apply", "-f", str(manifest), env=env, timeout=30)
        assert refused.returncode == 1
        assert f"/home is not under an allowed host path: {state / 'volumes'}, /usr/share (read-only)" in refused.stderr
        manifest.write_text("name: priv\nimage: busybox\nprivileged: true\n")
        assert dlxc("apply", "-f", str(manifest), "--dry-run=server", env=env, timeout=30).returncode == 1

        # A change the user made survives `down` + `up`: the examples are applied only at creation.
        assert dlxc("stop", "shop-frontend", env=env, timeout=30).returncode == 0
        started = time.monotonic()
        down = dlxc("down", env=env)
        print(f"dlxc down of 4 running containers: {time.monotonic() - started:.1f}s")
        assert down.returncode == 0, down.stdout + down.stderr
        up = dlxc("up", "--allow-privileged", env=env)
        assert up.returncode == 0, up.stdout + up.stderr
        assert "examples not applied: the cluster existed already" in up.stdout
        assert "container/" not in up.stdout  # nothing created or configured
        got = dlxc("get", "container", "shop-frontend", "-o", "json", env=env, timeout=30)
        assert json.loads(got.stdout)["spec"]["state"] == "Stopped"
        # `up --allow-privileged` reaches the apiserver: a privileged container is accepted now.
        allowed = dlxc("apply", "-f", str(manifest), "--dry-run=server", env=env, timeout=30)
        assert allowed.returncode == 0, allowed.stderr
    finally:
        down = dlxc("down", "--purge", env=env)
    assert down.returncode == 0, down.stdout + down.stderr
    assert "destroyed 4 containers" in down.stdout
    assert not state.exists()
    assert not config.exists()
    assert not Path("/sys/class/net", bridge).exists()
    assert not Path("/sys/class/net", f"{bridge}c").exists()
    assert processes_using(state) == []
    if not lxcfs_before and not lxc_containers_running():
        assert not hostfeatures.lxcfs_mounted(), "the lxcfs the kubelet started outlived `dlxc down`"


def test_down_purge_refuses_a_folder_up_did_not_make(tmp_path: Path) -> None:
    keep = tmp_path / "precious"
    keep.mkdir()
    (keep / "data").write_text("mine")
    done = dlxc("down", "--purge", "--state-dir", str(keep), env={**os.environ, "DLXC_CONFIG": str(tmp_path / "c.yaml")})
    assert done.returncode != 0
    assert "is not the state dir of a `dlxc up` cluster" in done.stdout + done.stderr
    assert (keep / "data").read_text() == "mine"


MANIFESTS = """\
apiVersion: dlxc.io/v1
kind: Container
metadata: {name: keeper}
spec: {image: busybox, restartPolicy: Always, network: {type: none}}
---
apiVersion: dlxc.io/v1
kind: Container
metadata: {name: once}
spec: {image: busybox, restartPolicy: Never, network: {type: none}}
---
apiVersion: dlxc.io/v1
kind: Container
metadata: {name: picky}
spec: {image: busybox, restartPolicy: OnFailure, network: {type: none}}
"""


def statuses(env: dict[str, str]) -> dict[str, dict]:
    got = dlxc("get", "containers", "-o", "json", env=env, timeout=30)
    assert got.returncode == 0, got.stderr
    return {c["metadata"]["name"]: c.get("status") or {} for c in json.loads(got.stdout)["items"]}


def wait_all_running(env: dict[str, str], count: int, *, timeout: float = 90, since: dict[str, dict] | None = None) -> dict[str, dict]:
    """All `count` containers Running and Ready; with `since` (statuses from before), each started again
    after it: right after `up` the statuses still say Running from before `down` until the kubelet reports."""
    deadline = time.monotonic() + timeout
    while True:
        found = statuses(env)
        ready = [s for n, s in found.items() if s.get("phase") == "Running"
                 and any(c["type"] == "Ready" and c["status"] == "True" for c in s.get("conditions", []))
                 and (since is None or s.get("startedAt") != since.get(n, {}).get("startedAt"))]
        if len(found) == count and len(ready) == count:
            return found
        assert time.monotonic() < deadline, f"not all Running and Ready: { {n: s.get('phase') for n, s in found.items()} }"
        time.sleep(0.5)


def test_down_then_up_is_not_a_crash(lxc_root: Path, tmp_path: Path) -> None:
    """Issue 18: `dlxc down` stops the containers, but that is dlxc's stop, not their exit: after `up`
    each runs again (restartPolicy Never and OnFailure too) with no restart counted and no lastExit."""
    if os.geteuid() != 0:
        pytest.fail("LXC tests need root")
    suffix = secrets.token_hex(2)
    state, bridge = lxc_root / f"cli-{suffix}", f"dq{suffix}"
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    (manifests / "three.yaml").write_text(MANIFESTS)
    env = {**os.environ, "DLXC_CONFIG": str(tmp_path / "config.yaml"), "DLXC_STATE_DIR": str(state),
           "DLXC_PORT": str(free_block(3)), "DLXC_BRIDGE": bridge,
           "DLXC_SUBNET": f"10.{230 + secrets.randbelow(20)}.{spread(0, 200)}.1/24",
           # A cluster network of its own (not the default dlxc0 of a user's `make up`, nor another test's), no NAT.
           "DLXC_CLUSTER_BRIDGE": f"{bridge}c", "DLXC_CLUSTER_CIDR": f"10.{spread(64, 64)}.0.0/16", "DLXC_OUTBOUND_NAT": "false"}
    env.pop("DLXC_SERVER", None)
    env.pop("DLXC_TOKEN", None)
    try:
        up = dlxc("up", "--examples", str(manifests), env=env)
        assert up.returncode == 0, up.stdout + up.stderr
        before = wait_all_running(env, 3)
        down = dlxc("down", env=env)
        assert down.returncode == 0, down.stdout + down.stderr
        again = dlxc("up", "--examples", str(manifests), env=env)
        assert again.returncode == 0, again.stdout + again.stderr
        after = wait_all_running(env, 3, since=before)
        time.sleep(2)  # any wrongly recorded exit would show by now
        after = statuses(env)
        for name in ("keeper", "once", "picky"):
            status = after[name]
            assert status["phase"] == "Running", (name, status)
            assert status.get("restartCount", 0) == before[name].get("restartCount", 0) == 0, (name, status)
            assert "lastExit" not in status, (name, status)
            assert not any(c["type"] == "CrashLoopBackOff" for c in status.get("conditions", [])), (name, status)
            assert status["startedAt"] != before[name]["startedAt"]  # it really was stopped and started again
    finally:
        down = dlxc("down", "--purge", env=env)
    assert down.returncode == 0, down.stdout + down.stderr
    assert not state.exists()


def test_up_ends_at_once_when_a_component_it_started_exits(lxc_root: Path, tmp_path: Path) -> None:
    """The apiserver's port is taken: it exits at start, and `up` says so then, not after its 60 s wait."""
    import socket

    suffix = secrets.token_hex(2)
    state, bridge, port = lxc_root / f"cli-{suffix}", f"dq{suffix}", free_block(3)
    env = {**os.environ, "DLXC_CONFIG": str(tmp_path / "config.yaml"), "DLXC_STATE_DIR": str(state),
           "DLXC_PORT": str(port), "DLXC_BRIDGE": bridge,
           "DLXC_SUBNET": f"10.{230 + secrets.randbelow(20)}.{spread(0, 200)}.1/24",
           "DLXC_CLUSTER_BRIDGE": f"{bridge}c", "DLXC_CLUSTER_CIDR": f"10.{spread(64, 64)}.0.0/16", "DLXC_OUTBOUND_NAT": "false"}
    env.pop("DLXC_SERVER", None)
    env.pop("DLXC_TOKEN", None)
    squatter = socket.create_server(("127.0.0.1", port))
    try:
        began = time.monotonic()
        up = dlxc("up", env=env)
        took = time.monotonic() - began
        assert up.returncode == 1, up.stdout + up.stderr
        assert up.stderr == f"error: the apiserver did not come up: apiserver exited; see {state / 'logs'}\n"
        assert took < 30, took
    finally:
        squatter.close()
        down = dlxc("down", "--purge", env=env)
    assert down.returncode == 0, down.stdout + down.stderr
    assert processes_using(state) == []
