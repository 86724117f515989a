"""The resource kinds of dlxc: the single source of field names, defaults and validation."""
from __future__ import annotations

from schemas.container import Container, ContainerSpec, ContainerStatus, Mount, Network
from schemas.event import Event, EventSpec, EventStatus, ObjectReference
from schemas.kinds import API_VERSION, KINDS, Kind, kind_for_plural, model_for_kind
from schemas.lease import Lease, LeaseSpec
from schemas.meta import Condition, ObjectMeta
from schemas.node import Node, NodeSpec, NodeStatus, Resources

__all__ = [
    "API_VERSION",
    "KINDS",
    "Condition",
    "Container",
    "ContainerSpec",
    "ContainerStatus",
    "Event",
    "EventSpec",
    "EventStatus",
    "Kind",
    "Lease",
    "LeaseSpec",
    "Mount",
    "Network",
    "Node",
    "NodeSpec",
    "NodeStatus",
    "ObjectMeta",
    "ObjectReference",
    "Resources",
    "kind_for_plural",
    "model_for_kind",
]
