"""`dlxc init`: the first host of a many-host cluster (control plane and, unless --no-kubelet, a kubelet)."""
from __future__ import annotations

import ipaddress
from pathlib import Path

import typer

from dlxc.cli import console
from dlxc.cli.common import fail
from dlxc.cli.components import default_node_name
from dlxc.cli.token import parse_ttl
from dlxc.cluster.host import HostLayout, default_address, init_host, join_command

__all__ = ["init"]


def init(
    advertise_address: str = typer.Option(None, "--advertise-address", envvar="DLXC_ADVERTISE_ADDRESS",
                                          help="The address other hosts reach this one at; default: the address of the default route."),
    port: int = typer.Option(6443, "--port", envvar="DLXC_PORT", help="apiserver port; etcd listens on loopback on the next two."),
    node_name: str = typer.Option(None, "--node-name", envvar="DLXC_NODE_NAME", help="This host's node name; default: the hostname."),
    state_dir: Path = typer.Option(None, "--state-dir", envvar="DLXC_STATE_DIR",
                                   help="Keep config, credentials, data and logs under DIR/etc, DIR/data, DIR/log; "
                                        "default: /etc/dlxc, /var/lib/dlxc, /var/log/dlxc."),
    no_kubelet: bool = typer.Option(False, "--no-kubelet", help="Run only the control plane here; no containers on this host."),
    join_ttl: str = typer.Option("1h", "--join-ttl", help="How long the printed join command works, e.g. 1h or 7d."),
    systemd: bool = typer.Option(False, "--systemd", help="Write and enable systemd units instead of starting detached processes."),
) -> None:
    """Start a cluster's control plane on this host and print the command that joins other hosts to it."""
    try:
        ttl = parse_ttl(join_ttl)
    except ValueError as exc:
        fail(str(exc).replace("--ttl", "--join-ttl"), code=2)
    advertise = advertise_address or default_address()
    try:
        ipaddress.ip_address(advertise)
    except ValueError:
        fail(f"--advertise-address {advertise!r} is not an IP address", code=2)
    layout = HostLayout.of(state_dir)
    node = None if no_kubelet else (node_name or default_node_name())
    try:
        result = init_host(layout, advertise=advertise, port=port, node_name=node, join_ttl_seconds=ttl, systemd=systemd)
    except RuntimeError as exc:
        fail(str(exc))
    console.out(f"control plane is up: apiserver {result.server}" + (f", node {node} Ready" if node else " (no kubelet on this host)"))
    console.out(f"config and credentials in {layout.etc}, data in {layout.data}, logs in {layout.log}")
    console.out(f"admin client config: {result.config}")
    console.out("")
    console.out(f"to add a host, run this on it (works on any number of hosts for {join_ttl}):")
    console.out("")
    console.out(f"  {join_command(result)}")
    console.out("")
    console.out("to add a control-plane host (etcd member, apiserver, standby scheduler and controller), run this on it:")
    console.out("")
    console.out(f"  {join_command(result, control_plane=True)}")
    console.out("")
    console.out("more join tokens: dlxc token create NAME --role join [--ttl 1h] [--uses N] [--control-plane]")
