"""What the scheduler knows of every node, as numpy columns kept current one change at a time.

A row per node holds its allocatable resources and the sum of what its containers request. The
sums are updated by deltas as containers are bound, assumed or removed, so placing a container
never walks every container again; plugins read whole columns at once.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

__all__ = ["NodeInfo", "NodeTable", "Request", "Usage"]


@dataclass(frozen=True)
class Request:
    """What a container asks of a node."""

    name: str
    cpu: float = 0.0
    memory: int = 0
    disk: int = 0
    node_selector: Mapping[str, str] = field(default_factory=dict)
    group: str | None = None  # spec.antiAffinity.group
    group_mode: str = "required"  # spec.antiAffinity.mode


@dataclass(frozen=True)
class Usage:
    """What one container takes from its node."""

    cpu: float = 0.0
    memory: int = 0
    disk: int = 0
    group: str | None = None


@dataclass(frozen=True)
class NodeInfo:
    """One node as plain values: how tests and tools describe a node to the table."""

    name: str
    ready: bool
    unschedulable: bool
    labels: Mapping[str, str]
    cpu: float  # allocatable cores
    memory: int  # allocatable bytes
    disk: int
    max_containers: int
    requested_cpu: float = 0.0
    requested_memory: int = 0
    requested_disk: int = 0
    containers: int = 0
    groups: Mapping[str, int] = field(default_factory=dict)  # anti-affinity group -> members here


_FLOATS = (
    "cpu", "memory", "disk", "max_containers",
    "requested_cpu", "requested_memory", "requested_disk", "containers",
)
_BOOLS = ("ready", "unschedulable")
_USED = ("requested_cpu", "requested_memory", "requested_disk", "containers")


class NodeTable:
    """Dense columns over the nodes present; rows are appended and removed by swapping in the last."""

    def __init__(self, capacity: int = 64) -> None:
        self.n = 0
        self.names: list[str] = []
        self.labels: list[Mapping[str, str]] = []
        self.index: dict[str, int] = {}
        self._capacity = capacity
        self._cols: dict[str, np.ndarray] = {c: np.zeros(capacity) for c in _FLOATS}
        self._cols.update({c: np.zeros(capacity, dtype=bool) for c in _BOOLS})
        # Usage per node name, also for nodes not (or no longer) in the table: a container bound
        # to a node the scheduler has not seen yet still counts once the node shows up.
        self.usage: dict[str, list[float]] = {}
        self.groups: dict[str, Counter[str]] = {}  # group -> node -> members
        self._label_masks: dict[tuple[str, str], np.ndarray] = {}
        self._ranks: np.ndarray | None = None

    @classmethod
    def of(cls, nodes: Iterable[NodeInfo]) -> NodeTable:
        table = cls()
        for info in nodes:
            table.upsert(
                info.name, ready=info.ready, unschedulable=info.unschedulable, labels=info.labels,
                cpu=info.cpu, memory=info.memory, disk=info.disk, max_containers=info.max_containers,
            )
            table.add_usage(
                info.name, cpu=info.requested_cpu, memory=info.requested_memory, disk=info.requested_disk,
                containers=info.containers,
            )
            for group, members in info.groups.items():
                table.groups.setdefault(group, Counter())[info.name] += members
        return table

    def col(self, name: str) -> np.ndarray:
        """The column of every present node (a view: valid until the next change)."""
        return self._cols[name][: self.n]

    def __contains__(self, name: str) -> bool:
        return name in self.index

    def _grow(self) -> None:
        self._capacity *= 2
        for name, column in self._cols.items():
            grown = np.zeros(self._capacity, dtype=column.dtype)
            grown[: self.n] = column[: self.n]
            self._cols[name] = grown

    def upsert(
        self,
        name: str,
        *,
        ready: bool,
        unschedulable: bool,
        labels: Mapping[str, str],
        cpu: float,
        memory: int,
        disk: int,
        max_containers: int,
    ) -> None:
        row = self.index.get(name)
        if row is None:
            if self.n == self._capacity:
                self._grow()
            row = self.n
            self.n += 1
            self.index[name] = row
            self.names.append(name)
            self.labels.append(labels)
            used = self.usage.get(name, [0.0, 0.0, 0.0, 0.0])
            for column, value in zip(_USED, used):
                self._cols[column][row] = value
            self._ranks = None
            self._label_masks.clear()
        elif self.labels[row] != labels:
            self.labels[row] = labels
            self._label_masks.clear()
        values = {"ready": ready, "unschedulable": unschedulable, "cpu": cpu, "memory": memory, "disk": disk,
                  "max_containers": max_containers}
        for column, value in values.items():
            self._cols[column][row] = value

    def remove(self, name: str) -> None:
        row = self.index.pop(name, None)
        if row is None:
            return
        last = self.n - 1
        if row != last:
            moved = self.names[last]
            for column in self._cols.values():
                column[row] = column[last]
            self.names[row] = moved
            self.labels[row] = self.labels[last]
            self.index[moved] = row
        self.names.pop()
        self.labels.pop()
        self.n -= 1
        self._ranks = None
        self._label_masks.clear()

    def add_usage(self, node: str, *, cpu: float = 0.0, memory: float = 0, disk: float = 0, containers: int = 0) -> None:
        """Add (or, with negative amounts, take away) what containers on `node` request."""
        used = self.usage.setdefault(node, [0.0, 0.0, 0.0, 0.0])
        for i, delta in enumerate((cpu, memory, disk, containers)):
            used[i] += delta
        if used[3] <= 0 and abs(used[0]) < 1e-6:
            used[0] = 0.0  # float sums drift; an empty node requests exactly nothing
        if not any(used):
            del self.usage[node]
        row = self.index.get(node)
        if row is not None:
            for column, value in zip(_USED, used):
                self._cols[column][row] = value

    def place(self, node: str, usage: Usage, *, sign: int = 1) -> None:
        """Count (sign 1) or stop counting (sign -1) one container on a node."""
        self.add_usage(node, cpu=sign * usage.cpu, memory=sign * usage.memory, disk=sign * usage.disk, containers=sign)
        if usage.group:
            members = self.groups.setdefault(usage.group, Counter())
            members[node] += sign
            if members[node] <= 0:
                del members[node]
                if not members:
                    del self.groups[usage.group]

    def group_counts(self, group: str) -> np.ndarray:
        counts = np.zeros(self.n)
        for node, members in self.groups.get(group, {}).items():
            row = self.index.get(node)
            if row is not None:
                counts[row] = members
        return counts

    def label_mask(self, key: str, value: str) -> np.ndarray:
        """Which nodes carry key=value; cached until a node's labels change."""
        mask = self._label_masks.get((key, value))
        if mask is None:
            mask = np.fromiter((labels.get(key) == value for labels in self.labels), dtype=bool, count=self.n)
            self._label_masks[(key, value)] = mask
        return mask

    def name_ranks(self) -> np.ndarray:
        """Each row's position in name order, so ties can be ordered without sorting names each time."""
        if self._ranks is None or self._ranks.size != self.n:
            order = sorted(range(self.n), key=self.names.__getitem__)
            ranks = np.empty(self.n, dtype=np.int64)
            ranks[order] = np.arange(self.n)
            self._ranks = ranks
        return self._ranks

    def info(self, name: str) -> NodeInfo:
        """One row back as plain values (for explanations and tests)."""
        row = self.index[name]
        value = {c: self._cols[c][row] for c in (*_FLOATS, *_BOOLS)}
        return NodeInfo(
            name=name,
            ready=bool(value["ready"]),
            unschedulable=bool(value["unschedulable"]),
            labels=self.labels[row],
            cpu=float(value["cpu"]),
            memory=int(value["memory"]),
            disk=int(value["disk"]),
            max_containers=int(value["max_containers"]),
            requested_cpu=float(value["requested_cpu"]),
            requested_memory=int(value["requested_memory"]),
            requested_disk=int(value["requested_disk"]),
            containers=int(value["containers"]),
            groups={g: m[name] for g, m in self.groups.items() if m.get(name)},
        )
