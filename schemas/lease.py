"""The Lease kind: a holder, when it last renewed and for how long; node heartbeats and leader election use it."""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from schemas.base import ConfigSafeStr, Model
from schemas.meta import ObjectMeta

__all__ = ["Lease", "LeaseSpec", "LeaseStatus"]


class LeaseSpec(Model):
    holder_identity: ConfigSafeStr | None = Field(default=None, max_length=253, description="Who holds the lease.")
    lease_duration_seconds: int = Field(default=15, ge=1, le=3600, description="How long a renewal is good for.")
    acquire_time: datetime | None = None
    renew_time: datetime | None = None
    lease_transitions: int = Field(default=0, ge=0, description="How often the holder changed.")


class LeaseStatus(Model):
    """Leases carry everything in spec; status exists so every kind has the same shape."""


class Lease(Model):
    api_version: Literal["dlxc.io/v1"] = "dlxc.io/v1"
    kind: Literal["Lease"] = "Lease"
    metadata: ObjectMeta
    spec: LeaseSpec = Field(default_factory=LeaseSpec)
    status: LeaseStatus = Field(default_factory=LeaseStatus)
