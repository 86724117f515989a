"""The scheduler's settings: which filters run, the weight of each scorer, the seed, retry and bind pacing.

They come from a YAML file (`dlxc scheduler --config FILE`), with flags laid over it:

    seed: 42
    weights: {AvailableCPU: 50, AvailableMemory: 30}   # the others keep their defaults; 0 turns one off
    filters: [NodeReady, NodeSchedulable, ResourcesFit] # the pipeline, in order
    retryInitialSeconds: 1
    retryMaxSeconds: 30
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic.alias_generators import to_camel

from scheduler.framework import Filter, Scorer
from scheduler.plugins import DEFAULT_FILTERS, DEFAULT_WEIGHTS, FILTERS, SCORERS

__all__ = ["SchedulerConfigError", "SchedulerSettings", "load_settings", "parse_weight"]


class SchedulerConfigError(ValueError):
    """A scheduler config file or flag is wrong; the message names the file and the field."""


class SchedulerSettings(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    seed: int = Field(default=0, description="Seed of the tie-breaking choice, so placements replay.")
    weights: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    filters: list[str] = Field(default_factory=lambda: list(DEFAULT_FILTERS))
    retry_initial_seconds: float = Field(default=1.0, gt=0)
    retry_max_seconds: float = Field(default=30.0, gt=0)
    # Each request takes every bind decided while the others were in flight (bench/scheduler.py).
    bind_concurrency: int = Field(default=8, ge=1, le=1024, description="Bind requests in flight at once.")
    bind_batch: int = Field(default=100, ge=1, le=100,
                            description="Binds in one request at most (POST .../bindingbatches); 1: a request per bind.")
    record_placement: bool = Field(default=True, description="Write status.placement with each bind.")
    runners_up: int = Field(default=3, ge=0, le=20)

    @field_validator("weights")
    @classmethod
    def _weights(cls, value: dict[str, float]) -> dict[str, float]:
        for name, weight in value.items():
            if name not in SCORERS:
                raise ValueError(f"unknown score plugin {name!r}; known: {', '.join(SCORERS)}")
            if weight < 0:
                raise ValueError(f"weight of {name} must be 0 or more")
        merged = dict(DEFAULT_WEIGHTS)
        merged.update(value)
        if not any(merged[name] > 0 for name in merged if name != "AntiAffinitySpread"):
            raise ValueError("at least one resource score plugin needs a weight above 0")
        return merged

    @field_validator("filters")
    @classmethod
    def _filters(cls, value: list[str]) -> list[str]:
        for name in value:
            if name not in FILTERS:
                raise ValueError(f"unknown filter plugin {name!r}; known: {', '.join(FILTERS)}")
        if len(set(value)) != len(value):
            raise ValueError("a filter is listed twice")
        return value

    def filter_plugins(self) -> list[Filter]:
        return [FILTERS[name] for name in self.filters]

    def score_plugins(self) -> dict[str, tuple[Scorer, float]]:
        return {name: (SCORERS[name], weight) for name, weight in self.weights.items() if weight > 0}


def _explain(exc: ValidationError, source: str) -> SchedulerConfigError:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        message = "unknown field" if err["type"] == "extra_forbidden" else err["msg"].removeprefix("Value error, ")
        parts.append(f"{where}: {message}")
    return SchedulerConfigError(f"{source}: " + "; ".join(parts))


def parse_weight(text: str) -> tuple[str, float]:
    """'AvailableCPU=40' from a --weight flag."""
    name, sep, value = text.partition("=")
    try:
        if not sep:
            raise ValueError
        return name.strip(), float(value)
    except ValueError:
        raise SchedulerConfigError(f"--weight {text!r}: use NAME=NUMBER, e.g. AvailableCPU=40") from None


def load_settings(
    path: Path | None = None,
    *,
    seed: int | None = None,
    weights: list[str] | None = None,
    overrides: dict[str, Any] | None = None,
) -> SchedulerSettings:
    """The file's settings (or the defaults), then the flags over them."""
    data: dict[str, Any] = {}
    source = "scheduler settings"
    if path is not None:
        source = str(path)
        try:
            loaded = yaml.safe_load(path.read_text())
        except OSError as exc:
            raise SchedulerConfigError(f"{path}: cannot read: {exc.strerror}") from None
        except yaml.YAMLError as exc:
            raise SchedulerConfigError(f"{path}: not valid YAML: {exc}") from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise SchedulerConfigError(f"{path}: must be a mapping of settings")
        data = loaded
    if seed is not None:
        data["seed"] = seed
    if weights:
        file_weights = data.get("weights") or {}
        data["weights"] = {**(file_weights if isinstance(file_weights, dict) else {}), **dict(map(parse_weight, weights))}
        source = f"{source} and --weight"
    data.update(overrides or {})
    try:
        return SchedulerSettings.model_validate(data)
    except ValidationError as exc:
        raise _explain(exc, source) from None
