"""`dlxc adopt NODE NAME`: make a Container object for an LXC container dlxc did not create, without recreating it."""
from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from dlxc.cli import console
from dlxc.cli.common import fail, with_client
from dlxc.client.errors import NotFound
from schemas.container import ADOPTED_IMAGE
from schemas.wire import ADOPTED_ROOTFS_ANNOTATION

if TYPE_CHECKING:
    from dlxc.client.api import Client
    from schemas.base import Obj

__all__ = ["adopt", "adoption_manifest"]


def adoption_manifest(node: Obj, name: str) -> Obj:
    """The Container object that takes over the unmanaged container `name` listed by `node`; ValueError says why not."""
    node_name = node["metadata"]["name"]
    status = node.get("status") or {}
    listed = status.get("unmanagedContainers") or []
    found = next((c for c in listed if c.get("name") == name), None)
    if found is None:
        names = ", ".join(sorted(c.get("name", "") for c in listed)) or "none"
        raise ValueError(f"node {node_name} lists no unmanaged LXC container {name!r} (it lists: {names})")
    if found.get("lxcPath") != status.get("lxcPath"):
        raise ValueError(
            f"{name} lives in {found.get('lxcPath')}, not in node {node_name}'s lxcpath {status.get('lxcPath')}; "
            f"a running container cannot change lxcpath: stop it, move its directory there "
            f"(mv {found.get('lxcPath')}/{name} {status.get('lxcPath')}/), and adopt it again"
        )
    if not found.get("rootfs"):
        raise ValueError(f"{name} on node {node_name} has no lxc.rootfs.path in its config; nothing to keep")
    return {
        "apiVersion": "dlxc.io/v1",
        "kind": "Container",
        "metadata": {"name": name, "annotations": {ADOPTED_ROOTFS_ANNOTATION: found["rootfs"]}},
        "spec": {
            "image": ADOPTED_IMAGE,
            "nodeName": node_name,
            "privileged": bool(found.get("privileged")),
            "state": "Running" if found.get("state") in ("RUNNING", "FROZEN") else "Stopped",
        },
    }


def adopt(
    node: str = typer.Argument(..., help="The node that lists the container as unmanaged."),
    name: str = typer.Argument(..., help="The LXC container's name; it becomes the Container's name."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the Container object, create nothing."),
) -> None:
    """Take over an LXC container dlxc did not create: its rootfs, name and power state are kept."""

    async def go(client: Client) -> Obj | None:
        try:
            node_obj = await client.get("nodes", node)
        except NotFound:
            fail(f"node {node} not found")
        try:
            manifest = adoption_manifest(node_obj, name)
        except ValueError as exc:
            fail(str(exc))
        if dry_run:
            return manifest
        await client.create("containers", manifest)
        return None

    manifest = with_client(go)
    if manifest is not None:
        console.print_yaml(manifest)
        return
    console.out(f"container/{name} adopted on node {node}")
