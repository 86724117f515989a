"""The default filter and score plugins, from the original design: CPU 30, memory 30, disk 20, load 20."""
from __future__ import annotations

from scheduler.framework import FilterPlugin, NodeInfo, Request, ScorePlugin

__all__ = [
    "DEFAULT_FILTERS",
    "DEFAULT_WEIGHTS",
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


def node_ready(request: Request, node: NodeInfo) -> str | None:
    return None if node.ready else NODE_NOT_READY


def node_schedulable(request: Request, node: NodeInfo) -> str | None:
    return NODE_UNSCHEDULABLE if node.unschedulable else None


def resources_fit(request: Request, node: NodeInfo) -> str | None:
    if request.cpu and node.requested_cpu + request.cpu > node.cpu + 1e-9:
        return INSUFFICIENT_CPU
    if request.memory and node.requested_memory + request.memory > node.memory:
        return INSUFFICIENT_MEMORY
    if request.disk and node.requested_disk + request.disk > node.disk:
        return INSUFFICIENT_DISK
    return None


def container_capacity(request: Request, node: NodeInfo) -> str | None:
    return TOO_MANY_CONTAINERS if node.containers + 1 > node.max_containers else None


def node_selector(request: Request, node: NodeInfo) -> str | None:
    for key, value in request.node_selector.items():
        if node.labels.get(key) != value:
            return NODE_SELECTOR_MISMATCH
    return None


def _free_fraction(total: float, used: float) -> float:
    if total <= 0:
        return 0.0
    return max(0.0, (total - used) / total) * 100.0


def available_cpu(request: Request, node: NodeInfo) -> float:
    return _free_fraction(node.cpu, node.requested_cpu + request.cpu)


def available_memory(request: Request, node: NodeInfo) -> float:
    return _free_fraction(node.memory, node.requested_memory + request.memory)


def available_disk(request: Request, node: NodeInfo) -> float:
    return _free_fraction(node.disk, node.requested_disk + request.disk)


def container_load(request: Request, node: NodeInfo) -> float:
    return _free_fraction(node.max_containers, node.containers + 1)


# The order is cheap-to-expensive and most-to-least selective, so most nodes drop out early.
DEFAULT_FILTERS: dict[str, FilterPlugin] = {
    "NodeReady": node_ready,
    "NodeSchedulable": node_schedulable,
    "NodeSelector": node_selector,
    "ContainerCapacity": container_capacity,
    "ResourcesFit": resources_fit,
}

SCORERS: dict[str, ScorePlugin] = {
    "AvailableCPU": available_cpu,
    "AvailableMemory": available_memory,
    "AvailableDisk": available_disk,
    "ContainerLoad": container_load,
}

DEFAULT_WEIGHTS: dict[str, float] = {
    "AvailableCPU": 30,
    "AvailableMemory": 30,
    "AvailableDisk": 20,
    "ContainerLoad": 20,
}
