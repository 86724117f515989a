"""Nodes as network namespaces: each simulated host is an `ip netns` on a shared "LAN" bridge, with its own kubelet.

The LAN is a bridge the test makes on the host; each namespace plugs into it with a veth and has
its own address on it, and the host holds the LAN's first address. The apiserver listens on it
over TLS (the test CA names it), the scheduler and controller run on the host, and each kubelet
runs inside its namespace with its own lxcpath, node bridge and cluster network bridge, reaching
the apiserver and the other namespaces' VXLAN ports over the LAN (nothing has a route off it, so
no packet leaves the machine). Power loss kills the kubelet and every container init of the
namespace with SIGKILL; a partition takes the namespace's LAN port down. Everything (namespaces,
veths, the LAN bridge, containers, processes) is removed by `close()`, on failure too.
Used by tests/e2e/test_failover.py, tests/e2e/test_overlay_hosts.py, bench/failover.py and bench/network.py.
"""
from __future__ import annotations

import gc
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from dlxc.cluster.pki import Pki

try:
    from conftest import spread  # under pytest: octets from this xdist worker's own share
except ModuleNotFoundError:  # a bench/ script (run by tests/e2e/test_bench_smoke.py in a worker, or alone)

    def spread(base: int, span: int) -> int:
        """tests/conftest.py's spread(): the share of the xdist worker whose test started this script."""
        worker = os.environ.get("PYTEST_XDIST_WORKER", "")
        count = max(int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1), 1)
        index = int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0
        share = max(span // count, 1)
        return base + (index * share) % span + secrets.randbelow(share)

__all__ = ["NetCluster", "NetNode"]


def _run(*args: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), capture_output=True, text=True, check=check, timeout=timeout)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("0.0.0.0", 0))
        return sock.getsockname()[1]


@dataclass
class NetNode:
    name: str
    ns: str
    veth_host: str
    veth_ns: str
    host_ip: str
    ns_ip: str
    lxc_path: Path
    bridge: str
    subnet: str
    log: Path
    proc: subprocess.Popen | None = None

    def in_ns(self, *args: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess:
        return _run("ip", "netns", "exec", self.ns, *args, check=check, timeout=timeout)

    def running(self) -> set[str]:
        """Names of the LXC containers running on this node right now (asked inside its namespace)."""
        if not self.lxc_path.is_dir():
            return set()
        out = self.in_ns("lxc-ls", "-P", str(self.lxc_path), "--running", "-1", check=False, timeout=10).stdout
        return {line.strip() for line in out.splitlines() if line.strip()}

    def defined(self) -> set[str]:
        if not self.lxc_path.is_dir():
            return set()
        return {p.name for p in self.lxc_path.iterdir() if (p / "config").is_file()}


@dataclass
class NetCluster:
    etcd_endpoint: str
    tmp: Path
    lxc_root: Path
    image_dir: Path
    max_nodes: int = 4
    cluster_cidr: str = "10.88.0.0/16"  # only ever routed inside the namespaces
    controller_args: list[str] = field(default_factory=list)
    kubelet_args: list[str] = field(default_factory=list)
    nodes: list[NetNode] = field(default_factory=list)
    procs: list[subprocess.Popen] = field(default_factory=list)
    token: str = ""
    url: str = ""
    env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.tag = secrets.token_hex(2)
        self.octet = spread(100, 150)  # apart from another xdist worker's test LAN
        self.lan = f"dlan{self.tag}"
        self.lan_ip = f"10.254.{self.octet}.1"
        self.host_ips = [self.lan_ip]
        self._server: Any = None
        self._thread: threading.Thread | None = None

    # ---- control plane on the host ----

    def start(self) -> None:
        from apiserver.app import ApiServerSettings, create_app
        from apiserver.server import ApiServer, config_for

        pki = self._lan_and_credentials()
        self.port = _free_port()
        from dlxc.cluster.pki import issue_apiserver_client

        client_cert, client_key = issue_apiserver_client(self.tmp / "pki")  # exec/attach/logs to the kubelets
        settings = ApiServerSettings(
            etcd_endpoints=[self.etcd_endpoint], etcd_prefix=f"/test-{uuid.uuid4().hex[:8]}", token_file=self.token_file,
            kubelet_client_certificate=client_cert, kubelet_client_key=client_key, kubelet_certificate_authority=self.ca, cluster_cidr=self.cluster_cidr,
        )
        # The standard loop in a thread of the test process (see conftest.ThreadedServer).
        self._server = ApiServer(config_for(create_app(settings), host="0.0.0.0", port=self.port, cert=pki.server_cert,
                                            key=pki.server_key, loop="asyncio"))
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        self.url = f"https://127.0.0.1:{self.port}"
        self._admin_config(timeout=20)
        self.spawn("scheduler", ["scheduler"], self.env)
        self.spawn("controller", ["controller", *self.controller_args], self.env)

    def _lan_and_credentials(self) -> Pki:
        """The nodes' LAN bridge (close() removes it), the cluster's PKI and the admin token; returns the PKI."""
        from apiserver.auth import TokenFile
        from dlxc.cluster.pki import ensure_pki

        _run("ip", "link", "add", self.lan, "type", "bridge")
        _run("ip", "addr", "add", f"{self.lan_ip}/24", "dev", self.lan)
        _run("ip", "link", "set", self.lan, "up")
        pki = ensure_pki(self.tmp / "pki", hosts=self.host_ips)
        self.ca = pki.ca_cert
        self.token_file = self.tmp / "tokens"
        self.token = TokenFile(self.token_file).add("admin", "admin")
        return pki

    def _admin_config(self, *, timeout: float) -> None:
        """Wait until every apiserver of `self.url` (comma-separated) is ready, then write the admin's
        client config and the environment the control-plane processes get."""
        from dlxc.client.config import ClientConfig, save_config
        from dlxc.cluster.pki import ssl_context

        for server in self.url.split(","):
            deadline = time.monotonic() + timeout
            while True:
                try:
                    if httpx.get(f"{server}/readyz", verify=ssl_context(self.ca), timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the apiserver at {server} did not come up; see {self.tmp}")
                time.sleep(0.05)
        self.config = save_config(ClientConfig(server=self.url, token=self.token, certificate_authority=str(self.ca)), self.tmp / "config.yaml")
        self.env = {**os.environ, "DLXC_CONFIG": str(self.config), "DLXC_SERVER": "", "DLXC_TOKEN": ""}

    def client(self) -> Any:
        from dlxc.client.api import Client
        from dlxc.client.config import ClientConfig

        return Client(ClientConfig(server=self.url, token=self.token, certificate_authority=str(self.ca)))

    def spawn(self, name: str, args: list[str], env: dict[str, str], *, prefix: list[str] | None = None) -> subprocess.Popen:
        with (self.tmp / f"{name}.log").open("ab") as log:
            proc = subprocess.Popen(
                [*(prefix or []), sys.executable, "-m", "dlxc", *args],
                env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        self.procs.append(proc)
        return proc

    # ---- nodes ----

    def add_node(self) -> NetNode:
        from apiserver.auth import TokenFile

        index = len(self.nodes)
        suffix = f"{self.tag}{index}"
        node = NetNode(
            name=f"n-{suffix}", ns=f"dlxcns-{suffix}", veth_host=f"dvh{suffix}", veth_ns=f"dvn{suffix}",
            host_ip=self.lan_ip, ns_ip=f"10.254.{self.octet}.{index + 2}",
            lxc_path=self.lxc_root / f"lxc-{suffix}", bridge=f"dnb{suffix}", subnet=f"10.{200 + index}.{self.octet}.1/24",
            log=self.tmp / f"kubelet-n-{suffix}.log",
        )
        self.nodes.append(node)
        _run("ip", "netns", "add", node.ns)
        _run("ip", "link", "add", node.veth_host, "type", "veth", "peer", "name", node.veth_ns)
        _run("ip", "link", "set", node.veth_ns, "netns", node.ns)
        _run("ip", "link", "set", node.veth_host, "master", self.lan, "up")
        node.in_ns("ip", "addr", "add", f"{node.ns_ip}/24", "dev", node.veth_ns)
        node.in_ns("ip", "link", "set", node.veth_ns, "up")
        node.in_ns("ip", "link", "set", "lo", "up")
        node.lxc_path.mkdir(parents=True)
        self.start_kubelet(node, token=TokenFile(self.token_file).add(f"kubelet-{node.name}", f"node:{node.name}"))
        return node

    def start_kubelet(self, node: NetNode, *, token: str | None = None) -> None:
        if token is not None:
            node_env = {**self.env, "DLXC_SERVER": f"https://{node.host_ip}:{self.port}", "DLXC_TOKEN": token}
            self._node_env = getattr(self, "_node_env", {})
            self._node_env[node.name] = node_env
        env = self._node_env[node.name]
        from dlxc.cluster.pki import issue_kubelet_serving

        # The stream server listens on the namespace's own address, which the apiserver on the host reaches.
        stream_cert, stream_key = issue_kubelet_serving(self.tmp / "pki", node.name)
        streams = ["--stream-cert-file", str(stream_cert), "--stream-key-file", str(stream_key),
                   "--stream-client-ca-file", str(self.ca), "--stream-host", node.ns_ip]
        node.proc = self.spawn(
            f"kubelet-{node.name}",
            ["kubelet", "--node-name", node.name, "--lxc-path", str(node.lxc_path), "--image-dir", str(self.image_dir),
             "--bridge", node.bridge, "--subnet", node.subnet, *streams, "--cluster-cidr", self.cluster_cidr, *self.kubelet_args],
            env, prefix=self._enter(node),
        )

    def _enter(self, node: NetNode) -> list[str]:
        """Run inside the node's network namespace and a mount namespace of its own, with its own /sys
        (so /sys/class/net shows its bridges) but the host's cgroup tree (which `ip netns exec` would
        hide, and LXC needs)."""
        from kubelet.hostfeatures import LXCFS_DIR

        hold = self.tmp / f"cgroup-{node.name}"
        hold.mkdir(exist_ok=True)
        # Nor does it see the machine's lxcfs (it would only while the machine happens to run one): a
        # host of its own, its kubelet starts its own lxcfs, which must end with that kubelet.
        script = (
            f"mount --rbind /sys/fs/cgroup {hold} && umount -l /sys && mount -t sysfs sysfs /sys && "
            f"mount --move {hold} /sys/fs/cgroup && {{ umount -l {LXCFS_DIR} 2>/dev/null; exec \"$@\"; }}"
        )
        return ["nsenter", f"--net=/run/netns/{node.ns}", "unshare", "--mount", "--propagation", "slave", "sh", "-c", script, "sh"]

    def attach(self, node: NetNode, name: str, *command: str, timeout: float = 30) -> subprocess.CompletedProcess:
        """Run `command` in the container `name` of `node` (from inside the node's namespace, where
        its LXC command socket is)."""
        return _run(*self._enter(node), "lxc-attach", "-P", str(node.lxc_path), "-n", name, "--clear-env", "--", *command,
                    check=False, timeout=timeout)

    @staticmethod
    def lxcfs_pidfile(pid: int) -> Path:
        """The pid file of the lxcfs the kubelet with this pid started (kubelet.hostfeatures.detect)."""
        from kubelet.hostfeatures import LXCFS_PIDFILE

        return LXCFS_PIDFILE.with_name(f"dlxc-lxcfs-{pid}.pid")

    def lxcfs_of(self, pid: int) -> list[int]:
        """The lxcfs processes the kubelet with this pid started (in its own mount namespace, with its own pid file)."""
        mark = f"--pidfile={self.lxcfs_pidfile(pid)}"
        found = []
        for entry in Path("/proc").iterdir():
            try:
                if entry.name.isdigit() and mark.encode() in (entry / "cmdline").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                pass
        return found

    def leftovers(self) -> list[str]:
        """What of this cluster is still on the host (after close: nothing)."""
        found = [f"netns {n.ns}" for n in self.nodes if Path("/run/netns", n.ns).exists()]
        found += [f"link {name}" for name in (self.lan, *(n.veth_host for n in self.nodes)) if Path("/sys/class/net", name).exists()]
        found += [f"process {p.pid} ({' '.join(map(str, p.args))[:60]})" for p in self.procs if p.poll() is None]
        found += [f"lxcfs {pid} of kubelet {p.pid}" for p in self.procs for pid in self.lxcfs_of(p.pid)]
        found += [f"lxcfs pid file {self.lxcfs_pidfile(p.pid)}" for p in self.procs if self.lxcfs_pidfile(p.pid).exists()]
        return found

    def power_loss(self, node: NetNode) -> None:
        """SIGKILL the kubelet and the init of every container of the node: the host is gone."""
        assert node.proc is not None
        os.killpg(node.proc.pid, signal.SIGKILL)
        node.proc.wait()
        self._kill_containers(node)

    def _kill_containers(self, node: NetNode) -> None:
        for name in node.defined():
            out = node.in_ns("lxc-info", "-P", str(node.lxc_path), "-n", name, "-pH", check=False, timeout=10).stdout.strip()
            if out.isdigit():
                try:
                    os.kill(int(out), signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def partition(self, node: NetNode) -> None:
        _run("ip", "link", "set", node.veth_host, "down")
        node.in_ns("ip", "link", "set", node.veth_ns, "down")

    def heal(self, node: NetNode) -> None:
        node.in_ns("ip", "link", "set", node.veth_ns, "up")
        _run("ip", "link", "set", node.veth_host, "up")

    # ---- teardown ----

    def close(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                    proc.wait(10)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    try:
                        os.killpg(proc.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                    proc.wait()
        for node in self.nodes:
            for name in node.defined() | node.running():
                node.in_ns("lxc-stop", "-k", "-P", str(node.lxc_path), "-n", name, check=False, timeout=20)
            for name in node.defined():
                node.in_ns("lxc-destroy", "-P", str(node.lxc_path), "-n", name, check=False, timeout=20)
            _run("ip", "link", "del", node.veth_host, check=False)
            _run("ip", "netns", "del", node.ns, check=False)
            shutil.rmtree(node.lxc_path, ignore_errors=True)
        _run("ip", "link", "del", self.lan, check=False)
        if self._server is not None:
            self._server.should_exit = True
            assert self._thread is not None
            self._thread.join(10)
            # Connections of killed or partitioned kubelets that uvicorn could not close gracefully
            # are collected here, not in whichever test runs next (as an unraisable ResourceWarning).
            self._server = self._thread = None
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ResourceWarning)
                gc.collect()
