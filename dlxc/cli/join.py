"""`dlxc join`: add this host to a cluster as a node, with the command `dlxc init` printed."""
from __future__ import annotations

from pathlib import Path

import typer

from dlxc.cli import console
from dlxc.cli.common import fail
from dlxc.cli.components import default_node_name
from dlxc.cluster.host import HostLayout, JoinError, join_host

__all__ = ["join"]


def join(
    server: str = typer.Argument(..., help="The apiserver, https://IP:PORT, as `dlxc init` printed it."),
    token: str = typer.Option(..., "--token", envvar="DLXC_JOIN_TOKEN", help="A join token (`dlxc token create NAME --role join`)."),
    ca_hash: str = typer.Option(..., "--ca-hash", help="sha256:HEX of the cluster's CA certificate; checked before the token is sent."),
    node_name: str = typer.Option(None, "--node-name", envvar="DLXC_NODE_NAME", help="This host's node name; default: the hostname."),
    advertise_address: str = typer.Option(None, "--advertise-address", envvar="DLXC_ADVERTISE_ADDRESS",
                                          help="This host's address as other hosts see it (recorded on its Node as dlxc.io/advertise-address)."),
    state_dir: Path = typer.Option(None, "--state-dir", envvar="DLXC_STATE_DIR",
                                   help="Keep config, credentials, data and logs under DIR/etc, DIR/data, DIR/log; "
                                        "default: /etc/dlxc, /var/lib/dlxc, /var/log/dlxc."),
    control_plane: bool = typer.Option(False, "--control-plane", help="Also run an etcd member, an apiserver and a standby scheduler and "
                                       "controller here (needs a --control-plane join token and --advertise-address)."),
    systemd: bool = typer.Option(False, "--systemd", help="Run the kubelet as the systemd unit dlxc-agent.service instead of a detached process."),
) -> None:
    """Check the cluster's CA, trade the join token for this node's own credential, start the kubelet, wait until Ready."""
    layout = HostLayout.of(state_dir)
    node = node_name or default_node_name()
    try:
        apiserver = join_host(layout, server=server.rstrip("/"), token=token, expected_hash=ca_hash, node_name=node,
                  advertise=advertise_address, systemd=systemd, control_plane=control_plane)
    except JoinError as exc:
        fail(str(exc))
    except RuntimeError as exc:
        fail(str(exc))
    console.out(f"node {node} joined {server} and is Ready")
    console.out(f"config and credentials in {layout.etc}, data in {layout.data}, logs in {layout.log}")
    if apiserver:
        # Kubelets learn every apiserver on their own; the admin's client config is on another
        # machine, and lists its apiservers by hand (as talosctl's endpoints do).
        console.out("")
        console.out(f"this host's apiserver is {apiserver}; so that your client fails over to it, run where your admin config is:")
        console.out("")
        console.out(f"  dlxc config add-server {apiserver}")
