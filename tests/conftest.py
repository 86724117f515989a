"""Fixtures shared by every test: a real etcd, an apiserver, and a whole cluster with a real kubelet.

Everything lives in temp dirs, on free ports, with names (`dt...` bridges, `t-...` nodes) that
cannot collide with a user's own containers or a running `make up` cluster; every finalizer runs
on failure, on Ctrl-C and on SIGTERM/SIGHUP too.

`make test` runs the files in two pytest-xdist workers at once, so anything a test makes on the host
needs a name or address no other worker can pick: random suffixes for names, `spread()` for the
octets of subnets and bridge addresses; host-wide cleanup belongs in the controller's hooks here.
"""
from __future__ import annotations

import asyncio
import functools
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

if TYPE_CHECKING:
    from kubelet.hostfeatures import LxcfsBaseline

REPO = Path(__file__).resolve().parents[1]


def pytest_configure(config: pytest.Config) -> None:
    """A run stopped by `kill` or a CI timeout tears down like Ctrl-C: every fixture's finalizer
    runs, so no cluster, container, bridge or process outlives it (SIGTERM would end it at once)."""

    def interrupted(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"stopped by signal {signum}")

    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, interrupted)
    # An xdist worker starts with COLUMNS=80 LINES=24 in its environment (the controller did not have
    # them): commands the tests run would take those for the size of their terminal (`dlxc exec -t`).
    for key, value in getattr(config, "workerinput", {}).get("dlxc_terminal_env", {}).items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: object) -> None:
    """(xdist, in the controller) Hand each worker the controller's COLUMNS and LINES, or their absence."""
    node.workerinput["dlxc_terminal_env"] = {key: os.environ.get(key) for key in ("COLUMNS", "LINES")}  # type: ignore[attr-defined]


# With xdist workers (`make test`), whole files go to a worker in this order as workers come free
# (`--dist loadfile --no-loadscope-reorder`): the long e2e files first, the many short integration
# and unit files last, so the workers run out of work at about the same time.
_TIERS = {"e2e": 0, "integration": 1, "unit": 2}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "PYTEST_XDIST_WORKER" not in os.environ:  # only workers collect for the controller's schedule
        return

    def tier(item: pytest.Item) -> int:
        parts = Path(str(item.path)).relative_to(REPO).parts
        return _TIERS.get(parts[1], 1) if len(parts) > 2 and parts[0] == "tests" else 1

    items.sort(key=tier)


KUBELET_LOG_LINES = 80


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failed test that ran a `cluster` shows the end of each kubelet's log with its failure: a
    CI run's temp dirs are gone by the time anyone reads why it failed."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    cluster = getattr(item, "funcargs", {}).get("cluster")
    if not report.failed or call.when == "setup" or cluster is None:
        return
    for node in getattr(cluster, "nodes", []):
        if node.log is not None and node.log.exists():
            lines = node.log.read_text(errors="replace").splitlines()[-KUBELET_LOG_LINES:]
            report.sections.append((f"kubelet {node.name} log, last {len(lines)} lines", "\n".join(lines)))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def worker_slot() -> tuple[int, int]:
    """(this xdist worker's index, the number of workers); (0, 1) in a run without workers."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    return (int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0), max(count, 1)


def spread(base: int, span: int) -> int:
    """A random number in [base, base + span) from this worker's own share of that range, for the
    octets of test subnets and bridge addresses: tests that run at once in two xdist workers never
    put the same network on two bridges of this host (one worker's tests run one after another)."""
    index, count = worker_slot()
    share = max(span // count, 1)
    return base + (index * share) % span + secrets.randbelow(share)


def wait_http(url: str, *, timeout: float = 20.0, verify: object = True) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1.0, verify=verify).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


def stop_process(proc: subprocess.Popen, *, grace: float = 10.0) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def stop_processes(procs: list[subprocess.Popen], *, grace: float = 10.0) -> None:
    """stop_process() for each, all at once: each gets SIGTERM, then `grace` seconds to exit (a
    cluster's components take a second or so each to stop; one after another that added up)."""
    running = [proc for proc in procs if proc.poll() is None]
    for proc in running:
        proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for proc in running:
        try:
            proc.wait(max(deadline - time.monotonic(), 0.01))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class Etcd:
    endpoint: str
    proc: subprocess.Popen


@pytest.fixture(scope="session")
def etcd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Etcd]:
    if shutil.which("etcd") is None:
        pytest.fail("etcd is not installed; run `make test`, which installs etcd-server")
    data = tmp_path_factory.mktemp("etcd")
    client, peer = free_port(), free_port()
    with (data / "etcd.log").open("wb") as log:
        proc = subprocess.Popen(
        [
            "etcd", "--name", "test", "--data-dir", str(data / "data"),
            "--listen-client-urls", f"http://127.0.0.1:{client}",
            "--advertise-client-urls", f"http://127.0.0.1:{client}",
            "--listen-peer-urls", f"http://127.0.0.1:{peer}",
            "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
            "--initial-cluster", f"test=http://127.0.0.1:{peer}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_http(f"http://127.0.0.1:{client}/health")
        yield Etcd(f"http://127.0.0.1:{client}", proc)
    finally:
        stop_process(proc)


class ThreadedServer:
    """The real apiserver app under uvicorn, in a thread of the test process, on a free port."""

    def __init__(self, settings: object, port: int, **tls: Path) -> None:
        from apiserver.app import create_app
        from apiserver.server import ApiServer, config_for

        # The standard loop: uvloop closed from a thread of the test process while connections are
        # still open fails the close ("Device or resource busy") and leaks handles into later tests.
        # The apiserver processes that tests spawn run on uvloop, as in production.
        self.server = ApiServer(config_for(create_app(settings), host="127.0.0.1", port=port, loop="asyncio", **tls))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self, url: str, *, verify: object = True) -> None:
        self.thread.start()
        wait_http(f"{url}/readyz", verify=verify)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@dataclass
class Api:
    url: str
    token: str
    token_file: Path
    prefix: str
    etcd: Etcd
    server: ThreadedServer | None = None
    settings: object = None
    port: int = 0
    ca: Path | None = None  # set when the apiserver serves TLS
    tls: dict[str, Path] = field(default_factory=dict)

    def verify(self) -> object:
        from dlxc.cluster.pki import ssl_context

        return ssl_context(self.ca) if self.ca else True

    def restart(self) -> None:
        """Stop the apiserver and start a new one with the same settings on the same port."""
        assert self.server is not None
        self.server.stop()
        self.server = ThreadedServer(self.settings, self.port, **self.tls)
        self.server.start(self.url, verify=self.verify())

    def new_token(self, name: str, role: str) -> str:
        from apiserver.auth import TokenFile

        return TokenFile(self.token_file).add(name, role)

    def client(self, token: str | None = None):  # -> dlxc.client.Client
        from dlxc.client.api import Client
        from dlxc.client.config import ClientConfig

        return Client(ClientConfig(server=self.url, token=token or self.token, certificate_authority=str(self.ca) if self.ca else None))

    def env(self) -> dict[str, str]:
        return {**os.environ, "DLXC_SERVER": self.url, "DLXC_TOKEN": self.token, "DLXC_CONFIG": str(self.token_file.parent / "config.yaml")}


def start_api(etcd: Etcd, tmp: Path, *, tls: bool = False, **overrides: object) -> Api:
    """An apiserver in this process, over plain HTTP on loopback (asked for, as `dlxc apiserver
    --insecure-http` would be) unless `tls`: then with a CA and server certificate made in tmp, as
    `dlxc up` makes them. Host paths under the system temp dir may be mounted, as tests mount
    their tmp_path; privileged containers are refused, as by default."""
    from apiserver.app import ApiServerSettings
    from apiserver.auth import TokenFile

    token_file = tmp / "tokens"
    token = TokenFile(token_file).add("admin", "admin")
    prefix = f"/test-{uuid.uuid4().hex[:8]}"
    port = int(overrides.pop("port", None) or free_port())  # a test that must know it first (an advertised URL) gives it
    settings = ApiServerSettings(
        **{
            "etcd_endpoints": [etcd.endpoint],  # a test may give its own (an etcd cluster)
            "etcd_prefix": prefix,
            "token_file": token_file,
            "allowed_host_paths": [os.path.realpath(tempfile.gettempdir())],
            # A cluster network of its own (big enough for tests that create a thousand containers);
            # two test clusters that happen to share one are still apart: each has its own bridge.
            "cluster_cidr": f"10.{spread(64, 64)}.0.0/16",
            **overrides,
        }
    )
    certs: dict[str, Path] = {}
    ca = None
    if tls:
        from dlxc.cluster.pki import ensure_pki

        pki = ensure_pki(tmp / "pki")
        certs, ca = {"cert": pki.server_cert, "key": pki.server_key}, pki.ca_cert
    server = ThreadedServer(settings, port, **certs)
    scheme = "https" if tls else "http"
    api = Api(f"{scheme}://127.0.0.1:{port}", token, token_file, prefix, etcd, server, settings, port, ca, certs)
    # The client config that api.env() names: a DLXC_CONFIG naming no file is an error.
    from dlxc.client.config import ClientConfig, save_config

    save_config(ClientConfig(server=api.url, token=token, certificate_authority=str(ca) if ca else None), tmp / "config.yaml")
    server.start(api.url, verify=api.verify())
    return api


@pytest.fixture
def cli(api: Api, tmp_path: Path) -> Any:
    """`cli("get", "containers", input=..., DLXC_X=...)`: the dlxc CLI in-process against the test's apiserver,
    with its own inventory and state dirs; keyword arguments override environment variables."""
    from typer.testing import CliRunner

    from dlxc.cli.main import app

    runner = CliRunner()
    env = {**api.env(), "DLXC_INVENTORY_DIR": str(tmp_path / "inventory"), "XDG_STATE_HOME": str(tmp_path / "state")}

    def invoke(*args: str, input: str | None = None, **overrides: str | None) -> Any:
        return runner.invoke(app, list(args), env={**env, **overrides}, input=input, catch_exceptions=False)

    return invoke


@pytest.fixture
def api(etcd: Etcd, tmp_path: Path) -> Iterator[Api]:
    """A fresh apiserver over the session's etcd, with its own key prefix, so tests never share data."""
    api = start_api(etcd, tmp_path)
    try:
        yield api
    finally:
        assert api.server is not None
        api.server.stop()


@pytest.fixture(scope="module")
def module_api(etcd: Etcd, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """One apiserver for a whole module: for long tables of cases that set up their own objects."""
    api = start_api(etcd, tmp_path_factory.mktemp("module-api"))
    try:
        yield api
    finally:
        assert api.server is not None
        api.server.stop()


@pytest.fixture
def make_api(etcd: Etcd, tmp_path: Path) -> Iterator[Callable[..., Api]]:
    """Apiservers with settings of the test's choosing (e.g. a tiny watch cache); all stopped after."""
    started: list[Api] = []

    def make(**overrides: object) -> Api:
        home = tmp_path / f"api-{len(started)}"
        home.mkdir()
        api = start_api(etcd, home, **overrides)
        started.append(api)
        return api

    try:
        yield make
    finally:
        for api in started:
            assert api.server is not None
            api.server.stop()


def run(coro):
    return asyncio.run(coro)


def dlxc(*args: str, env: dict[str, str], input: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    """The real `dlxc` command in a subprocess, as a user types it."""
    return subprocess.run(
        [sys.executable, "-m", "dlxc", *args], env=env, input=input, capture_output=True, text=True, timeout=timeout
    )


# ---------------------------------------------------------------- real LXC clusters


# lxcfs is one per host, so the session's controller (the only process in a run without xdist
# workers, the xdist controller otherwise) looks after it: a worker that stopped it at its own end
# would pull it from under the containers of a worker still running.
SESSION_LXCFS_PIDFILE = Path("/run/dlxc-test-lxcfs.pid")


def _is_controller(config: pytest.Config) -> bool:
    return not hasattr(config, "workerinput")


def _has_workers(config: pytest.Config) -> bool:
    return bool(getattr(config.option, "numprocesses", None)) and getattr(config.option, "dist", "no") != "no"


_lxcfs_before = pytest.StashKey["LxcfsBaseline"]()


def pytest_sessionstart(session: pytest.Session) -> None:
    """Note whether the host ran lxcfs; with xdist workers, start one for the session (as a host's
    lxcfs.service would, under a pid file of its own that no kubelet or `dlxc down` touches), so that
    no worker's `dlxc down` stops the lxcfs that another worker's containers use."""
    config = session.config
    if not _is_controller(config) or os.geteuid() != 0:
        return
    from kubelet import hostfeatures

    baseline = config.stash[_lxcfs_before] = hostfeatures.LxcfsBaseline.now()
    if not baseline.running and _has_workers(config) and shutil.which("lxcfs"):
        with warnings.catch_warnings():
            # Its Popen is dropped while lxcfs runs on (a daemon, stopped by its pid file at the end).
            warnings.simplefilter("ignore", ResourceWarning)
            problem = hostfeatures.ensure_lxcfs(pidfile=SESSION_LXCFS_PIDFILE)
        if problem:
            print(f"lxcfs for the test session: {problem}", file=sys.stderr)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Kubelets start lxcfs when it is not running; a session that made them do so stops it at the end."""
    config = session.config
    if not _is_controller(config) or _lxcfs_before not in config.stash:
        return
    # (A kubelet of a namespace host stops the lxcfs it started itself: tests/e2e/netnodes.py checks it.)
    config.stash[_lxcfs_before].restore(SESSION_LXCFS_PIDFILE)


@pytest.fixture(scope="session")
def lxc_root() -> Iterator[Path]:
    """A 0711 temp dir for lxcpaths and images: an unprivileged container's root (host uid 100000)
    must pass through every directory above its rootfs, and pytest makes its own temp dirs 0700."""
    root = Path(tempfile.mkdtemp(prefix="dlxc-test-"))
    root.chmod(0o711)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def image_dir(lxc_root: Path) -> Path:
    """One image cache for the whole session: the busybox image is built once."""
    path = lxc_root / "images"
    path.mkdir(mode=0o711)
    return path


@dataclass
class Node:
    name: str
    lxc_path: Path
    bridge: str
    subnet: str
    proc: subprocess.Popen | None = None
    log: Path | None = None
    args: list[str] = field(default_factory=list)  # extra kubelet flags, kept across restarts


@dataclass
class Cluster:
    api: Api
    image_dir: Path
    tmp: Path
    lxc_root: Path
    nodes: list[Node] = field(default_factory=list)
    procs: list[subprocess.Popen] = field(default_factory=list)
    pki: Path | None = None  # the cluster CA's dir: kubelets get a stream serving certificate from it
    # The cluster network's bridge, shared by this cluster's kubelets (they are all on this host).
    cluster_bridge: str = field(default_factory=lambda: f"dc{secrets.token_hex(3)}")

    def spawn(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen:
        with (self.tmp / f"{name}.log").open("ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "dlxc", *args],
                env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        self.procs.append(proc)
        return proc

    def add_node(self, *, start: bool = True, args: list[str] | None = None) -> Node:
        suffix = secrets.token_hex(3)
        node = Node(
            name=f"t-{suffix}",
            lxc_path=self.lxc_root / f"lxc-{suffix}",
            bridge=f"dt{suffix}",
            subnet=f"10.{200 + len(self.nodes)}.{spread(1, 250)}.1/24",
            args=list(args or []),
        )
        node.lxc_path.mkdir(parents=True)
        self.nodes.append(node)
        if start:
            self.start_kubelet(node)
        return node

    def stream_args(self, node_name: str, *, host: str = "127.0.0.1") -> list[str]:
        """The kubelet's stream server flags: a serving certificate for the node from the cluster CA."""
        if self.pki is None:
            return []
        from dlxc.cluster.pki import issue_kubelet_serving

        cert, key = issue_kubelet_serving(self.pki, node_name)
        return ["--stream-cert-file", str(cert), "--stream-key-file", str(key),
                "--stream-client-ca-file", str(self.pki / "ca.crt"), "--stream-host", host]

    def start_kubelet(self, node: Node) -> None:
        token = self.api.new_token(f"kubelet-{node.name}", f"node:{node.name}")
        node.log = self.tmp / f"kubelet-{node.name}.log"
        node.proc = self.spawn(
            f"kubelet-{node.name}",
            ["kubelet", "--node-name", node.name, "--lxc-path", str(node.lxc_path), "--image-dir", str(self.image_dir),
             "--bridge", node.bridge, "--subnet", node.subnet, "--heartbeat-interval", "1",
             "--cluster-cidr", str(self.api.settings.cluster_cidr), "--cluster-bridge", self.cluster_bridge,
             # No NAT rule or forwarding switched on in this host's own network namespace.
             "--no-outbound-nat", *self.stream_args(node.name), *node.args],
            {**self.api.env(), "DLXC_TOKEN": token},
        )

    def cleanup(self) -> None:
        stop_processes(list(reversed(self.procs)))
        from concurrent.futures import ThreadPoolExecutor

        from kubelet import network, overlay, runtime

        for node in self.nodes:
            rt = runtime.LxcRuntime(node.lxc_path)
            # The test is over: kill rather than halt (busybox's init takes ~2 s to halt); many at once.
            with ThreadPoolExecutor(max_workers=16) as pool:
                list(pool.map(functools.partial(rt.destroy, timeout=0), rt.names()))
            if network.bridge_exists(node.bridge):
                network.delete_bridge(node.bridge)
            shutil.rmtree(node.lxc_path, ignore_errors=True)
        overlay.teardown(self.cluster_bridge)


@pytest.fixture
def cluster(request: pytest.FixtureRequest, etcd: Etcd, image_dir: Path, lxc_root: Path, tmp_path: Path) -> Iterator[Cluster]:
    """apiserver + scheduler + controller, and `add_node()` for real kubelets with their own lxcpath and bridge.

    A test marked `allow_privileged` gets an apiserver started with --allow-privileged, one marked
    `controller_args(...)` a controller with those flags."""
    if os.geteuid() != 0:
        pytest.fail("LXC tests need root")
    from dlxc.cluster.pki import ensure_pki, issue_apiserver_client

    pki = tmp_path / "pki"
    ensure_pki(pki)
    client_cert, client_key = issue_apiserver_client(pki)
    api = start_api(
        etcd, tmp_path, allow_privileged=request.node.get_closest_marker("allow_privileged") is not None,
        kubelet_client_certificate=client_cert, kubelet_client_key=client_key, kubelet_certificate_authority=pki / "ca.crt",
    )
    cluster = Cluster(api, image_dir, tmp_path, lxc_root, pki=pki)
    try:
        cluster.spawn("scheduler", ["scheduler"], api.env())
        marker = request.node.get_closest_marker("controller_args")
        cluster.spawn("controller", ["controller", *(marker.args if marker else ())], api.env())
        yield cluster
    finally:
        cluster.cleanup()
        assert api.server is not None
        api.server.stop()
