"""`dlxc node remove NAME`: take a host out of the cluster for good (admin)."""
from __future__ import annotations

import typer

from dlxc.cli import console
from dlxc.cli.common import with_client
from dlxc.client.api import Client
from dlxc.cluster.membership import Removal, remove_node

__all__ = ["node_app"]

node_app = typer.Typer(help="Manage the cluster's hosts.", no_args_is_help=True)


@node_app.command("remove")
def remove(names: list[str] = typer.Argument(..., help="Node names.")) -> None:
    """Remove a control-plane host's etcd member (refused when etcd would lose quorum), revoke the node's
    credentials, send its containers to other nodes, delete the Node."""

    async def go(client: Client) -> list[Removal]:
        return [await remove_node(client, name) for name in names]

    for done in with_client(go):
        moved = f"{len(done.unbound)} container{'s' if len(done.unbound) != 1 else ''} rescheduled"
        revoked = f"{len(done.revoked)} credential{'s' if len(done.revoked) != 1 else ''} revoked"
        member = ", etcd member removed" if done.etcd_member else ""
        console.out(f"node/{done.node} removed: {revoked}, {moved}{member}")
