"""`dlxc top containers|nodes [-o table|json]`: what each container or node uses right now.

The numbers come from the kubelets' memory through the API (GET metrics/containers, metrics/nodes),
never from the objects: containers and nodes are listed for their labels and capacity, then joined."""
from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any

import typer

from dlxc.cli import console
from dlxc.cli.common import fail, with_client

if TYPE_CHECKING:
    from dlxc.client.api import Client
    from schemas.base import Obj

__all__ = ["container_usage_rows", "node_usage", "node_usage_rows", "top_app"]


top_app = typer.Typer(help="Show resource usage of containers or nodes.", no_args_is_help=True)


def _bytes(value: float | None) -> str:
    if value is None:
        return "-"
    for unit, size in (("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
        if value >= size:
            return f"{value / size:.1f}{unit}"
    return f"{int(value)}B"


def _sum(metrics: dict[str, float], prefix: str, suffix: str) -> float | None:
    values = [v for k, v in metrics.items() if k.startswith(prefix) and k.endswith(suffix)]
    return sum(values) if values else None


def container_usage_rows(items: list[Obj], usage: dict[str, Obj]) -> tuple[list[str], list[list[str]]]:
    """CPU as cores busy, memory and swap, processes, network and block I/O summed over devices, rootfs.
    `usage`: container name -> its entry of GET metrics/containers (node, time, usage)."""
    headers = ["NAME", "NODE", "CPU(cores)", "MEMORY", "SWAP", "PROCS", "NET-RX", "NET-TX", "BLK-READ", "BLK-WRITE", "ROOTFS"]
    rows = []
    for obj in sorted(items, key=lambda o: o["metadata"]["name"]):
        entry = usage.get(obj["metadata"]["name"]) or {}
        m = entry.get("usage") or {}
        if not m:
            continue
        cores = m.get("cpu.cores")
        rows.append([
            obj["metadata"]["name"],
            entry.get("node") or obj.get("spec", {}).get("nodeName") or "<none>",
            f"{cores:.3f}" if cores is not None else "-",
            _bytes(m.get("memory.bytes")),
            _bytes(m.get("memory.swap_bytes")),
            str(int(m["processes"])) if "processes" in m else "-",
            _bytes(_sum(m, "net.", ".rx_bytes")),
            _bytes(_sum(m, "net.", ".tx_bytes")),
            _bytes(_sum(m, "blkio.", ".read_bytes")),
            _bytes(_sum(m, "blkio.", ".write_bytes")),
            _bytes(m.get("rootfs.bytes")),
        ])
    return headers, rows


def node_usage(obj: Obj, served: Obj | None, *, unreachable: bool = False) -> dict[str, float] | None:
    """cpu, memory, disk of a node: what its kubelet serves now, else the coarse summary on the Node
    (a node whose kubelet serves no usage, as a hollow one). None when its kubelet was asked and could
    not answer: the summary it wrote before is old news, not its usage now."""
    if served:
        m = served.get("usage") or {}
        return {k: m[key] for k, key in (("cpu", "cpu.cores"), ("memory", "memory.bytes"), ("disk", "disk.bytes")) if key in m}
    if unreachable:
        return None
    return dict((obj.get("status") or {}).get("usage") or {})


def node_usage_rows(items: list[Obj], usage: dict[str, Obj], unreachable: Collection[str] = ()) -> tuple[list[str], list[list[str]]]:
    """A row per node; `-` for a figure not measured yet (a kubelet's first sample has no CPU rate),
    `<unknown>` for a node whose kubelet could not be reached."""
    headers = ["NAME", "CPU(cores)", "CPU%", "MEMORY", "MEMORY%", "DISK", "CONTAINERS"]
    rows = []
    for obj in sorted(items, key=lambda o: o["metadata"]["name"]):
        name, status = obj["metadata"]["name"], obj.get("status", {})
        used, capacity = node_usage(obj, usage.get(name), unreachable=name in unreachable), status.get("capacity") or {}
        count = str(status.get("containerCount", 0))
        if used is None:
            rows.append([name, *["<unknown>"] * 5, count])
            continue

        def pct(key: str, used: dict[str, float] = used) -> str:
            return f"{100 * used[key] / capacity[key]:.0f}%" if key in used and capacity.get(key) else "-"

        rows.append([
            name,
            f"{used['cpu']:.2f}" if "cpu" in used else "-",
            pct("cpu"),
            _bytes(used.get("memory")),
            pct("memory"),
            _bytes(used.get("disk")),
            count,
        ])
    return headers, rows


def _show(plural: str, output: str, selector: str | None = None) -> None:
    if output not in ("table", "json"):
        fail(f"unknown output format {output!r}; use table or json", code=2)

    async def go(client: Client) -> tuple[list[Obj], Obj]:
        items, _ = await client.list(plural, label_selector=selector)
        return items, await client.usage(plural)

    items, served = with_client(go)
    unreachable = served.get("unreachable") or {}
    for node, why in sorted(unreachable.items()):
        console.warn(f"no usage from node {node}: {why}")
    usage = {entry["name"]: entry for entry in served.get("items") or []}
    if plural == "containers":
        measured = {o["metadata"]["name"]: (usage.get(o["metadata"]["name"]) or {}).get("usage") or {} for o in items}
        json_view: dict[str, Any] = measured
        headers, rows = container_usage_rows(items, usage)
    else:
        json_view = {o["metadata"]["name"]: node_usage(o, usage.get(o["metadata"]["name"]), unreachable=o["metadata"]["name"] in unreachable)
                     for o in items}
        headers, rows = node_usage_rows(items, usage, unreachable)
    if output == "json":
        console.print_json(json_view)
    elif not items:
        console.out(f"no {plural} match" if selector else f"no {plural}")
    elif not rows:
        console.out("no containers with metrics yet")
    else:
        console.print_table(headers, rows)
    # Nothing measured because the kubelets could not be asked is a failure, not an empty answer.
    if items and unreachable and not any(v for v in json_view.values()):
        raise typer.Exit(1)


@top_app.command("containers")
def containers(
    output: str = typer.Option("table", "--output", "-o", help="table or json."),
    selector: str = typer.Option(None, "--selector", "-l", help="Only containers with these labels, e.g. app=web."),
) -> None:
    """Usage of every running container, from its kubelet's latest sample (served from memory)."""
    _show("containers", output, selector)


@top_app.command("nodes")
def nodes(
    output: str = typer.Option("table", "--output", "-o", help="table or json."),
    selector: str = typer.Option(None, "--selector", "-l", help="Only nodes with these labels, e.g. zone=a."),
) -> None:
    """Usage of every node, from its kubelet (or the coarse summary on the Node when it serves none)."""
    _show("nodes", output, selector)
