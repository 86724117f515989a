"""Object metadata and conditions, shared by every kind."""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field, field_validator

from schemas.base import ConfigSafeStr, DnsLabel, Model
from schemas.labels import label_key_ok, label_value_ok

__all__ = ["Condition", "ObjectMeta", "OwnerReference", "validate_labels"]


def validate_labels(labels: dict[str, str]) -> dict[str, str]:
    for key, value in labels.items():
        if not label_key_ok(key):
            raise ValueError(f"label key {key!r} is not a valid label key")
        if not label_value_ok(value):
            raise ValueError(f"label {key!r} has an invalid value {value!r}")
    return labels


class OwnerReference(Model):
    """The object this one belongs to: deleting the owner deletes it (the owner's controller does)."""

    api_version: str = "dlxc.io/v1"
    kind: str
    name: DnsLabel
    uid: str
    controller: bool = Field(default=False, description="The owner's controller manages this object.")


class ObjectMeta(Model):
    """What identifies an object; the server sets uid, resourceVersion, generation and timestamps."""

    name: DnsLabel = Field(description="DNS-1123 label, at most 63 characters; the LXC container's name.")
    labels: dict[str, str] = Field(default_factory=dict, description="Key/value pairs for selectors.")
    annotations: dict[str, ConfigSafeStr] = Field(default_factory=dict, description="Free-form notes.")
    uid: str | None = Field(default=None, description="Server-set unique id of this incarnation.")
    resource_version: str | None = Field(default=None, description="etcd mod revision; send it back to update.")
    generation: int | None = Field(default=None, description="Bumped by the server on every spec change.")
    creation_timestamp: datetime | None = None
    deletion_timestamp: datetime | None = None
    finalizers: list[str] = Field(default_factory=list, description="Cleanups that must finish before the object goes.")
    owner_references: list[OwnerReference] | None = Field(default=None, description="Objects this one belongs to.")

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: dict[str, str]) -> dict[str, str]:
        return validate_labels(value)


class Condition(Model):
    """One aspect of an object's state, as in Kubernetes."""

    type: str
    status: Literal["True", "False", "Unknown"]
    reason: str = ""
    message: str = ""
    last_transition_time: datetime | None = None
