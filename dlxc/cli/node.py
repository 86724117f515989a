"""`dlxc node remove NAME`: take a host out of the cluster for good (admin)."""
from __future__ import annotations

import typer

from dlxc.cli import console
from dlxc.cli.common import fail, with_client
from dlxc.client.api import Client
from dlxc.client.errors import NotFound
from dlxc.cluster.membership import Removal, remove_node

__all__ = ["node_app"]

node_app = typer.Typer(help="Manage the cluster's hosts.", no_args_is_help=True)


@node_app.command("remove")
def remove(
    names: list[str] = typer.Argument(..., help="Node names."),
    force: bool = typer.Option(False, "--force", help="Remove also a Ready node that runs containers."),
) -> None:
    """Remove a control-plane host's etcd member (refused when etcd would lose quorum), revoke the node's
    credentials, send its containers to other nodes, delete the Node.

    A Ready node with containers is refused unless --force: they would start elsewhere from their
    image or last backup while the host still runs them until its kubelet fences them (it can no
    longer reach the API); `dlxc drain NODE` moves them with their data first."""

    async def go(client: Client) -> list[Removal]:
        from dlxc.apply.moves import node_is_ready

        if not force:
            for name in names:
                try:
                    node = await client.get("nodes", name)
                except NotFound:
                    continue  # remove_node says so
                bound, _ = await client.list("containers", field_selector=f"spec.nodeName={name}")
                if node_is_ready(node) and bound:
                    fail(f"node {name} is Ready and runs {len(bound)} container{'s' if len(bound) != 1 else ''} (nothing was "
                         f"changed): `dlxc drain {name}` first to move them with their data, or --force to start them "
                         f"elsewhere from their image or last backup")
        return [await remove_node(client, name) for name in names]

    for done in with_client(go):
        moved = f"{len(done.unbound)} container{'s' if len(done.unbound) != 1 else ''} rescheduled"
        revoked = f"{len(done.revoked)} credential{'s' if len(done.revoked) != 1 else ''} revoked"
        member = ", etcd member removed" if done.etcd_member else ""
        console.out(f"node/{done.node} removed: {revoked}, {moved}{member}")
