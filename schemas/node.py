"""The Node kind: one host with a kubelet, its capacity and its readiness."""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field, field_validator

from schemas.base import Model, Obj
from schemas.meta import Condition, ObjectMeta, validate_labels

__all__ = ["CachedImage", "Node", "NodeSpec", "NodeStatus", "Resources", "UnmanagedContainer", "node_ready"]


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


class UnmanagedContainer(Model):
    """An LXC container on the node that dlxc did not make; listed, never touched (see `dlxc adopt`)."""

    name: str
    lxc_path: str
    state: str = ""
    rootfs: str = ""
    privileged: bool = Field(default=False, description="Its config has no lxc.idmap.")


class CachedImage(Model):
    """An image prepared in the node's cache, ready to be a container's overlay lower dir."""

    name: str = Field(description="The image reference, e.g. busybox or debian:bookworm.")
    id_map: str = Field(default="", description="Whose ids own its files: privileged or uSTART-gSTART-nCOUNT.")
    size: int = Field(default=0, description="Bytes on disk.")
    containers: int = Field(default=0, description="Containers on this node using it.")
    last_used: datetime | None = None


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
    tunnel_address: str = Field(default="", description="Where other nodes send this node's cluster network traffic (VXLAN).")
    unmanaged_containers: list[UnmanagedContainer] = Field(default_factory=list)
    images: list[CachedImage] = Field(default_factory=list)
    stream_endpoint: str = Field(
        default="", max_length=300,
        description="host:port of the kubelet's TLS stream server (exec, attach, logs); empty when it serves none.",
    )


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


def node_ready(node: Obj) -> bool:
    """Whether a Node object (its wire form) says Ready=True."""
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in (node.get("status") or {}).get("conditions") or [])
