"""The resource kinds of dlxc: the single source of field names, defaults and validation.

Names are loaded on first use (PEP 562): `from schemas import kind_for_plural` must not build
every pydantic model, since a one-shot CLI call that only needs the kind table would pay for it.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from schemas.container import Container, ContainerSpec, ContainerStatus, Mount, Network
    from schemas.event import Event, EventSpec, EventStatus, ObjectReference
    from schemas.kinds import API_VERSION, KINDS, Kind, kind_for_plural, model_for_kind
    from schemas.lease import Lease, LeaseSpec
    from schemas.meta import Condition, ObjectMeta
    from schemas.node import Node, NodeSpec, NodeStatus, Resources

_WHERE = {
    **dict.fromkeys(["Container", "ContainerSpec", "ContainerStatus", "Mount", "Network"], "schemas.container"),
    **dict.fromkeys(["Event", "EventSpec", "EventStatus", "ObjectReference"], "schemas.event"),
    **dict.fromkeys(["API_VERSION", "KINDS", "Kind", "kind_for_plural", "model_for_kind"], "schemas.kinds"),
    **dict.fromkeys(["Lease", "LeaseSpec"], "schemas.lease"),
    **dict.fromkeys(["Condition", "ObjectMeta"], "schemas.meta"),
    **dict.fromkeys(["Node", "NodeSpec", "NodeStatus", "Resources"], "schemas.node"),
}

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


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'schemas' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
