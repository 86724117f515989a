"""`dlxc up` and `dlxc down`: the local all-in-one cluster."""
from __future__ import annotations

import ipaddress
from pathlib import Path

import typer
import yaml

from dlxc.apply.applier import apply_one
from dlxc.apply.manifests import load_manifests
from dlxc.cli import console
from dlxc.cli.common import fail, run
from dlxc.cli.components import default_node_name
from dlxc.client.api import Client
from dlxc.client.config import config_path, load_config, save_config
from dlxc.cluster.local import LocalCluster, default_state_dir

__all__ = ["down", "up"]


def _examples_dir() -> Path | None:
    here = Path(__file__).resolve().parents[2] / "manifests" / "examples"
    return here if here.is_dir() else None


def _points_into(config: Path, state_dir: Path) -> bool:
    """Whether the client config at `config` is the one `up` wrote for the cluster in state_dir."""
    try:
        ca = load_config(config).certificate_authority
    except (OSError, ValueError, yaml.YAMLError):
        return False
    return bool(ca) and Path(ca).resolve().is_relative_to(state_dir.resolve())


def up(
    state_dir: Path = typer.Option(None, "--state-dir", envvar="DLXC_STATE_DIR", help="Default: /var/lib/dlxc."),
    port: int = typer.Option(6443, "--port", envvar="DLXC_PORT", help="apiserver port; etcd uses the next two."),
    examples: Path = typer.Option(None, "--examples", help="Manifests to apply when the cluster is created; default: manifests/examples."),
    no_examples: bool = typer.Option(False, "--no-examples", help="Apply nothing."),
    allow_privileged: bool = typer.Option(False, "--allow-privileged", envvar="DLXC_ALLOW_PRIVILEGED",
                                          help="Accept privileged: true (and so `dlxc adopt` of privileged LXC containers)."),
    allowed_host_paths: str = typer.Option("", "--allowed-host-paths", envvar="DLXC_ALLOWED_HOST_PATHS",
                                           help="Comma-separated folders (PATH or PATH:ro) host mounts may also come from; "
                                                "always allowed: STATE_DIR/volumes, /usr/share read-only."),
    nodes: int = typer.Option(1, "--nodes", min=1, max=20, help="Kubelets on this host, each its own node (own name, lxcpath, bridge)."),
    etcd_members: int = typer.Option(1, "--etcd-members", help="1, or 3 for an etcd cluster on loopback."),
    bridge: str = typer.Option("dlxcbr0", "--bridge", envvar="DLXC_BRIDGE", help="The first node's bridge; node k gets BRIDGE-k."),
    subnet: str = typer.Option("10.77.0.1/24", "--subnet", envvar="DLXC_SUBNET",
                               help="The first node's bridge address; each further node takes the next subnet of that size."),
    cluster_cidr: str = typer.Option("10.88.0.0/16", "--cluster-cidr", envvar="DLXC_CLUSTER_CIDR",
                                     help="The cluster network containers join by default."),
    cluster_bridge: str = typer.Option("dlxc0", "--cluster-bridge", envvar="DLXC_CLUSTER_BRIDGE",
                                       help="This host's bridge of the cluster network, shared by its nodes."),
    outbound_nat: bool = typer.Option(True, "--outbound-nat/--no-outbound-nat", envvar="DLXC_OUTBOUND_NAT",
                                      help="Masquerade the cluster network to the host's uplink (nftables; turns on IPv4 forwarding)."),
) -> None:
    """Start a local cluster in the background and apply the examples."""
    if etcd_members not in (1, 3, 5):
        raise typer.BadParameter("must be 1, 3 or 5 (an odd number keeps a majority)", param_hint="--etcd-members")
    if not 1 <= len(bridge) <= 12 or not all(c.isalnum() or c in "-_" for c in bridge):
        # Interface names have 15 characters at most, and node 19's bridge is BRIDGE-19.
        raise typer.BadParameter("1-12 letters, digits, - or _", param_hint="--bridge")
    try:
        if ipaddress.IPv4Interface(subnet).network.prefixlen > 28:
            raise ValueError("too small")
    except ValueError:
        raise typer.BadParameter("an IPv4 address with a prefix of /28 or wider, e.g. 10.77.0.1/24", param_hint="--subnet") from None
    try:
        if ipaddress.IPv4Network(cluster_cidr).prefixlen > 29:
            raise ValueError("too small")
    except ValueError:
        raise typer.BadParameter("an IPv4 network of /29 or wider, e.g. 10.88.0.0/16", param_hint="--cluster-cidr") from None
    if not 1 <= len(cluster_bridge) <= 12 or not all(c.isalnum() or c in "-_" for c in cluster_bridge):
        # Its VXLAN port is CLUSTER_BRIDGE-vx, within the 15 characters of an interface name.
        raise typer.BadParameter("1-12 letters, digits, - or _", param_hint="--cluster-bridge")
    extra = tuple(p.strip() for p in allowed_host_paths.split(",") if p.strip())
    for root in extra:
        if not root.startswith("/"):
            raise typer.BadParameter(f"{root!r} is not an absolute path", param_hint="--allowed-host-paths")
    cluster = LocalCluster(state_dir or default_state_dir(), port=port, node_name=default_node_name(), nodes=nodes,
                           etcd_members=etcd_members, bridge=bridge, subnet=subnet, cluster_cidr=str(ipaddress.IPv4Network(cluster_cidr)),
                           cluster_bridge=cluster_bridge, outbound_nat=outbound_nat,
                           allow_privileged=allow_privileged, extra_host_paths=extra)
    created = not cluster.exists()
    before = cluster.admission_layout()
    if "apiserver" in cluster.running() and before is not None and before != (allow_privileged, extra):
        console.warn("the apiserver is already running with its earlier --allow-privileged/--allowed-host-paths; "
                    "`dlxc down` and `dlxc up` with the new ones to change them")
        cluster.allow_privileged, cluster.extra_host_paths = before
    try:
        config = cluster.up()
    except RuntimeError as exc:
        fail(str(exc))
    path = save_config(config)
    names = ", ".join(n.name for n in cluster.local_nodes())
    members = f", etcd of {etcd_members} members" if etcd_members > 1 else ""
    console.out(f"cluster is up: apiserver {cluster.server}, node{'s' if nodes > 1 else ''} {names} Ready{members}")
    console.out(f"state in {cluster.state_dir}, logs in {cluster.state_dir / 'logs'}, client config {path}")
    console.out(f"dashboard: {cluster.server}/ui/ (`dlxc dashboard` prints a one-time login link)")
    source = examples or _examples_dir()
    if not created and source is not None and not no_examples:
        # Re-applying would revert what the user changed since (a stopped container, a new image).
        console.out("examples not applied: the cluster existed already (they are applied when it is created)")
    if created and source is not None and not no_examples:
        manifests, errors = load_manifests([str(source)])
        if errors:
            fail("; ".join(str(e) for e in errors))

        async def go() -> None:
            async with Client(config) as client:
                for manifest in manifests:
                    result = await apply_one(client, manifest)
                    console.out(f"{result.ref} {result.action}")

        run(go())
    console.out("")
    console.out("next:")
    console.out("  dlxc get nodes")
    console.out("  dlxc get containers -o wide")
    console.out("  dlxc apply -f manifests/examples/")
    console.out("  dlxc dashboard --open")
    console.out("  dlxc down")


def down(
    state_dir: Path = typer.Option(None, "--state-dir", envvar="DLXC_STATE_DIR", help="Default: /var/lib/dlxc."),
    port: int = typer.Option(6443, "--port", envvar="DLXC_PORT"),
    purge: bool = typer.Option(False, "--purge", help="Also destroy the containers and delete the state dir and its client config."),
) -> None:
    """Stop the local cluster's processes and containers; the desired state stays in the state dir (unless --purge)."""
    cluster = LocalCluster(state_dir or default_state_dir(), port=port, node_name=default_node_name())
    if not purge:
        stopped = cluster.down()
        console.out(f"stopped: {', '.join(stopped) if stopped else 'nothing was running'}")
        console.out(f"desired state kept in {cluster.state_dir}; `dlxc up` brings it back")
        return
    try:
        stopped, destroyed = cluster.purge()
    except RuntimeError as exc:
        fail(str(exc))
    console.out(f"stopped: {', '.join(stopped) if stopped else 'nothing was running'}")
    console.out(f"destroyed {destroyed} container{'s' if destroyed != 1 else ''}; removed {cluster.state_dir}")
    config = config_path()
    if config.is_file() and _points_into(config, cluster.state_dir):
        config.unlink()
        console.out(f"removed the client config {config}")
