"""The scheduler's picture of the cluster: nodes as table rows, containers counted on their node, binds assumed.

Every watch event is turned into a delta on the NodeTable, so the cost of an event is O(1) and the
cost of a decision does not grow with the number of containers. A bind counts against its node
the moment the scheduler decides (the assume step), before the API or the kubelet confirm it, so
a burst of containers never overcommits a node.
"""
from __future__ import annotations

from typing import Any

from scheduler.nodetable import NodeTable, Request, Usage
from schemas.base import Obj
from schemas.quantity import parse_bytes

__all__ = ["SchedulerCache", "node_fields", "request_of"]


def request_of(container: Obj) -> Request:
    spec = container.get("spec", {})
    anti = spec.get("antiAffinity") or {}
    return Request(
        name=container["metadata"]["name"],
        cpu=float(spec.get("cpu") or 0.0),
        memory=parse_bytes(spec["memory"]) if spec.get("memory") else 0,
        disk=parse_bytes(spec["disk"]) if spec.get("disk") else 0,
        node_selector=spec.get("nodeSelector") or {},
        group=anti.get("group") or None,
        group_mode=anti.get("mode") or "required",
    )


def _usage(request: Request) -> Usage:
    return Usage(cpu=request.cpu, memory=request.memory, disk=request.disk, group=request.group)


def node_fields(node: Obj) -> dict[str, Any]:
    """What of a Node object the scheduler uses; a heartbeat that changes none of it changes nothing."""
    status = node.get("status") or {}
    alloc = status.get("allocatable") or {}
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
    spec = node.get("spec") or {}
    return {
        "ready": ready and not node["metadata"].get("deletionTimestamp"),
        "unschedulable": bool(spec.get("unschedulable")),
        "labels": {**(node["metadata"].get("labels") or {}), **(spec.get("labels") or {})},
        "cpu": float(alloc.get("cpu") or 0),
        "memory": int(alloc.get("memory") or 0),
        "disk": int(alloc.get("disk") or 0),
        "max_containers": int(alloc.get("containers") or 0),
    }


def _more_room(old: dict[str, Any] | None, new: dict[str, Any]) -> bool:
    """Whether a node change can let a waiting container fit (a node that only shrank cannot)."""
    if old is None:
        return True
    if (new["ready"] and not old["ready"]) or (old["unschedulable"] and not new["unschedulable"]):
        return True
    if new["labels"] != old["labels"]:
        return True
    return any(new[k] > old[k] for k in ("cpu", "memory", "disk", "max_containers"))


class SchedulerCache:
    def __init__(self) -> None:
        self.table = NodeTable()
        self.nodes: dict[str, dict[str, Any]] = {}
        self.placed: dict[str, tuple[str, Usage]] = {}  # container -> (node, what it takes there)
        self.assumed: dict[str, str] = {}  # container -> node, decided but not yet seen bound

    # ---- nodes ----

    def update_node(self, node: Obj) -> bool:
        """Take in a node; True when the change may make room for a waiting container."""
        name = node["metadata"]["name"]
        fields = node_fields(node)
        old = self.nodes.get(name)
        if old == fields:
            return False
        self.nodes[name] = fields
        self.table.upsert(name, **fields)
        return _more_room(old, fields)

    def remove_node(self, name: str) -> None:
        self.nodes.pop(name, None)
        self.table.remove(name)

    # ---- containers ----

    def _set(self, name: str, node: str | None, usage: Usage | None) -> bool:
        """Count the container on `node` (or nowhere); True when a node got room back."""
        current = self.placed.get(name)
        if current is not None and node is not None and current == (node, usage):
            return False
        if current is not None:
            self.table.place(current[0], current[1], sign=-1)
            del self.placed[name]
        if node is not None and usage is not None:
            self.table.place(node, usage)
            self.placed[name] = (node, usage)
        return current is not None and (node != current[0] or usage != current[1])

    def update_container(self, name: str, container: Obj | None) -> bool:
        """Take in a container change (None: deleted); True when a node got room back."""
        if container is None:
            self.assumed.pop(name, None)
            return self._set(name, None, None)
        bound = container.get("spec", {}).get("nodeName")
        if bound:
            self.assumed.pop(name, None)  # the bind is confirmed (by us, or by another scheduler)
        node = bound or self.assumed.get(name)
        return self._set(name, node, _usage(request_of(container)) if node else None)

    def assume(self, name: str, node: str, request: Request) -> None:
        self.assumed[name] = node
        self._set(name, node, _usage(request))

    def forget(self, name: str, container: Obj | None) -> None:
        """A bind failed: stop counting the assumption; count the container where the API says it is."""
        if self.assumed.pop(name, None) is not None:
            self.update_container(name, container)
