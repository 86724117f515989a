"""Builders shared by the scheduler's unit tests: nodes and containers as the API serves them."""
from __future__ import annotations

from typing import Any

from scheduler.nodetable import NodeInfo

GI = 2**30


def node(name: str, **kw: Any) -> NodeInfo:
    """A Ready, schedulable node with 4 cores, 8Gi, 100Gi of disk and room for 10 containers."""
    base: dict[str, Any] = dict(
        name=name, ready=True, unschedulable=False, labels={}, cpu=4.0, memory=8 * GI, disk=100 * GI, max_containers=10
    )
    base.update(kw)
    return NodeInfo(**base)


def container(name: str, *, node_name: str | None = None, **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "resourceVersion": "1"},
        "spec": {"image": "busybox", **({"nodeName": node_name} if node_name else {}), **spec},
        "status": {"phase": "Pending"},
    }


def node_obj(
    name: str,
    *,
    ready: str = "True",
    cpu: float = 4,
    memory: int = 8 * GI,
    disk: int = 100 * GI,
    containers: int = 10,
    unschedulable: bool = False,
    labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": labels or {}, "resourceVersion": "1"},
        "spec": {"unschedulable": unschedulable},
        "status": {
            "conditions": [{"type": "Ready", "status": ready}],
            "allocatable": {"cpu": cpu, "memory": memory, "disk": disk, "containers": containers},
        },
    }
