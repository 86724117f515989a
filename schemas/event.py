"""The Event kind: what happened to which object, why, when and how often (deduplicated with a count)."""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from schemas.base import ConfigSafeStr, DnsLabel, Model
from schemas.meta import ObjectMeta

__all__ = ["Event", "EventSource", "EventSpec", "EventStatus", "ObjectReference"]


class ObjectReference(Model):
    """The object an event is about."""

    kind: Literal["Container", "Node", "Event", "Lease", "ContainerSet", "ContainerCluster"]
    name: DnsLabel
    uid: str | None = None


class EventSource(Model):
    """Who reported the event: a component and, for a kubelet, its node."""

    component: ConfigSafeStr = Field(default="", max_length=128)
    host: ConfigSafeStr = Field(default="", max_length=253)


class EventSpec(Model):
    """What happened. Two events with the same spec are the same event seen again."""

    involved_object: ObjectReference
    type: Literal["Normal", "Warning"] = "Normal"
    reason: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9]*$", max_length=128, description="CamelCase word, e.g. Started.")
    message: ConfigSafeStr = Field(default="", max_length=4096)
    source: EventSource = Field(default_factory=EventSource)


class EventStatus(Model):
    """How often and when: kept by the server when a duplicate is posted."""

    count: int = Field(default=1, ge=1)
    first_timestamp: datetime | None = None
    last_timestamp: datetime | None = None


class Event(Model):
    api_version: Literal["dlxc.io/v1"] = "dlxc.io/v1"
    kind: Literal["Event"] = "Event"
    metadata: ObjectMeta
    spec: EventSpec
    status: EventStatus = Field(default_factory=EventStatus)
