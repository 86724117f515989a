"""The default filter and score plugins; the scores follow the original design: CPU 30, memory 30, disk 20, load 20."""
from __future__ import annotations

import numpy as np

from scheduler.framework import Filter, Scorer
from scheduler.nodetable import NodeTable, Request

__all__ = [
    "ANTI_AFFINITY_CONFLICT",
    "DEFAULT_FILTERS",
    "DEFAULT_WEIGHTS",
    "FILTERS",
    "INSUFFICIENT_CPU",
    "INSUFFICIENT_DISK",
    "INSUFFICIENT_MEMORY",
    "NODE_NOT_READY",
    "NODE_SELECTOR_MISMATCH",
    "NODE_UNSCHEDULABLE",
    "SCORERS",
    "TOO_MANY_CONTAINERS",
]

NODE_NOT_READY = "node not ready"
NODE_UNSCHEDULABLE = "node cordoned"
INSUFFICIENT_CPU = "insufficient cpu"
INSUFFICIENT_MEMORY = "insufficient memory"
INSUFFICIENT_DISK = "insufficient disk"
TOO_MANY_CONTAINERS = "too many containers"
NODE_SELECTOR_MISMATCH = "node selector mismatch"
ANTI_AFFINITY_CONFLICT = "anti-affinity group already on node"

# A cpu request may be fractional; allow for float noise in sums such as 0.1 + 0.2.
_CPU_SLACK = 1e-9


def _codes(mask: np.ndarray, code: int = 1) -> np.ndarray:
    codes = mask.astype(np.int32)
    if code != 1:
        codes *= code
    return codes


def node_ready(request: Request, table: NodeTable) -> np.ndarray:
    return _codes(~table.col("ready"))


def node_schedulable(request: Request, table: NodeTable) -> np.ndarray:
    return _codes(table.col("unschedulable"))


def node_selector(request: Request, table: NodeTable) -> np.ndarray:
    match = np.ones(table.n, dtype=bool)
    for key, value in request.node_selector.items():
        match &= table.label_mask(key, value)
    return _codes(~match)


def container_capacity(request: Request, table: NodeTable) -> np.ndarray:
    return _codes(table.col("containers") + 1 > table.col("max_containers"))


def resources_fit(request: Request, table: NodeTable) -> np.ndarray:
    """1 insufficient cpu, 2 memory, 3 disk: requests against allocatable minus what is bound or assumed."""
    codes = np.zeros(table.n, dtype=np.int32)
    # The last written wins, so the first reason (cpu) is written last.
    if request.disk:
        codes[table.col("requested_disk") + request.disk > table.col("disk")] = 3
    if request.memory:
        codes[table.col("requested_memory") + request.memory > table.col("memory")] = 2
    if request.cpu:
        codes[table.col("requested_cpu") + request.cpu > table.col("cpu") + _CPU_SLACK] = 1
    return codes


def anti_affinity(request: Request, table: NodeTable) -> np.ndarray:
    """A required group never shares a node: a node that already runs a member is filtered out."""
    if not request.group or request.group_mode != "required":
        return np.zeros(table.n, dtype=np.int32)
    return _codes(table.group_counts(request.group) > 0)


def _free_fraction(total: np.ndarray, used: np.ndarray) -> np.ndarray:
    """100 × the free share of `total` after `used`, in 0..100 (0 where there is no total)."""
    free = np.divide(total - used, total, out=np.zeros(total.shape), where=total > 0)
    # np.maximum and np.minimum are what np.clip does, without its Python wrapper (a third of the cost here).
    np.maximum(free, 0.0, out=free)
    np.minimum(free, 1.0, out=free)
    free *= 100.0
    return free


def available_cpu(request: Request, table: NodeTable) -> np.ndarray:
    return _free_fraction(table.col("cpu"), table.col("requested_cpu") + request.cpu)


def available_memory(request: Request, table: NodeTable) -> np.ndarray:
    return _free_fraction(table.col("memory"), table.col("requested_memory") + request.memory)


def available_disk(request: Request, table: NodeTable) -> np.ndarray:
    return _free_fraction(table.col("disk"), table.col("requested_disk") + request.disk)


def container_load(request: Request, table: NodeTable) -> np.ndarray:
    return _free_fraction(table.col("max_containers"), table.col("containers") + 1)


def anti_affinity_spread(request: Request, table: NodeTable) -> np.ndarray | None:
    """A preferred group: 100 on a node without members, 50 with one, 33 with two, ..."""
    if not request.group or request.group_mode != "preferred":
        return None
    return 100.0 / (1.0 + table.group_counts(request.group))


# The order is cheap-to-expensive and most-to-least telling: a node that is down is reported as
# "not ready" rather than as short of memory, and most nodes drop out in the first arrays.
FILTERS: dict[str, Filter] = {
    f.name: f
    for f in (
        Filter("NodeReady", (NODE_NOT_READY,), node_ready),
        Filter("NodeSchedulable", (NODE_UNSCHEDULABLE,), node_schedulable),
        Filter("NodeSelector", (NODE_SELECTOR_MISMATCH,), node_selector),
        Filter("ContainerCapacity", (TOO_MANY_CONTAINERS,), container_capacity),
        Filter("ResourcesFit", (INSUFFICIENT_CPU, INSUFFICIENT_MEMORY, INSUFFICIENT_DISK), resources_fit),
        Filter("AntiAffinity", (ANTI_AFFINITY_CONFLICT,), anti_affinity),
    )
}
DEFAULT_FILTERS: tuple[str, ...] = tuple(FILTERS)

SCORERS: dict[str, Scorer] = {
    s.name: s
    for s in (
        Scorer("AvailableCPU", available_cpu),
        Scorer("AvailableMemory", available_memory),
        Scorer("AvailableDisk", available_disk),
        Scorer("ContainerLoad", container_load),
        Scorer("AntiAffinitySpread", anti_affinity_spread),
    )
}

# AntiAffinitySpread only speaks for containers with a preferred group; for every other container
# the total is the original design's 30/30/20/20. For a preferred group it weighs as much as all
# the resources together, so a member goes to a node without one unless that node is nearly full.
DEFAULT_WEIGHTS: dict[str, float] = {
    "AvailableCPU": 30,
    "AvailableMemory": 30,
    "AvailableDisk": 20,
    "ContainerLoad": 20,
    "AntiAffinitySpread": 100,
}
