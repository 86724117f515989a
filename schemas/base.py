"""The pydantic base every resource model shares: camelCase on the wire, unknown fields refused."""
from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError
from pydantic.alias_generators import to_camel

__all__ = ["DNS_LABEL", "Obj", "ConfigSafeStr", "DnsLabel", "Model", "check_config_safe", "field_error", "iso_time", "now_iso"]

# A decoded API object as it travels between components: plain JSON-ready dicts.
Obj = dict[str, Any]


def iso_time(when: datetime) -> str:
    """A time as the API writes it: RFC 3339 in UTC with a Z."""
    return when.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def now_iso() -> str:
    return iso_time(datetime.now(timezone.utc))


class Model(BaseModel):
    """Strict wire model: camelCase aliases, Python names accepted too, extra keys are errors."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        validate_assignment=True,
    )

    def to_wire(self) -> dict[str, Any]:
        """The JSON-ready dict the API stores and serves."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")

# Anything that could end a line or a value in an LXC config file, or that a C string stops at.
_CONFIG_UNSAFE = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]")


def check_config_safe(value: str) -> str:
    if _CONFIG_UNSAFE.search(value):
        raise ValueError("must not contain control characters (newline, carriage return, NUL, ...)")
    return value


def _check_dns_label(value: str) -> str:
    if len(value) > 63:
        raise ValueError("must be at most 63 characters")
    if not DNS_LABEL.match(value):
        raise ValueError(
            "must be a DNS-1123 label: lowercase letters, digits and '-', "
            "starting and ending with a letter or digit"
        )
    return value


ConfigSafeStr = Annotated[str, AfterValidator(check_config_safe)]
DnsLabel = Annotated[str, AfterValidator(_check_dns_label)]


def field_error(model: str, loc: tuple[str, ...], value: Any, message: str) -> ValidationError:
    """A validation error placed at `loc`, for a model-wide check that is about one field (e.g. a
    name too long for what the spec asks): raised from a model validator, it names that field."""
    error = PydanticCustomError("value_error", "{message}", {"message": message})
    return ValidationError.from_exception_data(model, [InitErrorDetails(type=error, loc=loc, input=value)])
