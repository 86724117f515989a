"""`dlxc status`: the whole cluster on one screen: nodes with readiness and usage, containers by phase, recent warnings."""
from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from dlxc.cli import console
from dlxc.cli.common import with_client
from dlxc.cli.get import node_ready
from dlxc.client.errors import NotFound
from dlxc.client.events import one_line
from schemas.container import PHASES

if TYPE_CHECKING:
    from dlxc.client.api import Client
    from schemas.base import Obj

__all__ = ["cluster_lines", "status"]

WARNINGS_SHOWN = 10


def _used(used: float, total: float, *, size: bool) -> str:
    if size:
        return f"{console.human_bytes(used) if used else '0'}/{console.human_bytes(total) if total else '0'}"
    return f"{used:g}/{total:g}"


def _last_seen(event: Obj) -> str:
    return str((event.get("status") or {}).get("lastTimestamp") or (event.get("metadata") or {}).get("creationTimestamp") or "")


def cluster_lines(nodes: list[Obj], containers: list[Obj], events: list[Obj]) -> list[str]:
    """The status screen as lines; pure, so its layout is tested exactly."""
    ready = sum(1 for n in nodes if node_ready(n).startswith("Ready"))
    lines = [f"Nodes: {len(nodes)} ({ready} Ready)"]
    if nodes:
        rows = []
        for node in sorted(nodes, key=lambda n: n["metadata"]["name"]):
            status = node.get("status") or {}
            alloc, usage = status.get("allocatable") or {}, status.get("usage") or {}
            rows.append([
                node["metadata"]["name"],
                node_ready(node),
                f"{status.get('containerCount', 0)}/{alloc.get('containers', 0)}",
                _used(usage.get("cpu", 0), alloc.get("cpu", 0), size=False),
                _used(usage.get("memory", 0), alloc.get("memory", 0), size=True),
                _used(usage.get("disk", 0), alloc.get("disk", 0), size=True),
            ])
        lines += console.format_table(["NAME", "STATUS", "CONTAINERS", "CPU", "MEMORY", "DISK"], rows, indent="  ")
    phases = Counter((c.get("status") or {}).get("phase") or "Pending" for c in containers)
    summary = ", ".join(f"{phases[p]} {p}" for p in PHASES if phases[p])
    lines.append(f"Containers: {len(containers)}" + (f" ({summary})" if summary else ""))
    troubled = [c for c in containers if (c.get("status") or {}).get("phase") in ("Pending", "Failed", None)]
    if troubled:
        rows = [
            [c["metadata"]["name"], (c.get("status") or {}).get("phase") or "Pending", (c.get("status") or {}).get("message", "")]
            for c in sorted(troubled, key=lambda c: c["metadata"]["name"])
        ]
        lines += console.format_table(["NAME", "PHASE", "MESSAGE"], rows, indent="  ")
    # Events keep what they say in spec and when and how often in status (see dlxc get events).
    warnings = [e for e in events if (e.get("spec") or {}).get("type") == "Warning"]
    warnings.sort(key=_last_seen)
    warnings = warnings[-WARNINGS_SHOWN:]
    lines.append(f"Recent warnings: {len(warnings) if warnings else 'none'}")
    if warnings:
        rows = []
        for e in warnings:
            spec = e.get("spec") or {}
            involved = spec.get("involvedObject") or {}
            rows.append([
                console.age(_last_seen(e) or None),
                f"{str(involved.get('kind', '')).lower()}/{involved.get('name', '')}",
                spec.get("reason", ""),
                str((e.get("status") or {}).get("count", 1)),
                one_line(spec.get("message", "")),
            ])
        lines += console.format_table(["AGE", "OBJECT", "REASON", "COUNT", "MESSAGE"], rows, indent="  ")
    return lines


async def show_status(client: Client) -> None:
    nodes, _ = await client.list("nodes")
    containers, _ = await client.list("containers")
    try:
        events, _ = await client.list("events")
    except NotFound:
        events = []  # a server without the events resource: no warnings to show
    for line in cluster_lines(nodes, containers, events):
        console.out(line)


def status() -> None:
    """One screen for the whole cluster."""
    with_client(show_status)
