"""Turning one decoded manifest document (full or flat form) into a validated object.

The flat form is the original design's container file (`name`, `image`, `cpu_limit`,
`memory_limit`, `environment`, ...). It is accepted as it is and means a Container.
"""
from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from schemas.base import Model
from schemas.kinds import API_VERSION, KINDS, model_for_kind

__all__ = ["FieldError", "ManifestError", "flat_to_full", "is_flat", "parse_object"]

# flat key -> spec field (wire name). Keys of the spec itself are accepted in flat form too.
_FLAT_ALIASES = {
    "cpu_limit": "cpu",
    "memory_limit": "memory",
    "disk_limit": "disk",
    "environment": "env",
    "restart_policy": "restartPolicy",
    "node_selector": "nodeSelector",
}
_FLAT_META = ("name", "labels", "annotations")


class FieldError(Exception):
    """One bad field: its dotted path and what is wrong with it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.message = message


class ManifestError(Exception):
    """A document that is not a valid object; `errors` names every bad field."""

    def __init__(self, errors: list[FieldError], *, kind: str | None = None, name: str | None = None) -> None:
        self.errors = errors
        self.kind = kind
        self.name = name
        super().__init__("; ".join(str(e) for e in errors))


def is_flat(doc: dict[str, Any]) -> bool:
    return "kind" not in doc and "apiVersion" not in doc and "name" in doc


def flat_to_full(doc: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str], list[FieldError]]:
    """The full Container document of a flat one, a map from full field paths back to flat keys,
    and the flat keys that mean nothing."""
    from schemas.container import ContainerSpec

    spec_fields = {field.alias or name for name, field in ContainerSpec.model_fields.items()}
    spec_fields |= set(ContainerSpec.model_fields)
    metadata: dict[str, Any] = {}
    spec: dict[str, Any] = {}
    back: dict[str, str] = {}
    errors: list[FieldError] = []
    for key, value in doc.items():
        if key in _FLAT_META:
            metadata[key] = value
            back[f"metadata.{key}"] = key
        elif key in _FLAT_ALIASES:
            spec[_FLAT_ALIASES[key]] = value
            back[f"spec.{_FLAT_ALIASES[key]}"] = key
        elif key in spec_fields:
            spec[key] = value
            back[f"spec.{key}"] = key
        else:
            errors.append(FieldError(str(key), "unknown field"))
    return {"apiVersion": API_VERSION, "kind": "Container", "metadata": metadata, "spec": spec}, back, errors


def _field_errors(exc: ValidationError, back: dict[str, str]) -> list[FieldError]:
    errors = []
    for err in exc.errors():
        path = ".".join(str(part) for part in err["loc"])
        for full, flat in back.items():
            if path == full or path.startswith(full + "."):
                path = flat + path[len(full):]
                break
        message = err["msg"]
        if err["type"] == "extra_forbidden":
            message = "unknown field"
        elif message.startswith("Value error, "):
            message = message[len("Value error, "):]
        errors.append(FieldError(path, message))
    return errors


def parse_object(doc: Any) -> Model:
    """Validate one document into its model, or raise ManifestError naming every bad field."""
    if not isinstance(doc, dict):
        raise ManifestError([FieldError("", f"a manifest must be a mapping, not {type(doc).__name__}")])
    back: dict[str, str] = {}
    unknown: list[FieldError] = []
    if is_flat(doc):
        doc, back, unknown = flat_to_full(doc)
    kind = doc.get("kind")
    name = doc.get("metadata", {}).get("name") if isinstance(doc.get("metadata"), dict) else None
    name = name if isinstance(name, str) else None
    if doc.get("apiVersion") != API_VERSION:
        raise ManifestError([FieldError("apiVersion", f"must be {API_VERSION}")], kind=kind, name=name)
    try:
        model = model_for_kind(kind)
    except KeyError:
        known = ", ".join(k.name for k in KINDS)
        raise ManifestError([FieldError("kind", f"unknown kind {kind!r}; known: {known}")], name=name) from None
    try:
        obj = model.model_validate(doc)
    except ValidationError as exc:
        raise ManifestError(_field_errors(exc, back) + unknown, kind=kind, name=name) from None
    if unknown:
        raise ManifestError(unknown, kind=kind, name=name)
    return obj
