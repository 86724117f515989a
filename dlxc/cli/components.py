"""`dlxc apiserver|scheduler|controller|kubelet`: run one component in the foreground.

Each component's settings and their defaults live with the component (ApiServerSettings,
SchedulerSettings, NodeLifecycleSettings, KubeletSettings with its LeaseSettings); this module
only maps flags onto those fields, so a flag's default is read from the model, never restated.
"""
from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import signal
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import typer
from pydantic import BaseModel, ValidationError

from apiserver.settings import ApiServerSettings
from controller.nodelifecycle import NodeLifecycleSettings
from dlxc.cli.common import duration
from dlxc.cli.configfile import config_option
from dlxc.client.api import Client
from dlxc.client.config import ClientConfig
from dlxc.tasks import cancel_and_wait
from kubelet.settings import KubeletSettings, LeaseSettings

__all__ = ["apiserver", "controller", "kubelet", "scheduler"]


def _logging(level: str) -> None:
    """To stderr, or (DLXC_LOG_FILE, as `dlxc up`, `init` and `join` start components) to that file,
    rotated by size (10 MiB, five old files kept) so a long-lived host never fills its disk."""
    from dlxc.cluster.supervisor import LOG_BACKUPS, LOG_MAX_BYTES

    handlers: list[logging.Handler] | None = None
    path = os.environ.get("DLXC_LOG_FILE")
    if path:
        from logging.handlers import RotatingFileHandler

        Path(path).parent.mkdir(parents=True, exist_ok=True)
        handlers = [RotatingFileHandler(path, maxBytes=LOG_MAX_BYTES, backupCount=LOG_BACKUPS)]
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s", handlers=handlers)


def _default(model: type[BaseModel], field: str) -> Any:
    """A settings field's default, as the flag's default: one source of truth."""
    return model.model_fields[field].get_default(call_default_factory=True)


def _invalid(exc: ValidationError, flags: dict[str, str]) -> typer.BadParameter:
    """The first validation error as a usage error naming the flag of the field it is about."""
    error = exc.errors()[0]
    field = ".".join(str(p) for p in error["loc"])
    hint = next((flag for prefix, flag in flags.items() if field == prefix or field.startswith(prefix + ".")), None)
    return typer.BadParameter(str(error["msg"]).removeprefix("Value error, "), param_hint=hint)


def _client_config(server: str | None, token: str | None) -> ClientConfig:
    """The client config with the global --server/--token, then this verb's own, over it."""
    from dlxc.cli.common import client_config

    config = client_config()
    if server:
        config.server = server
    if token:
        config.token = token
    return config


def _check_event_loop() -> None:
    """A DLXC_EVENT_LOOP that names no loop is a usage error (exit 2), before anything starts."""
    from dlxc import eventloop

    try:
        eventloop.loop_name()
    except ValueError as exc:
        from dlxc.cli import console

        console.error(str(exc))
        raise typer.Exit(2) from None


def _run_until_signal(main: Callable[[Client], Awaitable[None]], config: ClientConfig, *, busy: bool = False) -> None:
    """Run a component until SIGTERM or SIGINT, then exit 0 without touching what it manages; a busy
    one (the scheduler, hollow nodes) on the faster loop DLXC_EVENT_LOOP names (dlxc.eventloop)."""

    async def go() -> None:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, task.cancel)
        async with Client(config) as client:
            try:
                await main(client)
            except asyncio.CancelledError:
                pass

    if busy:
        from dlxc import eventloop

        _check_event_loop()
        eventloop.run(go())
    else:
        asyncio.run(go())


def _elected(name: str, enabled: bool, identity: str | None, main: Callable[[Client], Awaitable[None]]) -> Callable[[Client], Awaitable[None]]:
    """`main` run only while this process leads Lease NAME (every write fenced by the term's token)."""
    if not enabled:
        return main

    async def elected(client: Client) -> None:
        from dlxc.client.leaderelection import LeaderElection

        await LeaderElection(client, name, identity=identity).run(lambda: main(client))

    return elected


def default_node_name() -> str:
    raw = socket.gethostname().split(".")[0].lower()
    cleaned = "".join(ch if ch.isalnum() or ch == "-" else "-" for ch in raw).strip("-")
    return cleaned[:63] or "node"


def _cluster_cidr(text: str) -> ipaddress.IPv4Network:
    try:
        network = ipaddress.IPv4Network(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not an IPv4 network such as 10.88.0.0/16", param_hint="--cluster-cidr") from None
    if network.prefixlen > 29:
        raise typer.BadParameter("a prefix of /29 or wider, e.g. 10.88.0.0/16", param_hint="--cluster-cidr")
    return network


def apiserver(
    config: Path = config_option("DLXC_APISERVER_CONFIG", "/etc/dlxc/server.yaml"),
    host: str = typer.Option("127.0.0.1", "--host", envvar="DLXC_APISERVER_HOST", help="Address to listen on."),
    port: int = typer.Option(6443, "--port", envvar="DLXC_APISERVER_PORT"),
    etcd_endpoints: str = typer.Option(",".join(_default(ApiServerSettings, "etcd_endpoints")), "--etcd-endpoints", envvar="DLXC_ETCD_ENDPOINTS", help="Comma-separated."),
    etcd_prefix: str = typer.Option(_default(ApiServerSettings, "etcd_prefix"), "--etcd-prefix", envvar="DLXC_ETCD_PREFIX"),
    token_file: Path = typer.Option(None, "--token-file", envvar="DLXC_TOKEN_FILE", help="Hashed tokens; without it no auth (loopback only)."),
    tls_cert_file: Path = typer.Option(None, "--tls-cert-file", envvar="DLXC_TLS_CERT_FILE", help="Server certificate (PEM)."),
    tls_private_key_file: Path = typer.Option(None, "--tls-private-key-file", envvar="DLXC_TLS_PRIVATE_KEY_FILE", help="Its key (PEM)."),
    ca_file: Path = typer.Option(None, "--ca-file", envvar="DLXC_CA_FILE", help="The CA certificate to serve at /cacert (for `dlxc join`)."),
    ca_key_file: Path = typer.Option(None, "--ca-key-file", envvar="DLXC_CA_KEY_FILE", help="The CA's key, handed to `dlxc join --control-plane` hosts; without it they are refused."),
    insecure_http: bool = typer.Option(False, "--insecure-http", envvar="DLXC_INSECURE_HTTP", help="Serve plain HTTP (loopback only)."),
    allow_privileged: bool = typer.Option(False, "--allow-privileged", envvar="DLXC_ALLOW_PRIVILEGED", help="Accept privileged: true."),
    allowed_host_paths: str = typer.Option("", "--allowed-host-paths", envvar="DLXC_ALLOWED_HOST_PATHS", help="Comma-separated folders host-path mounts must lie under; empty: none."),
    kubelet_client_certificate: Path = typer.Option(None, "--kubelet-client-certificate", envvar="DLXC_KUBELET_CLIENT_CERTIFICATE", help="Client certificate towards kubelets' streams (exec, attach, logs)."),
    kubelet_client_key: Path = typer.Option(None, "--kubelet-client-key", envvar="DLXC_KUBELET_CLIENT_KEY", help="Its key (PEM)."),
    kubelet_certificate_authority: Path = typer.Option(None, "--kubelet-certificate-authority", envvar="DLXC_KUBELET_CERTIFICATE_AUTHORITY", help="CA that signs the kubelets' serving certificates."),
    cluster_cidr: str = typer.Option(str(_default(ApiServerSettings, "cluster_cidr")), "--cluster-cidr", envvar="DLXC_CLUSTER_CIDR", help="The cluster network containers get their addresses from."),
    advertise_url: str = typer.Option(None, "--advertise-url", envvar="DLXC_APISERVER_ADVERTISE_URL", help="The URL other hosts reach this apiserver at, published for clients to learn every apiserver."),
    log_level: str = typer.Option("info", "--log-level", envvar="DLXC_LOG_LEVEL"),
) -> None:
    """Serve the API over etcd (TLS unless --insecure-http on loopback)."""
    from apiserver.server import is_loopback, serve

    _logging(log_level)
    if token_file is None and not is_loopback(host):
        raise typer.BadParameter("without --token-file the apiserver only listens on loopback", param_hint="--host")
    if bool(tls_cert_file) != bool(tls_private_key_file):
        raise typer.BadParameter("give both --tls-cert-file and --tls-private-key-file", param_hint="--tls-cert-file")
    if not tls_cert_file and not insecure_http:
        raise typer.BadParameter("give --tls-cert-file and --tls-private-key-file, or --insecure-http on loopback", param_hint="--tls-cert-file")
    if not tls_cert_file and not is_loopback(host):
        raise typer.BadParameter(f"plain HTTP is only allowed on loopback, not on {host}", param_hint="--insecure-http")
    if advertise_url and not advertise_url.startswith(("https://", "http://")):
        raise typer.BadParameter(f"{advertise_url!r} is not an https://ADDRESS:PORT URL", param_hint="--advertise-url")
    roots = [p.strip() for p in allowed_host_paths.split(",") if p.strip()]
    for root in roots:
        if not root.startswith("/"):
            raise typer.BadParameter(f"{root!r} is not an absolute path", param_hint="--allowed-host-paths")
    settings = ApiServerSettings(
        etcd_endpoints=[e.strip() for e in etcd_endpoints.split(",") if e.strip()],
        etcd_prefix=etcd_prefix,
        token_file=token_file,
        ca_file=ca_file,
        ca_key_file=ca_key_file,
        allow_privileged=allow_privileged,
        allowed_host_paths=roots,
        kubelet_client_certificate=kubelet_client_certificate,
        kubelet_client_key=kubelet_client_key,
        kubelet_certificate_authority=kubelet_certificate_authority,
        cluster_cidr=_cluster_cidr(cluster_cidr),
        advertise_url=advertise_url,
    )
    _check_event_loop()
    serve(settings, host=host, port=port, cert=tls_cert_file, key=tls_private_key_file, insecure_http=insecure_http, log_level="warning")


def scheduler(
    server: str = typer.Option(None, "--server", envvar="DLXC_SERVER"),
    token: str = typer.Option(None, "--token", envvar="DLXC_TOKEN"),
    config: Path = typer.Option(None, "--config", envvar="DLXC_SCHEDULER_CONFIG", help="YAML settings: seed, weights, filters, retry."),
    seed: int = typer.Option(None, "--seed", help="Seed of the tie-breaking choice, so placements replay (default 0)."),
    weight: list[str] = typer.Option(None, "--weight", help="NAME=WEIGHT of a score plugin, e.g. AvailableCPU=40; repeatable."),
    leader_elect: bool = typer.Option(True, "--leader-elect/--no-leader-elect", help="Act only while holding Lease dlxc-scheduler."),
    identity: str = typer.Option(None, "--identity", help="Leader election identity (default: HOST-PID)."),
    log_level: str = typer.Option("info", "--log-level", envvar="DLXC_LOG_LEVEL"),
) -> None:
    """Bind unbound containers to nodes by weighted score."""
    from dlxc import gctune
    from scheduler.config import SchedulerConfigError, load_settings
    from scheduler.loop import Scheduler

    _logging(log_level)
    try:
        settings = load_settings(config, seed=seed, weights=weight)
    except SchedulerConfigError as exc:
        from dlxc.cli import console

        console.error(str(exc))
        raise typer.Exit(2) from None
    async def run(client: Client) -> None:
        # Once the caches hold the whole cluster, no later collection walks them again (dlxc.gctune).
        scheduler = Scheduler(client, settings)
        await gctune.freeze_when(scheduler.run(), scheduler.synced, log=logging.getLogger("dlxc.scheduler"))

    gctune.tune()
    _run_until_signal(_elected("dlxc-scheduler", leader_elect, identity, run), _client_config(server, token), busy=True)


def controller(
    config: Path = config_option("DLXC_CONTROLLER_CONFIG", "/etc/dlxc/server.yaml"),
    server: str = typer.Option(None, "--server", envvar="DLXC_SERVER"),
    token: str = typer.Option(None, "--token", envvar="DLXC_TOKEN"),
    node_grace: float = typer.Option(_default(NodeLifecycleSettings, "node_grace"), "--node-grace", parser=duration, help="Seconds of a silent node Lease before the node is NotReady."),
    eviction_timeout: float = typer.Option(_default(NodeLifecycleSettings, "eviction_timeout"), "--eviction-timeout", parser=duration, help="Seconds after NotReady before its containers move."),
    # The kubelets' fence timeout is theirs: its default is read from their LeaseSettings.
    fence_timeout: float = typer.Option(_default(LeaseSettings, "fence_timeout"), "--fence-timeout", parser=duration, help="The kubelets' --fence-timeout (grace + eviction must exceed it)."),
    leader_elect: bool = typer.Option(True, "--leader-elect/--no-leader-elect", help="Act only while holding Lease dlxc-controller."),
    identity: str = typer.Option(None, "--identity", help="Leader election identity (default: HOST-PID)."),
    log_level: str = typer.Option("info", "--log-level", envvar="DLXC_LOG_LEVEL"),
) -> None:
    """Run the controllers (node lifecycle: NotReady, eviction, rescheduling; ContainerSets: members, rollouts, autoscale; ContainerClusters; scheduled backups)."""
    from controller.backups import BackupScheduler
    from controller.containercluster import ContainerClusterController
    from controller.containerset import ContainerSetController
    from controller.nodelifecycle import NodeLifecycleController

    _logging(log_level)
    try:
        settings = NodeLifecycleSettings(node_grace=node_grace, eviction_timeout=eviction_timeout, fence_timeout=fence_timeout)
    except ValidationError as exc:
        raise _invalid(exc, {"node_grace": "--node-grace", "": "--eviction-timeout"}) from None
    _run_until_signal(
        _elected("dlxc-controller", leader_elect, identity, lambda c: _both(
            NodeLifecycleController(c, settings).run(), ContainerSetController(c).run(), ContainerClusterController(c).run(),
            BackupScheduler(c).run(),
        )),
        _client_config(server, token),
    )


async def _both(*loops: Awaitable[None]) -> None:
    """Run the controllers side by side; if one ends (it only ends by failing), the rest stop too."""
    tasks = [asyncio.ensure_future(loop) for loop in loops]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            task.result()
    finally:
        await cancel_and_wait(*tasks)


def kubelet(
    config: Path = config_option("DLXC_KUBELET_CONFIG", "/etc/dlxc/agent.yaml"),
    server: str = typer.Option(None, "--server", envvar="DLXC_SERVER"),
    token: str = typer.Option(None, "--token", envvar="DLXC_TOKEN"),
    node_name: str = typer.Option(None, "--node-name", envvar="DLXC_NODE_NAME", help="Default: the hostname."),
    lxc_path: Path = typer.Option(Path("/var/lib/dlxc/lxc"), "--lxc-path", envvar="DLXC_LXC_PATH"),
    image_dir: Path = typer.Option(Path("/var/lib/dlxc/images"), "--image-dir", envvar="DLXC_IMAGE_DIR"),
    bridge: str = typer.Option(_default(KubeletSettings, "bridge"), "--bridge", envvar="DLXC_BRIDGE", help="Default bridge, created when missing."),
    subnet: str = typer.Option(str(_default(KubeletSettings, "subnet")), "--subnet", envvar="DLXC_SUBNET", help="The bridge's address and subnet."),
    cluster_cidr: str = typer.Option(str(_default(KubeletSettings, "cluster_cidr")), "--cluster-cidr", envvar="DLXC_CLUSTER_CIDR", help="The cluster network (the apiserver's --cluster-cidr)."),
    cluster_bridge: str = typer.Option(_default(KubeletSettings, "cluster_bridge"), "--cluster-bridge", envvar="DLXC_CLUSTER_BRIDGE", help="This host's bridge of the cluster network."),
    advertise_address: str = typer.Option(None, "--advertise-address", envvar="DLXC_ADVERTISE_ADDRESS",
                                          help="This host's address other nodes send overlay traffic to; default: the one that reaches the apiserver."),
    outbound_nat: bool = typer.Option(_default(KubeletSettings, "outbound_nat"), "--outbound-nat/--no-outbound-nat", envvar="DLXC_OUTBOUND_NAT",
                                      help="Masquerade the cluster network's outbound traffic (nftables; turns on IPv4 forwarding)."),
    heartbeat_interval: float = typer.Option(_default(LeaseSettings, "renew_interval"), "--heartbeat-interval", parser=duration, help="Seconds between two renewals of the node Lease: the heartbeat."),
    status_interval: float = typer.Option(_default(KubeletSettings, "status_interval"), "--status-interval", parser=duration, help="Seconds between two looks at the Node status; it is written only when it changed or is older than 300 s."),
    apiserver_refresh_interval: float = typer.Option(_default(KubeletSettings, "apiserver_refresh_interval"), "--apiserver-refresh-interval", parser=duration, help="Seconds between two reads of the live apiservers (GET /apiservers); 0: never."),
    cert_check_interval: float = typer.Option(_default(KubeletSettings, "cert_check_interval"), "--cert-check-interval", parser=duration, help="Seconds between two checks of the stream serving certificate (renewed past 2/3 of its life); 0: never."),
    fence_timeout: float = typer.Option(_default(LeaseSettings, "fence_timeout"), "--fence-timeout", parser=duration, help="Without a Lease renewal this long, stop containers that may fail over."),
    max_containers: int = typer.Option(_default(KubeletSettings, "max_containers"), "--max-containers"),
    cpu_overcommit: float = typer.Option(_default(KubeletSettings, "cpu_overcommit"), "--cpu-overcommit", help="CPU cores offered per real core (limits are caps)."),
    restart_backoff_base: float = typer.Option(_default(KubeletSettings, "restart_backoff_base"), "--restart-backoff-base", parser=duration, help="Seconds before the second restart of a crashing container; doubles each time."),
    restart_backoff_cap: float = typer.Option(_default(KubeletSettings, "restart_backoff_cap"), "--restart-backoff-cap", parser=duration, help="Longest crash-loop backoff, in seconds."),
    resync_interval: float = typer.Option(_default(KubeletSettings, "resync_interval"), "--resync-interval", parser=duration, help="Seconds between full comparisons of every container."),
    metrics_interval: float = typer.Option(_default(KubeletSettings, "metrics_interval"), "--metrics-interval", parser=duration, help="Seconds between metrics collections; 0 turns them off."),
    metrics_port: int = typer.Option(_default(KubeletSettings, "metrics_port"), "--metrics-port", envvar="DLXC_METRICS_PORT", help="Serve Prometheus /metrics on this port; 0: off."),
    metrics_host: str = typer.Option(_default(KubeletSettings, "metrics_host"), "--metrics-host", envvar="DLXC_METRICS_HOST"),
    image_gc_after: float = typer.Option(_default(KubeletSettings, "image_gc_after"), "--image-gc-after", parser=duration, help="Remove cached images unused this many seconds; 0: never."),
    scan_paths: str = typer.Option(",".join(str(p) for p in _default(KubeletSettings, "scan_paths")), "--scan-paths", help="Comma-separated lxcpaths whose containers are listed as unmanaged."),
    backup_dir: Path = typer.Option(None, "--backup-dir", envvar="DLXC_BACKUP_DIR", help="Where backup archives go (default: backups beside --lxc-path); may be a mount shared by every node."),
    metrics_file: Path = typer.Option(None, "--metrics-file", envvar="DLXC_METRICS_FILE", help="Append each collection as one JSON line."),
    stream_cert_file: Path = typer.Option(None, "--stream-cert-file", envvar="DLXC_STREAM_CERT_FILE", help="Serving certificate of exec/attach/logs (names the node); without it no streams."),
    stream_key_file: Path = typer.Option(None, "--stream-key-file", envvar="DLXC_STREAM_KEY_FILE", help="Its key (PEM)."),
    stream_client_ca_file: Path = typer.Option(None, "--stream-client-ca-file", envvar="DLXC_STREAM_CLIENT_CA_FILE", help="CA of the apiserver's client certificate."),
    stream_host: str = typer.Option(_default(KubeletSettings, "stream_host"), "--stream-host", envvar="DLXC_STREAM_HOST", help="Address the stream server listens on."),
    stream_port: int = typer.Option(_default(KubeletSettings, "stream_port"), "--stream-port", envvar="DLXC_STREAM_PORT", help="Its port; 0: any free one (published in the Node status)."),
    stream_advertise_address: str = typer.Option("", "--stream-advertise-address", envvar="DLXC_STREAM_ADVERTISE_ADDRESS", help="Address the apiserver dials (default: the listen address, or the one that reaches the apiserver)."),
    log_level: str = typer.Option("info", "--log-level", envvar="DLXC_LOG_LEVEL"),
    lxcfs: bool = typer.Option(
        True, "--lxcfs/--no-lxcfs", envvar="DLXC_LXCFS",
        help="Start lxcfs if it is not running, so containers see their own limits in /proc/meminfo, cpuinfo, uptime.",
    ),
) -> None:
    """Run the node agent: register, heartbeat, reconcile LXC containers bound to this node."""
    from kubelet import hostfeatures, idmap, images, network, runtime
    from kubelet.agent import Kubelet

    _logging(log_level)
    try:
        lease = LeaseSettings(renew_interval=heartbeat_interval, fence_timeout=fence_timeout)
        settings = KubeletSettings(
            node_name=node_name or default_node_name(),
            lxc_path=lxc_path,
            image_dir=image_dir,
            bridge=bridge,
            subnet=ipaddress.IPv4Interface(subnet),
            cluster_cidr=_cluster_cidr(cluster_cidr),
            cluster_bridge=cluster_bridge,
            advertise_address=ipaddress.IPv4Address(advertise_address) if advertise_address else None,
            outbound_nat=outbound_nat,
            status_interval=status_interval,
            apiserver_refresh_interval=apiserver_refresh_interval,
            cert_check_interval=cert_check_interval,
            lease=lease,
            max_containers=max_containers,
            cpu_overcommit=cpu_overcommit,
            restart_backoff_base=restart_backoff_base,
            restart_backoff_cap=restart_backoff_cap,
            resync_interval=resync_interval,
            metrics_interval=metrics_interval,
            metrics_port=metrics_port,
            metrics_host=metrics_host,
            metrics_file=metrics_file,
            image_gc_after=image_gc_after,
            scan_paths=[Path(p) for p in scan_paths.split(",") if p.strip()],
            backup_dir=backup_dir,
            stream_cert_file=stream_cert_file,
            stream_key_file=stream_key_file,
            stream_client_ca_file=stream_client_ca_file,
            stream_host=stream_host,
            stream_port=stream_port,
            stream_advertise_address=stream_advertise_address,
        )
    except ValidationError as exc:
        raise _invalid(exc, {"": "--fence-timeout", "status_interval": "--status-interval"}) from None
    if os.geteuid() != 0:
        raise typer.BadParameter("the kubelet must run as root to manage LXC containers")
    if stream_cert_file and not (stream_key_file and stream_client_ca_file):
        raise typer.BadParameter("--stream-cert-file needs --stream-key-file and --stream-client-ca-file", param_hint="--stream-cert-file")
    lxc_path.mkdir(parents=True, exist_ok=True)
    ids = idmap.ensure_subids()
    host = hostfeatures.detect(start_lxcfs=lxcfs)

    async def main(client: Client) -> None:
        agent = Kubelet(
            client,
            # INFO: the log of each run then says how init ended, which the restart policy needs.
            runtime.LxcRuntime(lxc_path, log_level="INFO"),
            images.ImageCache(image_dir),
            network,
            settings,
            idmap=ids,
            host=host,
        )
        await agent.run()

    try:
        _run_until_signal(main, _client_config(server, token))
    finally:
        if host.lxcfs_pidfile:  # started in this kubelet's own mount namespace: it goes with the kubelet
            hostfeatures.stop_lxcfs(pidfile=Path(host.lxcfs_pidfile))
