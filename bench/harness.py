"""A throwaway one-node cluster for benchmarks: etcd, apiserver, scheduler, controller and a real kubelet."""
from __future__ import annotations

import ipaddress
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import psutil

if TYPE_CHECKING:
    from kubelet.hostfeatures import LxcfsBaseline

__all__ = ["BenchCluster", "Processes", "cpu_seconds", "etcd_revision", "free_port", "percentile", "stop", "wait_http"]

PREFIX = "/apis/dlxc.io/v1"


def _exit_on_sigterm() -> None:
    """A benchmark stopped by SIGTERM (`timeout`, a CI runner) unwinds like one interrupted by Ctrl-C, so
    its `finally` stops the processes it started in their own sessions; by default SIGTERM ends the
    script at once and they outlive it. Every benchmark imports this module, so it is set up here."""
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


_exit_on_sigterm()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url: str, *, timeout: float = 30.0, what: str = "", verify: str | bool = True) -> None:
    """Until GET url answers 200; `what` is added to the error (e.g. where the logs are); `verify`
    is a CA file for an https URL of the bench's own PKI."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1.0, verify=verify).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer within {timeout:g}s{what}")


def _free_subnet(prefixlen: int) -> ipaddress.IPv4Interface:
    used = subprocess.run(["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True, check=True).stdout
    nets = [ipaddress.IPv4Interface(w).network for line in used.splitlines() for w in line.split() if "/" in w and w[0].isdigit()]
    for _ in range(200):
        base = ipaddress.IPv4Network(f"10.{secrets.choice(range(150, 200))}.{secrets.randbelow(64) * 4}.0/{prefixlen}", strict=False)
        if not any(base.overlaps(n) for n in nets):
            return ipaddress.IPv4Interface(f"{base[1]}/{prefixlen}")
    raise RuntimeError("no free 10.x subnet for the bench bridge")


def etcd_argv(data_dir: Path, client: int, peer: int, *extra: str, binary: str = "etcd") -> list[str]:
    """A one-member etcd on loopback: client and peer ports, its data in data_dir."""
    return [binary, "--name", "bench", "--data-dir", str(data_dir),
            "--listen-client-urls", f"http://127.0.0.1:{client}", "--advertise-client-urls", f"http://127.0.0.1:{client}",
            "--listen-peer-urls", f"http://127.0.0.1:{peer}", "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
            "--initial-cluster", f"bench=http://127.0.0.1:{peer}", *extra]


def etcd_revision(url: str) -> int:
    """etcd's store revision (at url, its client URL): it moves by one per write transaction."""
    response = httpx.post(f"{url}/v3/kv/range", json={"key": "AA==", "limit": 1}, timeout=5)
    response.raise_for_status()
    return int(response.json()["header"]["revision"])


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def cpu_seconds(proc: subprocess.Popen) -> float:
    """User + system CPU seconds of a process so far."""
    times = psutil.Process(proc.pid).cpu_times()
    return times.user + times.system


def stop(proc: subprocess.Popen, *, grace: float = 15.0) -> None:
    """SIGTERM, then SIGKILL after `grace` seconds."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# `python -m cProfile -o FILE` writes nothing when the process ends by a signal, and uvicorn re-raises
# the SIGTERM it caught once it has shut down: here SIGTERM is an exit, so the stats are written.
_PROFILED = """\
import cProfile, runpy, signal, sys
out, sys.argv = sys.argv[1], ["dlxc", *sys.argv[2:]]
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
profile = cProfile.Profile()
try:
    profile.runcall(runpy.run_module, "dlxc", run_name="__main__", alter_sys=True)
except SystemExit:
    pass
finally:
    profile.dump_stats(out)
"""


def dlxc_argv(*args: str, profile: str | None = None) -> list[str]:
    """`python -m dlxc ARGS`; with `profile`, under cProfile with its stats written to that file at exit."""
    if profile:
        return [sys.executable, "-c", _PROFILED, profile, *args]
    return [sys.executable, "-m", "dlxc", *args]


class Processes:
    """The processes a benchmark starts, each in a session of its own with its output in TMP/NAME.log;
    `cleanup` stops them, the newest first."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.procs: list[subprocess.Popen] = []

    def spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
        with (self.tmp / f"{name}.log").open("wb") as log:
            proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        self.procs.append(proc)
        return proc

    def cleanup(self) -> None:
        for proc in reversed(self.procs):
            stop(proc)


@dataclass
class BenchCluster:
    kubelet_args: list[str] = field(default_factory=list)
    subnet_prefixlen: int = 24
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="dlxc-bench-")))
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    lxcfs: LxcfsBaseline | None = None  # noted by up()

    def __post_init__(self) -> None:
        self.root.chmod(0o711)  # unprivileged container root must pass through to its rootfs
        self.node = f"bench-{secrets.token_hex(3)}"
        self.bridge = f"db{secrets.token_hex(3)}"
        # A cluster network of its own (bridge and /16), as the tests have: never a user's dlxc0 or 10.88/16.
        self.cluster_bridge = f"dc{secrets.token_hex(3)}"
        self.cluster_cidr = f"10.{64 + secrets.randbelow(64)}.0.0/16"
        self.subnet = _free_subnet(self.subnet_prefixlen)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.lxc_path = self.root / "lxc"
        self.image_dir = self.root / "images"

    def _spawn(self, name: str, args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
        with (self.root / f"{name}.log").open("ab") as log:
            proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    env={**os.environ, **(env or {})}, start_new_session=True)
        self.procs[name] = proc
        return proc

    def up(self) -> None:
        from apiserver.auth import TokenFile
        from kubelet.hostfeatures import LxcfsBaseline

        # The kubelet starts lxcfs if the machine does not run it; down() stops that one, as the tests do.
        self.lxcfs = LxcfsBaseline.now()

        tokens = TokenFile(self.root / "tokens")
        self.token = tokens.add("admin", "admin")
        kubelet_token = tokens.add(f"kubelet-{self.node}", f"node:{self.node}")
        client, peer = free_port(), free_port()
        self.etcd_url = f"http://127.0.0.1:{client}"
        self._spawn("etcd", etcd_argv(self.root / "etcd", client, peer))
        wait_http(f"http://127.0.0.1:{client}/health", what=f"; logs in {self.root}")
        py = [sys.executable, "-m", "dlxc"]
        # Exec/attach/logs need mutual TLS between the apiserver and the kubelet (bench/exec.py).
        from dlxc.cluster.pki import ensure_pki, issue_apiserver_client, issue_kubelet_serving

        pki = ensure_pki(self.root / "pki")
        client_cert, client_key = issue_apiserver_client(self.root / "pki")
        stream_cert, stream_key = issue_kubelet_serving(self.root / "pki", self.node)
        self._spawn("apiserver", py + ["apiserver", "--port", str(self.port), "--insecure-http", "--etcd-endpoints", f"http://127.0.0.1:{client}",
                                       "--token-file", str(self.root / "tokens"), "--log-level", "warning",
                                       "--kubelet-client-certificate", str(client_cert), "--kubelet-client-key", str(client_key),
                                       "--kubelet-certificate-authority", str(pki.ca_cert), "--cluster-cidr", self.cluster_cidr])
        wait_http(f"{self.url}/readyz", what=f"; logs in {self.root}")
        env = {"DLXC_SERVER": self.url, "DLXC_TOKEN": self.token}
        self._spawn("scheduler", py + ["scheduler", "--log-level", "warning"], env)
        self._spawn("controller", py + ["controller", "--log-level", "warning"], env)
        self.kubelet = self._spawn("kubelet", py + ["kubelet", "--node-name", self.node, "--lxc-path", str(self.lxc_path),
                                                    "--image-dir", str(self.image_dir), "--bridge", self.bridge,
                                                    "--subnet", self.subnet.with_prefixlen, "--log-level", "warning",
                                                    "--stream-cert-file", str(stream_cert), "--stream-key-file", str(stream_key),
                                                    "--stream-client-ca-file", str(pki.ca_cert), "--stream-host", "127.0.0.1",
                                                    "--cluster-cidr", self.cluster_cidr, "--cluster-bridge", self.cluster_bridge,
                                                    *self.kubelet_args],
                                   {"DLXC_SERVER": self.url, "DLXC_TOKEN": kubelet_token})
        self.http = httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=30)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            response = self.http.get(f"{PREFIX}/nodes/{self.node}")
            if response.status_code == 200 and any(
                    c["type"] == "Ready" and c["status"] == "True" for c in response.json()["status"].get("conditions", [])):
                return
            time.sleep(0.2)
        raise RuntimeError(f"node {self.node} not Ready; logs in {self.root}")

    def create(self, name: str, **spec: object) -> None:
        response = self.http.post(f"{PREFIX}/containers", json={"metadata": {"name": name}, "spec": {"image": "busybox", **spec}})
        response.raise_for_status()

    def warm_image(self, *, timeout: float = 60.0) -> None:
        """Run one busybox container (no network), so the containers measured after it do not pay for the image build."""
        self.create("warmup", network={"type": "none"})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not any(
                o["status"].get("phase") == "Running" for o in self.containers() if o["metadata"]["name"] == "warmup"):
            time.sleep(0.2)

    def etcd_revision(self) -> int:
        """etcd's store revision: it moves by one per write transaction, whatever the transaction holds."""
        return etcd_revision(self.etcd_url)

    def containers(self) -> list[dict]:
        return self.http.get(f"{PREFIX}/containers").json()["items"]

    def down(self) -> None:
        for name in ("kubelet", "controller", "scheduler", "apiserver", "etcd"):
            proc = self.procs.get(name)
            if proc is None or proc.poll() is not None:
                continue
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        from kubelet import network, overlay, runtime

        rt = runtime.LxcRuntime(self.lxc_path)
        with ThreadPoolExecutor(max_workers=16) as pool:
            list(pool.map(lambda n: rt.destroy(n, timeout=0), rt.names()))
        if network.bridge_exists(self.bridge):
            network.delete_bridge(self.bridge)
        overlay.teardown(self.cluster_bridge)
        if self.lxcfs is not None:
            self.lxcfs.restore()
        shutil.rmtree(self.root, ignore_errors=True)
