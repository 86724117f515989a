"""The Node kind: one host with a kubelet, its capacity and its readiness."""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field, field_validator

from schemas.base import Model
from schemas.meta import Condition, ObjectMeta, validate_labels

__all__ = ["Node", "NodeSpec", "NodeStatus", "Resources"]


class Resources(Model):
    """An amount of each schedulable resource. cpu in cores, memory and disk in bytes."""

    cpu: float = 0
    memory: int = 0
    disk: int = 0
    containers: int = 0


class NodeSpec(Model):
    unschedulable: bool = Field(default=False, description="Cordoned: nothing new is placed here.")
    labels: dict[str, str] = Field(default_factory=dict)

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: dict[str, str]) -> dict[str, str]:
        return validate_labels(value)


class NodeStatus(Model):
    conditions: list[Condition] = Field(default_factory=list)
    capacity: Resources = Field(default_factory=Resources)
    allocatable: Resources = Field(default_factory=Resources)
    usage: Resources = Field(default_factory=Resources)
    container_count: int = 0
    last_heartbeat_time: datetime | None = None
    addresses: list[str] = Field(default_factory=list)
    version: str = ""
    lxc_path: str = Field(default="", description="Where this node's LXC containers live.")
    bridge: str = Field(default="", description="The node's default bridge.")
    subnet: str = Field(default="", description="IPv4 subnet of the default bridge.")


class Node(Model):
    api_version: Literal["dlxc.io/v1"] = "dlxc.io/v1"
    kind: Literal["Node"] = "Node"
    metadata: ObjectMeta
    spec: NodeSpec = Field(default_factory=NodeSpec)
    status: NodeStatus = Field(default_factory=NodeStatus)

    def condition(self, kind: str) -> Condition | None:
        return next((c for c in self.status.conditions if c.type == kind), None)

    @property
    def ready(self) -> bool:
        cond = self.condition("Ready")
        return cond is not None and cond.status == "True"
