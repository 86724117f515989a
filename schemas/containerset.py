"""The ContainerSet kind: N members made from one Container template, with stable names SET-0, SET-1, ..."""
from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from schemas.base import ConfigSafeStr, Model, field_error
from schemas.container import ContainerSpec
from schemas.meta import Condition, ObjectMeta, validate_labels

__all__ = [
    "Autoscale",
    "AutoscaleDecision",
    "ContainerSet",
    "ContainerSetSpec",
    "ContainerSetStatus",
    "Revision",
    "SetSelector",
    "SetTemplate",
    "TemplateMeta",
    "UpdateStrategy",
    "member_name",
    "ordinals",
    "parse_seconds",
    "template_hash",
]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_seconds(value: Any) -> Any:
    """300, "300s", "5m", "1h" as seconds; anything else is left for pydantic to refuse."""
    if isinstance(value, str):
        match = _DURATION.match(value)
        if not match:
            raise ValueError(f"{value!r} is not a duration (e.g. 300s, 5m, 1h)")
        return float(match.group(1)) * _UNIT[match.group(2)]
    return value


class SetSelector(Model):
    match_labels: dict[str, str] = Field(default_factory=dict, description="Labels a member must carry.")

    @field_validator("match_labels")
    @classmethod
    def _labels(cls, value: dict[str, str]) -> dict[str, str]:
        return validate_labels(value)


class TemplateMeta(Model):
    labels: dict[str, str] = Field(default_factory=dict, description="Labels of every member.")
    annotations: dict[str, ConfigSafeStr] = Field(default_factory=dict, description="Annotations of every member.")

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: dict[str, str]) -> dict[str, str]:
        return validate_labels(value)


class SetTemplate(Model):
    """What every member is made from: a Container's labels and spec."""

    metadata: TemplateMeta = Field(default_factory=TemplateMeta)
    spec: ContainerSpec

    @field_validator("spec")
    @classmethod
    def _unbound(cls, value: ContainerSpec) -> ContainerSpec:
        if value.node_name is not None:
            raise ValueError("nodeName must not be set in a template: the scheduler places each member")
        return value


class UpdateStrategy(Model):
    max_unavailable: int = Field(default=1, ge=1, description="Members that may be down at once during a rolling update.")
    progress_deadline: float = Field(
        default=300.0, gt=0, description="Seconds an updated member may take to be Running before the update is marked failed."
    )

    @field_validator("progress_deadline", mode="before")
    @classmethod
    def _seconds(cls, value: Any) -> Any:
        return parse_seconds(value)


class Autoscale(Model):
    """Replicas follow the members' CPU use: desired = ceil(current x usage / target), within min..max."""

    min: int = Field(default=1, ge=0)
    max: int = Field(ge=1)
    target_cpu_percent: float = Field(
        gt=0, le=100000, alias="targetCPUPercent", description="Target CPU use per member, in % of its spec.cpu (or of one core)."
    )
    tolerance: float = Field(default=0.1, ge=0, lt=1, description="Ratios within 1 +- tolerance change nothing.")
    scale_down_stabilization: float = Field(
        default=300.0, ge=0, description="Seconds: scale down only to the highest recommendation seen in this window."
    )
    period: float = Field(default=15.0, gt=0, description="Seconds between decisions.")

    @field_validator("scale_down_stabilization", "period", mode="before")
    @classmethod
    def _seconds(cls, value: Any) -> Any:
        return parse_seconds(value)

    @model_validator(mode="after")
    def _range(self) -> Autoscale:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) must not exceed max ({self.max})")
        return self


class ContainerSetSpec(Model):
    replicas: int = Field(default=1, ge=0, le=1000, description="How many members.")
    selector: SetSelector | None = Field(default=None, description="Default: the template's labels.")
    template: SetTemplate
    update_strategy: UpdateStrategy = Field(default_factory=UpdateStrategy)
    autoscale: Autoscale | None = Field(default=None, description="Set replicas from CPU use (overrides replicas).")
    member_prefix: str | None = Field(
        default=None, description="Members are named PREFIX + ordinal; default: the set's name and '-' (web-0, web-1, ...)."
    )
    ordinal_start: int = Field(default=0, ge=0, le=1, description="First ordinal: 0 (web-0, ...) or 1 (node1, ...).")
    hostname_prefix: str | None = Field(
        default=None, description="Each member's hostname is PREFIX + ordinal (e.g. node -> node1); default: its name."
    )
    skip_ordinals: list[int] = Field(
        default_factory=list, max_length=1000,
        description="Ordinals left out (holes after removing chosen members): the members are the first `replicas` "
                    "ordinals from ordinalStart that are not listed here.",
    )

    @field_validator("skip_ordinals")
    @classmethod
    def _skips(cls, value: list[int]) -> list[int]:
        if any(o < 0 for o in value):
            raise ValueError("ordinals must not be negative")
        if len(set(value)) != len(value):
            raise ValueError("ordinals must not repeat")
        return sorted(value)

    @field_validator("member_prefix", "hostname_prefix")
    @classmethod
    def _prefix(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^[a-z0-9]([-a-z0-9]*)?$", value):
            raise ValueError("must be lowercase letters, digits and '-', starting with a letter or digit")
        if value is not None and len(value) > 56:
            raise ValueError("must be at most 56 characters (the ordinal must still fit a 63-character name)")
        return value

    @model_validator(mode="after")
    def _selector_matches(self) -> ContainerSetSpec:
        if self.selector is not None:
            labels = self.template.metadata.labels
            missing = {k: v for k, v in self.selector.match_labels.items() if labels.get(k) != v}
            if missing:
                pairs = ", ".join(f"{k}={v}" for k, v in missing.items())
                raise ValueError(f"selector.matchLabels {pairs} must also be in template.metadata.labels, or no member would match")
        return self


class Revision(Model):
    """One template the set has had; `dlxc rollout undo` goes back to the one before the last."""

    revision: int
    hash: str
    template: dict[str, Any]


class AutoscaleDecision(Model):
    time: datetime
    current: int
    desired: int
    usage_percent: float | None = None
    target_percent: float
    message: str = ""


class ContainerSetStatus(Model):
    replicas: int = Field(default=0, description="Members that exist and are not being deleted.")
    ready_replicas: int = Field(default=0, description="Members Running.")
    updated_replicas: int = Field(default=0, description="Members made from the current template.")
    observed_generation: int | None = None
    current_revision: int | None = None
    update_hash: str | None = Field(default=None, description="Hash of the current template.")
    conditions: list[Condition] = Field(default_factory=list)
    revisions: list[Revision] = Field(default_factory=list, description="Recent templates, oldest first.")
    autoscale: list[AutoscaleDecision] = Field(default_factory=list, description="The last autoscale decisions, newest last.")


class ContainerSet(Model):
    api_version: Literal["dlxc.io/v1"] = "dlxc.io/v1"
    kind: Literal["ContainerSet"] = "ContainerSet"
    metadata: ObjectMeta
    spec: ContainerSetSpec
    status: ContainerSetStatus = Field(default_factory=ContainerSetStatus)

    @model_validator(mode="after")
    def _names_fit(self) -> ContainerSet:
        prefix = self.spec.member_prefix or f"{self.metadata.name}-"
        most = max(self.spec.replicas, self.spec.autoscale.max if self.spec.autoscale else 0)
        last = ordinals(self.spec.ordinal_start, self.spec.skip_ordinals, most)[-1] if most else 0
        if len(prefix) + len(str(max(last, 0))) > 63:
            raise field_error("ContainerSet", ("metadata", "name"), self.metadata.name,
                              f"member names ({prefix}{last}) would be longer than 63 characters; use a shorter name or spec.memberPrefix")
        return self


def template_hash(template: dict[str, Any]) -> str:
    """A short, stable digest of a template in wire form: members made from it carry it."""
    return hashlib.sha256(json.dumps(template, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:10]


def ordinals(start: int, skip: list[int] | tuple[int, ...], count: int) -> list[int]:
    """The first `count` ordinals from `start` that are not in `skip`: a set's members, a cluster's node numbers."""
    left_out, found, ordinal = set(skip), [], start
    while len(found) < count:
        if ordinal not in left_out:
            found.append(ordinal)
        ordinal += 1
    return found


def member_name(spec: dict[str, Any], set_name: str, ordinal: int) -> str:
    return f"{spec.get('memberPrefix') or set_name + '-'}{ordinal}"
