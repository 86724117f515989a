"""`dlxc up` / `dlxc down`: a whole cluster on this host (etcd, apiserver, scheduler, controller, kubelet)."""
from __future__ import annotations

import dataclasses
import ipaddress
import json
import logging
import os
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from apiserver.auth import TokenFile
from dlxc.client.config import ClientConfig, save_config
from dlxc.cluster.pki import Pki, ensure_pki, issue_apiserver_client, issue_kubelet_serving, ssl_context
from dlxc.cluster.supervisor import Supervisor, alive, stop_order, wait_http

__all__ = ["STOP_GRACE", "LocalCluster", "LocalNode", "default_state_dir", "stop_containers", "stop_order"]

log = logging.getLogger("dlxc.cluster")

COMPONENTS = ("etcd", "apiserver", "scheduler", "controller", "kubelet")


def node_ready(status: dict[str, Any], *, since: float | None = None) -> bool:
    """Ready=True, and with `since` (epoch seconds) posted at or after it: not a status left by an earlier kubelet."""
    if not any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions", [])):
        return False
    if since is None:
        return True
    posted = status.get("lastHeartbeatTime")
    try:
        return posted is not None and datetime.fromisoformat(posted.replace("Z", "+00:00")).timestamp() >= since
    except ValueError:
        return False


@dataclass(frozen=True)
class LocalNode:
    """One simulated node of a local cluster: its own name, lxcpath, bridge and subnet."""

    index: int
    name: str
    lxc_path: Path
    bridge: str
    subnet: str

    @property
    def component(self) -> str:
        return "kubelet" if self.index == 0 else f"kubelet-{self.index}"


def default_state_dir() -> Path:
    explicit = os.environ.get("DLXC_STATE_DIR")
    if explicit:
        return Path(explicit)
    return Path("/var/lib/dlxc") if os.geteuid() == 0 else Path.home() / ".local/share/dlxc"


@dataclass
class LocalCluster:
    state_dir: Path
    port: int = 6443
    node_name: str = "local"
    bridge: str = "dlxcbr0"
    subnet: str = "10.77.0.1/24"
    cluster_cidr: str = "10.88.0.0/16"  # the cluster network; on one host its bridge is shared by every node
    cluster_bridge: str = "dlxc0"
    outbound_nat: bool = True  # masquerade the cluster network to the host's uplink (turns on IPv4 forwarding)
    nodes: int = 1  # kubelets on this host, each a node of its own (for trying failover)
    etcd_members: int = 1  # 3 for an etcd cluster on loopback
    allow_privileged: bool = False
    extra_host_paths: tuple[str, ...] = ()  # `--allowed-host-paths`, added to the defaults

    @property
    def etcd_port(self) -> int:
        return self.port + 1

    def etcd_ports(self, member: int) -> tuple[int, int]:
        """(client, peer) port of etcd member `member`: the ports after the apiserver's, two each."""
        return self.port + 1 + 2 * member, self.port + 2 + 2 * member

    @property
    def etcd_endpoints(self) -> list[str]:
        return [f"http://127.0.0.1:{self.etcd_ports(m)[0]}" for m in range(self.etcd_members)]

    def local_nodes(self) -> list[LocalNode]:
        base = ipaddress.IPv4Interface(self.subnet)
        out = []
        for index in range(self.nodes):
            gateway = ipaddress.IPv4Address(int(base.ip) + index * base.network.num_addresses)
            out.append(LocalNode(
                index=index,
                name=self.node_name if index == 0 else f"{self.node_name}-{index}",
                lxc_path=self.lxc_path if index == 0 else self.state_dir / f"lxc-{index}",
                bridge=self.bridge if index == 0 else f"{self.bridge}-{index}"[:15],
                subnet=f"{gateway}/{base.network.prefixlen}",
            ))
        return out

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def allowed_host_paths(self) -> list[str]:
        """Where a local cluster's containers may mount host folders from. By default only what
        needs no trust: the state dir's own volumes/ (read-write) and /usr/share read-only (shared,
        root-owned data such as the examples' licences). Mounts are writable from containers, so
        anything more (a home, /srv) is the operator's choice: `dlxc up --allowed-host-paths`."""
        return [str(self.state_dir / "volumes"), "/usr/share:ro", *self.extra_host_paths]

    def exists(self) -> bool:
        """Whether this state dir already holds a cluster's data (an earlier `up` created it)."""
        return (self.state_dir / "etcd").is_dir()

    def pki(self) -> Pki:
        return ensure_pki(self.state_dir / "pki")

    @property
    def pid_file(self) -> Path:
        return self.state_dir / "pids.json"

    @property
    def lxc_path(self) -> Path:
        return self.state_dir / "lxc"

    @property
    def supervisor(self) -> Supervisor:
        return Supervisor(self.pid_file, self.state_dir / "logs", self.state_dir)

    def running(self) -> dict[str, int]:
        return self.supervisor.running()

    def _spawn(self, name: str, args: list[str], env: dict[str, str], *, self_logging: bool = True) -> int:
        return self.supervisor.spawn(name, args, env, self_logging=self_logging)

    def _wait_http(self, url: str, *, timeout: float, what: str, verify: object = True, pids: dict[str, int] | None = None) -> None:
        """Until URL answers; `pids`: the processes this `up` started for it, whose exit ends the wait at once."""
        wait_http(url, timeout=timeout, what=what, logs=self.state_dir / "logs", verify=verify,
                  abandon=lambda: self._exited(pids or {}))

    def _exited(self, pids: dict[str, int]) -> str | None:
        """Why to stop waiting for a component: one of `pids` (name -> pid) has exited."""
        gone = [name for name, pid in pids.items() if not alive(pid)]
        return f"{', '.join(gone)} exited; see {self.state_dir / 'logs'}" if gone else None

    def _tokens(self) -> tuple[str, dict[str, str]]:
        """The admin token for the CLI and one token per component (created once, kept in the state dir)."""
        secrets_file = self.state_dir / "component-tokens.json"
        tokens = TokenFile(self.state_dir / "tokens")
        if secrets_file.exists():
            data = json.loads(secrets_file.read_text())
            admin, components = data["admin"], data["components"]
        else:
            admin = tokens.add("admin", "admin")
            components = {"scheduler": tokens.add("scheduler", "admin"), "controller": tokens.add("controller", "admin")}
        for node in self.local_nodes():  # a node added by a later `dlxc up --nodes N` gets its token then
            if node.component not in components:
                components[node.component] = tokens.add(f"kubelet-{node.name}", f"node:{node.name}")
        secrets_file.write_text(json.dumps({"admin": admin, "components": components}))
        secrets_file.chmod(0o600)
        return admin, components

    def up(self, *, timeout: float = 60.0) -> ClientConfig:
        """Start what is not running yet, wait until the node is Ready, return the client config."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        dropped = self.dropped_nodes()
        admin, component_tokens = self._tokens()
        # Before anything starts: it marks the folder as one `up` made, so `down --purge` cleans up after an `up`
        # that failed halfway (etcd already running) too.
        (self.state_dir / "layout.json").write_text(json.dumps({
            "nodes": self.nodes, "etcdMembers": self.etcd_members,
            "nodeName": self.node_name, "bridge": self.bridge, "subnet": self.subnet,
            "clusterCidr": self.cluster_cidr, "clusterBridge": self.cluster_bridge, "outboundNat": self.outbound_nat,
            "allowPrivileged": self.allow_privileged, "extraHostPaths": list(self.extra_host_paths),
        }))
        running = self.running()
        py = [sys.executable, "-m", "dlxc"]
        members = [("etcd" if m == 0 else f"etcd-{m}", "dlxc" if m == 0 else f"dlxc-{m}", m) for m in range(self.etcd_members)]
        initial = ",".join(f"{member}=http://127.0.0.1:{self.etcd_ports(m)[1]}" for _, member, m in members)
        started: dict[str, int] = {}  # what this call spawns: a wait for it ends when it exits
        for component, member, m in members:
            if component in running:
                continue
            client, peer = self.etcd_ports(m)
            started[component] = self._spawn(
                component,
                [
                    "etcd", "--name", member, "--data-dir", str(self.state_dir / ("etcd" if m == 0 else f"etcd-{m}")),
                    "--listen-client-urls", f"http://127.0.0.1:{client}",
                    "--advertise-client-urls", f"http://127.0.0.1:{client}",
                    "--listen-peer-urls", f"http://127.0.0.1:{peer}",
                    "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
                    "--initial-cluster", initial,
                    "--auto-compaction-retention", "1h",
                ],
                {},
                self_logging=False,
            )
        for endpoint in self.etcd_endpoints:
            self._wait_http(f"{endpoint}/health", timeout=timeout, what="etcd", pids=started)  # the members only, so far
        pki = self.pki()
        (self.state_dir / "volumes").mkdir(exist_ok=True)
        # Exec, attach and logs: the apiserver dials kubelets with a client certificate, and each
        # kubelet serves them with a certificate naming its node (mutual TLS, the same CA).
        client_cert, client_key = issue_apiserver_client(pki.ca_cert.parent)
        if "apiserver" not in running:
            started["apiserver"] = self._spawn(
                "apiserver",
                py + ["apiserver", "--port", str(self.port), "--etcd-endpoints", ",".join(self.etcd_endpoints),
                      "--token-file", str(self.state_dir / "tokens"),
                      "--tls-cert-file", str(pki.server_cert), "--tls-private-key-file", str(pki.server_key),
                      "--kubelet-client-certificate", str(client_cert), "--kubelet-client-key", str(client_key),
                      "--kubelet-certificate-authority", str(pki.ca_cert),
                      "--allowed-host-paths", ",".join(self.allowed_host_paths), "--cluster-cidr", self.cluster_cidr,
                      *(["--allow-privileged"] if self.allow_privileged else [])],
                {},
            )
        verify = ssl_context(pki.ca_cert)
        self._wait_http(f"{self.server}/readyz", timeout=timeout, what="the apiserver", verify=verify,
                        pids={"apiserver": started["apiserver"]} if "apiserver" in started else None)
        for name in ("scheduler", "controller"):
            if name not in running:
                self._spawn(name, py + [name], self._component_env(name, component_tokens[name], pki))
        kubelets_since = time.time()
        for node in self.local_nodes():
            if node.component not in running:
                stream_cert, stream_key = issue_kubelet_serving(pki.ca_cert.parent, node.name)
                started[node.component] = self._spawn(
                    node.component,
                    py + ["kubelet", "--node-name", node.name, "--lxc-path", str(node.lxc_path),
                          "--image-dir", str(self.state_dir / "images"), "--bridge", node.bridge, "--subnet", node.subnet,
                          # One backup dir for every node on this host: restore, move and failover work across them.
                          "--backup-dir", str(self.state_dir / "backups"),
                          "--stream-cert-file", str(stream_cert), "--stream-key-file", str(stream_key),
                          "--stream-client-ca-file", str(pki.ca_cert), "--stream-host", "127.0.0.1",
                          "--cluster-cidr", self.cluster_cidr, "--cluster-bridge", self.cluster_bridge,
                          "--outbound-nat" if self.outbound_nat else "--no-outbound-nat"],
                    self._component_env(node.component, component_tokens[node.component], pki),
                )
        config = ClientConfig(server=self.server, token=admin, certificate_authority=str(pki.ca_cert))
        for node in self.local_nodes():
            pid = started.get(node.component)
            # A kubelet started now must say Ready itself: after `dlxc down` the Node still says what the
            # last kubelet posted, and the controller gives a restarted cluster a grace period before NotReady.
            self._wait_node_ready(config, timeout=timeout, node_name=node.name,
                                  since=kubelets_since if pid else None, pids={node.component: pid} if pid else None)
        if dropped:
            self._drop(dropped, config)
        return config

    def dropped_nodes(self) -> list[LocalNode]:
        """The nodes the last `up` had (layout.json) that this one does not: `up --nodes 3`, then `up`."""
        try:
            before = int(json.loads((self.state_dir / "layout.json").read_text()).get("nodes", 1))
        except (FileNotFoundError, ValueError):
            return []
        return dataclasses.replace(self, nodes=before).local_nodes()[self.nodes:] if before > self.nodes else []

    def _drop(self, nodes: list[LocalNode], config: ClientConfig) -> None:
        """Take nodes out as `dlxc node remove` does (so no NotReady ghost stays listed), then stop their
        kubelets, destroy their containers (the scheduler placed them again elsewhere) and delete their bridges."""
        import asyncio

        from dlxc.client.api import Client
        from dlxc.cluster.membership import remove_node
        from dlxc.client.errors import NotFound
        from kubelet import network, runtime

        self.supervisor.stop([node.component for node in nodes])

        async def remove() -> None:
            async with Client(config) as client:
                for node in nodes:
                    try:
                        await remove_node(client, node.name)
                    except NotFound:
                        pass

        asyncio.run(remove())
        tokens = TokenFile(self.state_dir / "tokens")
        secrets_file = self.state_dir / "component-tokens.json"
        data = json.loads(secrets_file.read_text())
        for node in nodes:
            tokens.remove(f"kubelet-{node.name}")
            data["components"].pop(node.component, None)
            if node.lxc_path.exists():
                rt = runtime.LxcRuntime(node.lxc_path)
                for name in rt.names():
                    rt.destroy(name, timeout=0)
            if network.bridge_exists(node.bridge):
                network.delete_bridge(node.bridge)
        secrets_file.write_text(json.dumps(data))

    def load_layout(self) -> None:
        """Take the layout of the last `up` (so `down` finds every node's lxcpath and bridge)."""
        try:
            layout = json.loads((self.state_dir / "layout.json").read_text())
        except (FileNotFoundError, ValueError):
            return
        self.nodes, self.etcd_members = int(layout.get("nodes", 1)), int(layout.get("etcdMembers", 1))
        self.node_name = str(layout.get("nodeName", self.node_name))
        self.bridge = str(layout.get("bridge", self.bridge))
        self.subnet = str(layout.get("subnet", self.subnet))
        self.cluster_cidr = str(layout.get("clusterCidr", self.cluster_cidr))
        self.cluster_bridge = str(layout.get("clusterBridge", self.cluster_bridge))
        self.outbound_nat = bool(layout.get("outboundNat", self.outbound_nat))
        self.allow_privileged = bool(layout.get("allowPrivileged", self.allow_privileged))
        self.extra_host_paths = tuple(layout.get("extraHostPaths", self.extra_host_paths))

    def admission_layout(self) -> tuple[bool, tuple[str, ...]] | None:
        """(allow_privileged, extra host paths) the running apiserver was started with, if recorded."""
        try:
            layout = json.loads((self.state_dir / "layout.json").read_text())
        except (FileNotFoundError, ValueError):
            return None
        return bool(layout.get("allowPrivileged", False)), tuple(layout.get("extraHostPaths", ()))

    def is_state_dir(self) -> bool:
        """Whether state_dir holds a cluster `up` made: only such a folder may be purged."""
        return (self.state_dir / "layout.json").is_file() and (self.state_dir / "tokens").is_file()

    def purge(self) -> tuple[list[str], int]:
        """`down`, then destroy the containers and delete the state dir: nothing of the cluster is left.

        Returns the processes stopped and how many containers were destroyed.
        """
        if not self.is_state_dir():
            raise RuntimeError(f"{self.state_dir} is not the state dir of a `dlxc up` cluster; not removing it")
        stopped = self.down()
        from kubelet import runtime

        destroyed = 0
        for node in self.local_nodes():
            if node.lxc_path.exists():
                rt = runtime.LxcRuntime(node.lxc_path)
                for name in rt.names():
                    rt.destroy(name, timeout=0)
                    destroyed += 1
        shutil.rmtree(self.state_dir)
        return stopped, destroyed

    def _component_env(self, name: str, token: str, pki: Pki) -> dict[str, str]:
        """A component's own client config (server, token, the CA to verify against) in the state dir."""
        config = ClientConfig(server=self.server, token=token, certificate_authority=str(pki.ca_cert))
        path = save_config(config, self.state_dir / "config" / f"{name}.yaml")
        return {"DLXC_CONFIG": str(path), "DLXC_SERVER": self.server, "DLXC_TOKEN": token}

    def _wait_node_ready(self, config: ClientConfig, *, timeout: float, node_name: str, since: float | None = None,
                         pids: dict[str, int] | None = None) -> None:
        """Until Node NODE_NAME is Ready; `since`: by a status posted at or after that time (epoch seconds);
        `pids`: its kubelet, whose exit ends the wait at once."""
        deadline = time.monotonic() + timeout
        url = f"{self.server}/apis/dlxc.io/v1/nodes/{node_name}"
        while time.monotonic() < deadline:
            if (reason := self._exited(pids or {})) is not None:
                raise RuntimeError(f"node {node_name} did not become Ready: {reason}")
            try:
                response = httpx.get(
                    url, headers={"Authorization": f"Bearer {config.token}"}, timeout=2.0,
                    verify=ssl_context(config.certificate_authority) if config.certificate_authority else True,
                )
                if response.status_code == 200 and node_ready(response.json().get("status") or {}, since=since):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"node {node_name} did not become Ready within {timeout:.0f}s; see {self.state_dir / 'logs'}")

    def down(self) -> list[str]:
        """Stop every process this cluster started, then its containers and its bridge."""
        self.load_layout()
        stopped = self.supervisor.stop()
        from kubelet import hostfeatures, network, overlay, runtime
        from kubelet.stops import StopRecords

        work = []
        for node in self.local_nodes():
            if node.lxc_path.exists():
                rt = runtime.LxcRuntime(node.lxc_path)
                stops = StopRecords(node.lxc_path)
                for name, state in rt.states().items():
                    if state != "STOPPED":
                        # Our stop, not the container's exit: after `up` it runs again, counters as they were.
                        stops.mark(name, "down")
                    work.append((rt, name))
        stop_containers(work, grace=STOP_GRACE)
        for node in self.local_nodes():
            if network.bridge_exists(node.bridge):
                network.delete_bridge(node.bridge)
        overlay.teardown(self.cluster_bridge)
        # The kubelet started lxcfs if the host did not run it; with no container left it serves
        # nobody. One started by the host (its pid file is not ours) is never touched.
        if not lxc_containers_running() and hostfeatures.stop_lxcfs():
            stopped.append("lxcfs")
        return stopped


def lxc_containers_running() -> bool:
    """Whether any LXC container still runs on this host, ours or not (each has an `[lxc monitor]`)."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "cmdline").read_bytes().startswith(b"[lxc monitor]"):
                    return True
            except OSError:
                continue
    return False


# How long a container's init has to halt cleanly on `dlxc down` before it is killed.
STOP_GRACE = 10.0


def stop_containers(work: list[tuple[Any, str]], *, grace: float) -> list[str]:
    """Stop every (runtime, name) at once: each gets `grace` seconds to halt cleanly before it is
    killed, and the whole takes about one grace period however many there are (not one each).
    Returns the names that could not be stopped (their error is logged)."""
    if not work:
        return []
    failed = []
    with ThreadPoolExecutor(max_workers=min(32, len(work))) as pool:
        futures = {pool.submit(rt.stop, name, timeout=grace): name for rt, name in work}
        for future in as_completed(futures):
            try:
                future.result()
            except Exception as exc:  # one container's trouble must not leave the others running
                log.warning("could not stop %s: %s", futures[future], exc)
                failed.append(futures[future])
    return failed
