"""`dlxc cluster create|list|addnode|delnode|delete|enter`: the cluster builder over the ContainerCluster kind."""
from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from dlxc.cli import console
from dlxc.cli.common import duration, fail, with_client

if TYPE_CHECKING:
    from collections.abc import Callable

    from dlxc.client.api import Client
    from schemas.base import Obj

__all__ = ["addnode_numbers", "cluster_app", "cluster_rows", "context_scripts", "delnode_numbers", "nodes_spec"]

cluster_app = typer.Typer(help="Build clusters: a front-end and N working nodes that know each other by name.", no_args_is_help=True)

PLURAL = "containerclusters"


def context_scripts(folder: Path) -> tuple[list[Obj], list[Obj], list[Obj]]:
    """The scripts of --context-folder (its regular files, by name), and of its add-node.d and
    remove-node.d hook folders: spec.context, spec.addNode, spec.removeNode; ValueError saying what is wrong."""
    from dlxc.apply.contextfolder import read_context_folder

    return read_context_folder(folder, what="--context-folder")


def _default_home_root() -> Path:
    from dlxc.cluster.local import default_state_dir

    return default_state_dir() / "volumes" / "clusters"


@cluster_app.command("create")
def create(
    name: str = typer.Argument(..., help="Cluster name: members are NAME-frontend and NAME-node1..N."),
    front_end_image: str = typer.Option(..., "--front-end-image", help="Image of the front-end."),
    working_node_image: str = typer.Option(..., "--working-node-image", help="Image of the working nodes."),
    nodes: int = typer.Option(..., "--nodes", help="How many working nodes (1 or more)."),
    device: list[str] = typer.Option(None, "--device", help="home: share one host folder as /home in every member."),
    home_root: Path = typer.Option(None, "--home-root", envvar="DLXC_CLUSTER_HOME_ROOT",
                                   help="Where shared homes are made (NAME/home below it); default: the local cluster's volumes/clusters."),
    context_folder: Path = typer.Option(None, "--context-folder", help="Scripts run once per member at first boot, in name order, as root."),
    memory: str = typer.Option(None, "--memory", help="Memory limit of every member, e.g. 256Mi."),
    wait: bool = typer.Option(True, "--wait/--no-wait", help="Wait until every member runs with its /etc/hosts complete."),
    timeout: float = typer.Option(300.0, "--timeout", parser=duration, help="How long --wait waits (exit 1 after)."),
    enter: bool = typer.Option(False, "--enter", help="Then open a login shell on the front-end (waits for the cluster first)."),
) -> None:
    """Create a cluster: a front-end and N working nodes, /etc/hosts listing all, an optional shared /home."""
    if nodes < 1:
        fail(f"--nodes must be 1 or more, got {nodes}", code=2)
    unknown = [d for d in device or [] if d != "home"]
    if unknown:
        fail(f"--device {unknown[0]!r} is not supported; the only device is home", code=2)
    spec: Obj = {"frontEndImage": front_end_image, "workingNodeImage": working_node_image, "nodes": nodes}
    if memory:
        spec["memory"] = memory
    if context_folder is not None:
        try:
            spec["context"], spec["addNode"], spec["removeNode"] = context_scripts(context_folder)
        except ValueError as exc:
            fail(str(exc), code=2)
    home: Path | None = None
    if "home" in (device or []):
        home = (home_root or _default_home_root()) / name / "home"
        spec["home"] = {"hostPath": str(home)}
    body = {"apiVersion": "dlxc.io/v1", "kind": "ContainerCluster", "metadata": {"name": name}, "spec": spec}

    async def go(client: Client) -> None:
        await client.create(PLURAL, body, dry_run=True)  # every check before anything is made, the home folder too
        if home is not None:
            home.mkdir(parents=True, exist_ok=True)
            home.chmod(0o755)
        await client.create(PLURAL, body)
        console.out(f"cluster/{name} created")
        if wait or enter:
            await _wait_ready(client, name, timeout)

    with_client(go, streaming=True)
    if enter:
        _enter_frontend(name, None)


async def _wait_ready(client: Client, name: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while True:
        obj = await client.get(PLURAL, name)
        status = obj.get("status") or {}
        line = f"cluster/{name}: {status.get('phase', 'Pending')}, {status.get('readyMembers', 0)}/{obj['spec']['nodes'] + 1} members ready"
        if line != last:
            console.note(line)
            last = line
        if status.get("phase") == "Ready":
            console.out(f"cluster/{name} ready: frontend + {obj['spec']['nodes']} nodes")
            return
        if status.get("phase") == "Degraded":
            fail(f"cluster/{name}: {(status.get('conditions') or [{}])[0].get('message', 'degraded')}")
        if time.monotonic() > deadline:
            fail(f"cluster/{name} not ready after {timeout:g}s: {line}")
        await asyncio.sleep(0.2)


def cluster_rows(items: list[Obj]) -> tuple[list[str], list[list[str]]]:
    headers = ["NAME", "PHASE", "READY", "FRONTEND", "NODES", "HOME"]
    rows = []
    for obj in items:
        spec, status = obj.get("spec", {}), obj.get("status", {})
        front = next((m for m in status.get("members", []) if m.get("role") == "frontend"), {})
        rows.append([
            obj["metadata"]["name"],
            status.get("phase", "Pending"),
            f"{status.get('readyMembers', 0)}/{spec.get('nodes', 0) + 1}",
            front.get("ip") or "<none>",
            str(spec.get("nodes", 0)),
            (spec.get("home") or {}).get("hostPath", "-"),
        ])
    return headers, rows


@cluster_app.command("list")
def list_clusters() -> None:
    """List clusters with their phase and how many members are ready."""

    async def go(client: Client) -> list[Obj]:
        items, _ = await client.list(PLURAL)
        return items

    items = with_client(go)
    if not items:
        console.note("no clusters found")
        return
    console.print_table(*cluster_rows(items))


def _numbers(spec: Obj) -> list[int]:
    from schemas.containercluster import node_numbers

    return node_numbers(spec.get("skipNodes") or [], spec["nodes"])


def nodes_spec(numbers: list[int]) -> Obj:
    """spec.nodes and spec.skipNodes for a cluster whose nodes are `numbers` (the holes below the highest)."""
    present = set(numbers)
    return {"nodes": len(numbers), "skipNodes": [i for i in range(1, max(numbers, default=0) + 1) if i not in present]}


def addnode_numbers(numbers: list[int], count: int) -> list[int]:
    """The node numbers after adding `count`: the holes first, lowest first (node2 comes back as node2), then
    after the highest, so a cluster's names stay as compact as they can."""
    present, added, candidate = set(numbers), [], 1
    while len(added) < count:
        if candidate not in present:
            added.append(candidate)
        candidate += 1
    return sorted([*numbers, *added])


def delnode_numbers(name: str, numbers: list[int], asked: list[str], *, count: int | None = None) -> list[int]:
    """The node numbers left after removing the `asked` nodes (node3, node03, NAME-node3), or else the `count`
    highest (default 1); ValueError naming a word that is not a node of the cluster."""
    if asked and count is not None:
        raise ValueError("name the nodes or give --count, not both")
    if not asked:
        return numbers[:max(0, len(numbers) - (1 if count is None else count))]
    gone = set()
    for word in asked:
        short = word.removeprefix(f"{name}-")
        digits = short[4:]
        if not short.startswith("node") or not digits.isdigit() or int(digits) not in numbers:
            shown = " ".join(f"node{i}" for i in numbers)
            raise ValueError(f"{word!r} is not a node of cluster {name} (its nodes: {shown})")
        gone.add(int(digits))
    return [i for i in numbers if i not in gone]


async def _change_nodes(client: Client, name: str, change: Callable[[list[int]], list[int]]) -> tuple[list[int], list[int]]:
    """Read the cluster, work out its new node numbers with `change` and write them with the resourceVersion
    read, so a concurrent addnode/delnode is never lost (read again and redone on a conflict: the
    controller's status writes move the version too). Returns (before, after)."""
    from dlxc.client.guarded import patch_guarded

    decided: list[tuple[list[int], list[int]]] = []

    def decide(obj: Obj) -> Obj:
        before = _numbers(obj["spec"])
        decided.append((before, change(before)))
        return {"spec": nodes_spec(decided[-1][1])}

    await patch_guarded(client, PLURAL, name, decide)
    return decided[-1]


def _names(numbers: list[int]) -> str:
    return ", ".join(f"node{i}" for i in numbers)


@cluster_app.command("addnode")
def addnode(
    name: str = typer.Argument(..., help="Cluster name."),
    count: int = typer.Option(1, "--count", help="How many nodes to add."),
) -> None:
    """Add working nodes (into the holes delnode left first, then after the last); every member's /etc/hosts gets them within seconds."""
    if count < 1:
        fail(f"--count must be 1 or more, got {count}", code=2)

    async def go(client: Client) -> str:
        before, after = await _change_nodes(client, name, lambda numbers: addnode_numbers(numbers, count))
        return f"cluster/{name}: added {_names([i for i in after if i not in before])}"

    console.out(with_client(go))


@cluster_app.command("delnode")
def delnode(
    name: str = typer.Argument(..., help="Cluster name."),
    node: list[str] = typer.Argument(None, help="Nodes to remove (e.g. node3 node5); the others keep their names and addresses."),
    count: int = typer.Option(None, "--count", "--nodes", help="Remove this many nodes, the highest-numbered (default: 1)."),
) -> None:
    """Remove working nodes: the ones named, or the highest-numbered; the others' /etc/hosts forget them within seconds."""
    if count is not None and count < 1:
        fail(f"--count must be 1 or more, got {count}", code=2)

    def change(numbers: list[int]) -> list[int]:
        try:
            after = delnode_numbers(name, numbers, list(node or []), count=count)
        except ValueError as exc:
            fail(str(exc), code=2)
        if not after:
            fail(f"cluster/{name} must keep at least one node; delete the cluster instead", code=2)
        return after

    async def go(client: Client) -> str:
        before, after = await _change_nodes(client, name, change)
        return f"cluster/{name}: removed {_names([i for i in before if i not in after])}"

    console.out(with_client(go))


def _enter_frontend(name: str, user: str | None) -> None:
    from dlxc.cli.enter import enter as enter_container

    enter_container(f"{name}-frontend", user)


@cluster_app.command("enter")
def enter(
    name: str = typer.Argument(..., help="Cluster name."),
    user: str = typer.Option(None, "--user", "-u", help="User name or uid (default: root)."),
) -> None:
    """Open a login shell on the cluster's front-end (`dlxc enter NAME-frontend`)."""

    async def check(client: Client) -> None:
        await client.get(PLURAL, name)  # a clear 'containerclusters/NAME not found' first

    with_client(check)
    _enter_frontend(name, user)


@cluster_app.command("delete")
def delete(
    name: str = typer.Argument(..., help="Cluster name."),
    wait: bool = typer.Option(True, "--wait/--no-wait", help="Wait until every member is gone."),
    timeout: float = typer.Option(300.0, "--timeout", parser=duration),
) -> None:
    """Delete a cluster and all its members (the shared /home folder is kept)."""

    async def go(client: Client) -> None:
        await client.delete(PLURAL, name)
        if not wait:
            console.out(f"cluster/{name} deleting")
            return
        deadline = time.monotonic() + timeout
        from dlxc.client.errors import NotFound

        while True:
            try:
                await client.get(PLURAL, name)
            except NotFound:
                console.out(f"cluster/{name} deleted")
                return
            if time.monotonic() > deadline:
                fail(f"cluster/{name} still being deleted after {timeout:g}s")
            await asyncio.sleep(0.2)

    with_client(go, streaming=True)
