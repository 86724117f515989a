"""One host of a many-host cluster: `dlxc init` (the control plane and a kubelet) and `dlxc join` (a kubelet).

Where a host keeps things (HostLayout): config and credentials in ETC, data (etcd, images, the
lxcpath, volumes) in DATA, logs in LOG: /etc/dlxc, /var/lib/dlxc and /var/log/dlxc, or all three
under one --state-dir (DIR/etc, DIR/data, DIR/log) so several simulated hosts share a machine.
The processes are started detached by the same Supervisor as `dlxc up`'s.
"""
from __future__ import annotations

import dataclasses
import json
import os
import secrets
import shutil
import socket
import ssl
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from apiserver.auth import TokenFile
from dlxc.client.config import ClientConfig, save_config
from dlxc.cluster.pki import (
    ca_hash,
    ensure_pki,
    issue_apiserver_client,
    issue_etcd_peer,
    issue_kubelet_serving,
    kubelet_serving_request,
    ssl_context,
    write_private,
)
from dlxc.cluster.supervisor import Supervisor, wait_http

__all__ = [
    "ADDRESS_ANNOTATION", "HostLayout", "InitResult", "JoinError", "annotate_address", "fetch_ca", "init_host",
    "join_command", "join_host", "reset_host", "wait_ready",
]

ADDRESS_ANNOTATION = "dlxc.io/advertise-address"


class JoinError(RuntimeError):
    """`dlxc join` cannot go on; the message says why and what to do."""


@dataclass(frozen=True)
class HostLayout:
    etc: Path
    data: Path
    log: Path

    @classmethod
    def of(cls, state_dir: Path | None) -> HostLayout:
        if state_dir is None:
            return cls(Path("/etc/dlxc"), Path("/var/lib/dlxc"), Path("/var/log/dlxc"))
        return cls(state_dir / "etc", state_dir / "data", state_dir / "log")

    @property
    def pki(self) -> Path:
        return self.etc / "pki"

    @property
    def lxc_path(self) -> Path:
        return self.data / "lxc"

    @property
    def supervisor(self) -> Supervisor:
        return Supervisor(self.data / "pids.json", self.log, self.data)

    def is_host(self) -> bool:
        """Whether init (ETC/host.json) or join (ETC/kubelet.yaml) set this layout up: only then may reset delete it."""
        return (self.etc / "host.json").is_file() or (self.etc / "kubelet.yaml").is_file()

    def local_cluster_here(self) -> bool:
        """Whether DATA is the state dir of a `dlxc up` cluster (same default folder, /var/lib/dlxc)."""
        return (self.data / "layout.json").is_file()

    def make(self) -> None:
        if self.local_cluster_here():
            raise RuntimeError(f"{self.data} holds a `dlxc up` cluster; stop it with `dlxc down --purge` "
                               f"or give init/join another --state-dir")
        self.etc.mkdir(parents=True, exist_ok=True)
        self.etc.chmod(0o700)  # credentials
        self.log.mkdir(parents=True, exist_ok=True)
        # 0711: an unprivileged container's root (host uid 100000) must pass through to its rootfs.
        for path in (self.data, self.lxc_path):
            path.mkdir(parents=True, exist_ok=True)
            path.chmod(0o711)


@dataclass(frozen=True)
class InitResult:
    server: str
    config: Path
    join_token: str
    ca_hash: str
    node_name: str | None
    control_plane_token: str = ""


def join_command(result: InitResult, *, control_plane: bool = False) -> str:
    if control_plane:
        return (f"dlxc join {result.server} --token {result.control_plane_token} --ca-hash {result.ca_hash} "
                f"--control-plane --advertise-address THIS_HOST_IP")
    return f"dlxc join {result.server} --token {result.join_token} --ca-hash {result.ca_hash}"


def default_address() -> str:
    """This host's address on its default route (a UDP connect sends nothing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(("10.255.255.255", 1))
            return str(sock.getsockname()[0])
        except OSError:
            return "127.0.0.1"


def _py() -> list[str]:
    return [sys.executable, "-m", "dlxc"]


def _component_env(layout: HostLayout, name: str, config: ClientConfig) -> dict[str, str]:
    path = save_config(config, layout.etc / f"{name}.yaml")
    return {"DLXC_CONFIG": str(path), "DLXC_SERVER": config.server, "DLXC_TOKEN": config.token or ""}


def _write_yaml(path: Path, data: dict[str, Any]) -> Path:
    import yaml

    path.write_text("# Written by dlxc init/join; every flag of the component may be set here (flags override).\n"
                    + yaml.safe_dump(data, sort_keys=False))
    return path


def _kubelet_args(layout: HostLayout, node_name: str, *, advertise: str | None = None) -> list[str]:
    """The kubelet started with ETC/agent.yaml (kept if it exists, so an operator's edits stay).

    Its stream server (exec, attach, logs) serves ETC/pki/kubelet-NODE.crt, which init or join put
    there, and takes only clients with a certificate from the cluster CA (the apiservers').
    """
    agent = layout.etc / "agent.yaml"
    if not agent.exists():
        flags = {"node-name": node_name, "lxc-path": str(layout.lxc_path), "image-dir": str(layout.data / "images"),
                 "stream-cert-file": str(layout.pki / f"kubelet-{node_name}.crt"),
                 "stream-key-file": str(layout.pki / f"kubelet-{node_name}.key"),
                 "stream-client-ca-file": str(layout.pki / "ca.crt")}
        if advertise:
            flags["advertise-address"] = advertise  # where the other hosts send this one's cluster-network traffic
            flags["stream-advertise-address"] = advertise  # where the apiservers dial its streams
        _write_yaml(agent, {"kubelet": flags})
    return [*_py(), "kubelet", "--config", str(agent)]


@dataclass(frozen=True)
class Component:
    """One process of a host: how to start it, and what must answer before the next one starts."""

    name: str
    args: list[str]
    env: dict[str, str]
    self_logging: bool = True  # a dlxc component rotating its own log (etcd is not)
    ready_url: str | None = None
    ca: Path | None = None


@dataclass(frozen=True)
class ServerPlan:
    components: list[Component]  # etcd, apiserver, scheduler, controller: in start order
    kubelet: Component | None
    admin: ClientConfig
    ca_hash: str


def plan_server(layout: HostLayout, *, advertise: str, port: int, node_name: str | None) -> ServerPlan:
    """Make (once) what the control plane of this host needs: PKI naming the advertised address,
    bootstrap tokens, ETC/server.yaml and agent.yaml, each component's client config; return how to
    start each process. Safe to repeat: `dlxc server` (the systemd unit) calls it at every start."""
    layout.make()
    (layout.etc / "host.json").write_text(json.dumps({"advertiseAddress": advertise, "port": port, "nodeName": node_name}))
    pki = ensure_pki(layout.pki, hosts=[advertise])
    # Streams: the apiserver's client certificate towards kubelets, and this host's kubelet's serving
    # one, both from the CA here (as `dlxc up` does); joined hosts ask the apiserver for theirs.
    client_cert, client_key = issue_apiserver_client(layout.pki)
    if node_name:
        issue_kubelet_serving(layout.pki, node_name)
    secrets_file = layout.etc / "component-tokens.json"
    tokens = TokenFile(layout.etc / "tokens")
    if secrets_file.exists():
        known = json.loads(secrets_file.read_text())
    else:
        known = {"admin": tokens.add("admin", "admin"), "scheduler": tokens.add("scheduler", "admin"),
                 "controller": tokens.add("controller", "admin")}
    if node_name and f"kubelet-{node_name}" not in known:
        known[f"kubelet-{node_name}"] = tokens.add(f"kubelet-{node_name}", f"node:{node_name}")
    secrets_file.write_text(json.dumps(known))
    secrets_file.chmod(0o600)
    client_port, peer_port = port + 1, port + 2
    etcd = f"http://127.0.0.1:{client_port}"
    volumes = layout.data / "volumes"
    volumes.mkdir(exist_ok=True)
    server_yaml = layout.etc / "server.yaml"
    if not server_yaml.exists():
        _write_yaml(server_yaml, {
            "apiserver": {
                "host": "0.0.0.0", "port": port, "etcd-endpoints": etcd, "token-file": str(layout.etc / "tokens"),
                "ca-file": str(pki.ca_cert), "ca-key-file": str(layout.pki / "ca.key"),
                "tls-cert-file": str(pki.server_cert), "tls-private-key-file": str(pki.server_key),
                "kubelet-client-certificate": str(client_cert), "kubelet-client-key": str(client_key),
                "kubelet-certificate-authority": str(pki.ca_cert),
                "allowed-host-paths": [str(volumes), "/usr/share:ro"],
                "advertise-url": f"https://{advertise}:{port}",  # published for clients to learn every apiserver
            },
            "controller": {},
        })
    server = f"https://{advertise}:{port}"

    def config(name: str, token: str) -> dict[str, str]:
        return _component_env(layout, name, ClientConfig(server=server, token=token, certificate_authority=str(pki.ca_cert)))

    peer = f"https://{advertise}:{peer_port}"  # other control-plane hosts' etcd members reach this one here
    member = node_name or "dlxc"
    issue_etcd_peer(layout.pki, member, advertise)
    components = [
        _etcd(layout, name=member, client=etcd, peer=peer, initial_cluster=f"{member}={peer}", existing=False),
        Component("apiserver", [*_py(), "apiserver", "--config", str(server_yaml)], {}, ready_url=f"{server}/readyz", ca=pki.ca_cert),
        Component("scheduler", [*_py(), "scheduler"], config("scheduler", known["scheduler"])),
        Component("controller", [*_py(), "controller", "--config", str(server_yaml)], config("controller", known["controller"])),
    ]
    kubelet = None
    if node_name:
        kubelet = Component("kubelet", _kubelet_args(layout, node_name, advertise=advertise), config("kubelet", known[f"kubelet-{node_name}"]))
    admin = ClientConfig(server=server, token=known["admin"], certificate_authority=str(pki.ca_cert))
    return ServerPlan(components, kubelet, admin, ca_hash(pki.ca_cert.read_bytes()))


def _etcd(layout: HostLayout, *, name: str, client: str, peer: str, initial_cluster: str, existing: bool) -> Component:
    """This host's etcd member: clients on loopback only (its own apiserver), peers on the advertised
    address over TLS, each side showing a peer certificate from the cluster CA (mutual TLS)."""
    tls = []
    if peer.startswith("https://"):
        tls = ["--peer-cert-file", str(layout.pki / "etcd-peer.crt"), "--peer-key-file", str(layout.pki / "etcd-peer.key"),
               "--peer-trusted-ca-file", str(layout.pki / "ca.crt"), "--peer-client-cert-auth"]
    return Component("etcd", [
        "etcd", "--name", name, "--data-dir", str(layout.data / "etcd"),
        "--listen-client-urls", client, "--advertise-client-urls", client,
        "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer, *tls,
        "--initial-cluster", initial_cluster, "--initial-cluster-state", "existing" if existing else "new",
        "--auto-compaction-retention", "1h",
    ], {}, self_logging=False, ready_url=f"{client}/health")


def _wait_ready_url(component: Component, *, timeout: float, logs: Path, abandon: Callable[[], str | None] = lambda: None) -> None:
    if component.ready_url:
        verify: object = ssl_context(component.ca) if component.ca else True
        wait_http(component.ready_url, timeout=timeout, what=component.name, logs=logs, verify=verify, abandon=abandon)


def start_detached(layout: HostLayout, components: list[Component], *, timeout: float) -> None:
    """Start each component not running yet, detached, waiting for each one's ready URL in turn."""
    running = layout.supervisor.running()
    for component in components:
        if component.name not in running:
            layout.supervisor.spawn(component.name, component.args, component.env, self_logging=component.self_logging)
        _wait_ready_url(component, timeout=timeout, logs=layout.log)


def init_host(
    layout: HostLayout,
    *,
    advertise: str,
    port: int,
    node_name: str | None,
    join_ttl_seconds: int,
    systemd: bool = False,
    timeout: float = 90.0,
) -> InitResult:
    """Start etcd, the apiserver (TLS on every address, the advertised one in its certificate), the
    scheduler, the controller and (node_name given) a kubelet, detached or as systemd units; make
    a join token; wait until this host's node is Ready."""
    if "apiserver" in layout.supervisor.running():
        raise RuntimeError(f"this host already runs a control plane (pids in {layout.supervisor.pid_file}); `dlxc reset` it first")
    plan = plan_server(layout, advertise=advertise, port=port, node_name=node_name)
    if systemd:
        from dlxc.cluster import units

        units.install(layout, kubelet=plan.kubelet, server=True)
        for component in plan.components:
            _wait_ready_url(component, timeout=timeout, logs=layout.log)
    else:
        start_detached(layout, [*plan.components, *([plan.kubelet] if plan.kubelet else [])], timeout=timeout)
    join_token = _create_join_token(plan.admin, ttl_seconds=join_ttl_seconds)
    control_plane_token = _create_join_token(plan.admin, ttl_seconds=join_ttl_seconds, control_plane=True)
    # The user's admin credential is an API token (in etcd), so it works on every apiserver of the
    # cluster, including those `join --control-plane` adds; the file's admin token is this host's only.
    path = save_config(dataclasses.replace(plan.admin, token=_cluster_admin(layout, plan.admin)))
    if node_name:
        wait_ready(plan.admin, node_name, timeout=timeout, logs=layout.log)
        annotate_address(plan.admin, node_name, advertise)
    return InitResult(plan.admin.server, path, join_token, plan.ca_hash, node_name, control_plane_token)


def _cluster_admin(layout: HostLayout, bootstrap: ClientConfig) -> str:
    secrets_file = layout.etc / "component-tokens.json"
    known = json.loads(secrets_file.read_text())
    if "clusterAdmin" not in known:
        response = httpx.post(
            f"{bootstrap.server}/apis/dlxc.io/v1/tokens", json={"metadata": {"name": "cluster-admin"}, "spec": {"role": "admin"}},
            headers={"Authorization": f"Bearer {bootstrap.token}"}, verify=ssl_context(bootstrap.certificate_authority or ""), timeout=10,
        )
        if response.status_code != 201:
            raise RuntimeError(f"could not make the cluster-admin token: {response.status_code} {response.text}")
        known["clusterAdmin"] = response.json()["status"]["token"]
        secrets_file.write_text(json.dumps(known))
    return str(known["clusterAdmin"])


def _create_join_token(admin: ClientConfig, *, ttl_seconds: int, control_plane: bool = False) -> str:
    spec: dict[str, Any] = {"role": "join", "ttlSeconds": ttl_seconds, **({"controlPlane": True} if control_plane else {})}
    body = {"metadata": {"name": f"join-{'cp-' if control_plane else ''}{secrets.token_hex(3)}"}, "spec": spec}
    response = httpx.post(
        f"{admin.server}/apis/dlxc.io/v1/tokens", json=body, headers={"Authorization": f"Bearer {admin.token}"},
        verify=ssl_context(admin.certificate_authority or ""), timeout=10,
    )
    if response.status_code != 201:
        raise RuntimeError(f"could not make the join token: {response.status_code} {response.text}")
    return str(response.json()["status"]["token"])


def wait_ready(config: ClientConfig, node: str, *, timeout: float, logs: Path) -> None:
    deadline = time.monotonic() + timeout
    verify = ssl_context(config.certificate_authority) if config.certificate_authority else True
    while time.monotonic() < deadline:
        try:
            response = httpx.get(f"{config.server}/apis/dlxc.io/v1/nodes/{node}", headers={"Authorization": f"Bearer {config.token}"},
                                 timeout=2.0, verify=verify)
            if response.status_code == 200:
                conditions = (response.json().get("status") or {}).get("conditions") or []
                if any(c["type"] == "Ready" and c["status"] == "True" for c in conditions):
                    return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"node {node} did not become Ready within {timeout:.0f}s; see {logs}")


def fetch_ca(server: str, expected_hash: str) -> bytes:
    """The server's CA certificate, once its hash is the one given; JoinError otherwise.

    Fetched without verification (there is nothing to verify against yet) and without any secret:
    the hash is what makes it trusted.
    """
    parts = urlsplit(server)
    if parts.scheme != "https" or not parts.hostname:
        raise JoinError(f"{server!r} is not an https://HOST:PORT URL of an apiserver")
    if not expected_hash.startswith("sha256:") or len(expected_hash) != 7 + 64:
        raise JoinError(f"--ca-hash {expected_hash!r} is not sha256: and 64 hex digits, as `dlxc init` prints it")
    try:
        response = httpx.get(f"{server}/cacert", verify=False, timeout=10)
    except httpx.HTTPError as exc:
        raise JoinError(f"cannot reach {server}: {exc}; nothing was written") from None
    if response.status_code != 200:
        raise JoinError(f"{server} serves no CA certificate at /cacert ({response.status_code}); is it a dlxc apiserver? nothing was written")
    try:
        got = ca_hash(response.content)
    except ValueError:
        raise JoinError(f"{server}/cacert is not a PEM certificate; nothing was written") from None
    if got != expected_hash.lower():
        raise JoinError(
            f"the CA of {server} has hash {got}, not the {expected_hash} given: a wrong server, or someone in between; "
            f"nothing was sent or written"
        )
    return response.content


def join_host(
    layout: HostLayout,
    *,
    server: str,
    token: str,
    expected_hash: str,
    node_name: str,
    advertise: str | None = None,
    systemd: bool = False,
    control_plane: bool = False,
    timeout: float = 90.0,
) -> str | None:
    """Check the CA, trade the join token for this node's own, write its config, start its kubelet, wait until Ready.

    Returns this host's apiserver URL with `control_plane` (for the admin's client config), else None."""
    # Whatever would stop the join after the token is traded is checked before: a use is not wasted.
    if layout.local_cluster_here():
        raise JoinError(f"{layout.data} holds a `dlxc up` cluster; stop it with `dlxc down --purge` or give join another --state-dir")
    if "kubelet" in layout.supervisor.running():
        raise JoinError(f"this host already runs a kubelet (pids in {layout.supervisor.pid_file}); `dlxc reset` it first")
    ca = fetch_ca(server, expected_hash)
    context = ssl.create_default_context(cadata=ca.decode())
    port = urlsplit(server).port or 6443
    # The stream serving certificate: the key is made here and stays here; the apiserver signs the
    # request for this node's name only, so the CA key never leaves the control plane.
    serving_key, serving_csr = kubelet_serving_request(node_name)
    body: dict[str, Any] = {"nodeName": node_name, "servingCSR": serving_csr}
    if control_plane:
        if not advertise:
            raise JoinError("--control-plane needs --advertise-address: the address the other control-plane hosts reach this one at")
        body.update(controlPlane=True, peerURL=f"https://{advertise}:{port + 2}")
    try:
        response = httpx.post(f"{server}/apis/dlxc.io/v1/joins", json=body,
                              headers={"Authorization": f"Bearer {token}"}, verify=context, timeout=10)
    except httpx.HTTPError as exc:
        raise JoinError(f"cannot reach {server}: {exc}; nothing was written") from None
    if response.status_code != 201:
        try:
            message = response.json()["message"]
        except (ValueError, KeyError):
            message = response.text
        raise JoinError(f"{server} refused the join: {message}; nothing was written")
    node_token = response.json()["token"]
    apiservers = [str(u) for u in response.json().get("apiservers") or []]
    serving_cert = response.json().get("servingCertificate")
    if not serving_cert:
        raise JoinError(f"{server} gave no serving certificate for the kubelet's streams (an older apiserver?); "
                        f"`dlxc node remove {node_name}` and join again once the control plane is upgraded")
    if control_plane:
        server = _start_control_plane_member(layout, ca=ca, answer=response.json()["controlPlane"], advertise=str(advertise),
                                             port=port, node_name=node_name, timeout=timeout)
    layout.make()
    layout.pki.mkdir(parents=True, exist_ok=True)
    ca_file = layout.pki / "ca.crt"
    ca_file.write_bytes(ca)
    write_private(layout.pki / f"kubelet-{node_name}.key", serving_key)
    (layout.pki / f"kubelet-{node_name}.crt").write_text(serving_cert)
    # Every live apiserver, the one joined through (or this host's own) first: the kubelet fails over
    # across them, and keeps the list current (kubelet/apiservers.py).
    config = ClientConfig(server=",".join(dict.fromkeys([server, *apiservers])), token=node_token, certificate_authority=str(ca_file))
    kubelet = Component("kubelet", _kubelet_args(layout, node_name, advertise=advertise), _component_env(layout, "kubelet", config))
    if systemd:
        from dlxc.cluster import units

        units.install(layout, kubelet=kubelet, server=False)
    else:
        layout.supervisor.spawn(kubelet.name, kubelet.args, kubelet.env)
    here = dataclasses.replace(config, server=server)  # httpx takes one URL
    wait_ready(here, node_name, timeout=timeout, logs=layout.log)
    if advertise:
        annotate_address(here, node_name, advertise)
    return server if control_plane else None


def _start_control_plane_member(
    layout: HostLayout, *, ca: bytes, answer: dict[str, Any], advertise: str, port: int, node_name: str, timeout: float
) -> str:
    """etcd (joining the cluster's members), an apiserver with its own certificate from the cluster's
    CA, and a standby scheduler and controller on this host; returns this host's apiserver URL,
    which its kubelet then uses."""
    layout.make()
    layout.pki.mkdir(parents=True, exist_ok=True)
    (layout.pki / "ca.crt").write_bytes(ca)
    fd = os.open(layout.pki / "ca.key", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(answer["caKey"])
    pki = ensure_pki(layout.pki, hosts=[advertise])
    client_cert, client_key = issue_apiserver_client(layout.pki)  # this host holds the CA key: it signs its own
    issue_etcd_peer(layout.pki, node_name, advertise)
    (layout.etc / "tokens").touch(mode=0o600)  # every credential of this cluster is an API token in etcd
    etcd = f"http://127.0.0.1:{port + 1}"
    volumes = layout.data / "volumes"
    volumes.mkdir(exist_ok=True)
    server_yaml = layout.etc / "server.yaml"
    _write_yaml(server_yaml, {
        "apiserver": {
            "host": "0.0.0.0", "port": port, "etcd-endpoints": etcd, "token-file": str(layout.etc / "tokens"),
            "ca-file": str(pki.ca_cert), "ca-key-file": str(layout.pki / "ca.key"),
            "tls-cert-file": str(pki.server_cert), "tls-private-key-file": str(pki.server_key),
            "kubelet-client-certificate": str(client_cert), "kubelet-client-key": str(client_key),
            "kubelet-certificate-authority": str(pki.ca_cert),
            "allowed-host-paths": [str(volumes), "/usr/share:ro"],
            "advertise-url": f"https://{advertise}:{port}",
        },
        "controller": {},
    })
    (layout.etc / "host.json").write_text(json.dumps({"advertiseAddress": advertise, "port": port, "nodeName": node_name,
                                                      "controlPlaneMember": True}))
    server = f"https://{advertise}:{port}"
    admin = ClientConfig(server=server, token=answer["adminToken"], certificate_authority=str(pki.ca_cert))
    components = [
        _etcd(layout, name=node_name, client=etcd, peer=f"https://{advertise}:{port + 2}", initial_cluster=answer["initialCluster"], existing=True),
        Component("apiserver", [*_py(), "apiserver", "--config", str(server_yaml)], {}, ready_url=f"{server}/readyz", ca=pki.ca_cert),
        Component("scheduler", [*_py(), "scheduler"], _component_env(layout, "scheduler", admin)),
        Component("controller", [*_py(), "controller", "--config", str(server_yaml)], _component_env(layout, "controller", admin)),
    ]
    start_detached(layout, components, timeout=timeout)
    return server


def annotate_address(config: ClientConfig, node: str, address: str, *, attempts: int = 5) -> None:
    """Record the host's advertised address on its Node (`dlxc.io/advertise-address`), for what needs to reach it.

    The node is already Ready here, so an apiserver away for a moment is waited out (a second apart); what is
    still wrong after that is a RuntimeError that says how to finish by hand, not a traceback."""
    verify = ssl_context(config.certificate_authority) if config.certificate_authority else True
    problem = ""
    for attempt in range(attempts):
        try:
            response = httpx.patch(
                f"{config.server}/apis/dlxc.io/v1/nodes/{node}", json={"metadata": {"annotations": {ADDRESS_ANNOTATION: address}}},
                headers={"Authorization": f"Bearer {config.token}", "Content-Type": "application/merge-patch+json"},
                verify=verify, timeout=10)
        except httpx.HTTPError as exc:
            problem = str(exc) or type(exc).__name__
        else:
            if response.status_code < 400:
                return
            problem = f"HTTP {response.status_code}: {response.text.strip()[:200]}"
            if response.status_code < 500:
                break  # refused: asking again changes nothing
        if attempt + 1 < attempts:
            time.sleep(1.0)
    raise RuntimeError(f"node {node} is up, but recording its address failed ({problem}); "
                       f"run `dlxc annotate node/{node} {ADDRESS_ANNOTATION}={address} --overwrite`")


def reset_host(layout: HostLayout, *, bridge: str = "dlxcbr0") -> tuple[list[str], int]:
    """Undo init or join on this host: stop its processes, destroy its containers, delete its bridge
    and its ETC, DATA and LOG folders. Returns the processes stopped and the containers destroyed.
    The cluster keeps the Node: `dlxc node remove NAME` (on an admin's machine) takes it out."""
    from kubelet import network, runtime

    if not layout.is_host():
        raise RuntimeError(f"{layout.etc} holds no host that `dlxc init` or `dlxc join` set up; not removing anything "
                           f"(a `dlxc up` cluster is removed with `dlxc down --purge`)")
    stopped = layout.supervisor.stop()
    destroyed = 0
    if layout.lxc_path.is_dir():
        rt = runtime.LxcRuntime(layout.lxc_path)
        for name in rt.names():
            rt.destroy(name, timeout=0)
            destroyed += 1
    if network.bridge_exists(bridge):
        network.delete_bridge(bridge)
    for path in (layout.etc, layout.data, layout.log):
        shutil.rmtree(path, ignore_errors=True)
    return stopped, destroyed


def run_foreground(components: list[Component], *, timeout: float = 90.0, logs: Path) -> int:
    """Run the components as children of this process (the dlxc-server unit's main process): each
    started once the one before answers; on SIGTERM or SIGINT all stop (0); when one dies the rest
    stop too and this returns 1, so systemd's Restart=always starts the whole again."""
    import os
    import signal
    import subprocess
    import threading

    from dlxc.cluster.supervisor import stop_order

    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    procs: dict[str, subprocess.Popen] = {}

    def dead() -> str | None:
        return next((f"{name} exited with {proc.returncode}" for name, proc in procs.items() if proc.poll() is not None), None)

    def abandon() -> str | None:
        # A start-up wait ends with a signal or a dead component, not after its timeout: a SIGTERM to
        # the whole process group (children included) must not leave this waiting 90 s for the dead.
        return "stopping" if stopping.is_set() else dead()

    try:
        for component in components:
            if stopping.is_set():
                return 0
            env = {k: v for k, v in {**os.environ, **component.env}.items() if k != "DLXC_LOG_FILE"}
            procs[component.name] = subprocess.Popen(component.args, env=env, stdin=subprocess.DEVNULL)
            _wait_ready_url(component, timeout=timeout, logs=logs, abandon=abandon)
        while not stopping.wait(0.5):
            if (reason := dead()) is not None:
                print(f"dlxc server: {reason}; stopping the others", flush=True)
                return 1
        return 0
    except RuntimeError as exc:
        if stopping.is_set():
            return 0
        print(f"dlxc server: {exc}", flush=True)
        return 1
    finally:
        for name in stop_order(list(procs)):
            proc = procs[name]
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def server_plan_of(layout: HostLayout) -> ServerPlan:
    """The control plane `dlxc init` set up in this layout (ETC/host.json), for `dlxc server`."""
    try:
        recorded = json.loads((layout.etc / "host.json").read_text())
    except FileNotFoundError:
        raise RuntimeError(f"{layout.etc / 'host.json'} is missing: run `dlxc init` on this host first") from None
    return plan_server(layout, advertise=recorded["advertiseAddress"], port=int(recorded["port"]), node_name=recorded.get("nodeName"))
