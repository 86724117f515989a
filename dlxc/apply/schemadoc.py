"""JSON Schema of the manifests (for editors) and field documentation (for `dlxc explain`), both from the pydantic models."""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from schemas import KINDS, kind_for_plural
from schemas.base import Obj
from schemas.container import ContainerSpec
from schemas.manifest import _FLAT_ALIASES

__all__ = ["FieldDoc", "explain", "manifest_schema"]

SCHEMA_ID = "https://dlxc.io/schemas/v1/manifest.json"


_SIZE = {"type": "string", "pattern": r"^\s*[0-9]+(\.[0-9]+)?\s*(Ki|Mi|Gi|Ti|k|M|G|T|B)?\s*$"}
_ENV_ITEM = {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*="}
_MOUNT_STRING = {"type": "string", "pattern": "^/[^:]*:/[^:]*(:(ro|rw))?$"}


def _widen_spec(spec: Obj) -> Obj:
    """What the models accept before their validators run, which pydantic's schema cannot see:
    sizes as bare numbers (MiB), env as a list of KEY=VALUE, mounts as HOST:CONTAINER[:ro] strings."""
    props = spec.get("properties", {})
    for size in ("memory", "disk"):
        if size in props:
            props[size] = {
                "anyOf": [_SIZE, {"type": "number", "exclusiveMinimum": 0}, {"type": "null"}],
                **{k: v for k, v in props[size].items() if k not in ("anyOf", "type")},
            }
    if "env" in props:
        env = props["env"]
        props["env"] = {
            "anyOf": [{"type": "object", "additionalProperties": {"type": ["string", "number"]}}, {"type": "array", "items": _ENV_ITEM}],
            **{k: v for k, v in env.items() if k not in ("type", "additionalProperties")},
        }
    if "mounts" in props:
        props["mounts"]["items"] = {"anyOf": [props["mounts"]["items"], _MOUNT_STRING]}
    return spec


def _kind_schema(model: type) -> Obj:
    schema: Obj = model.model_json_schema(by_alias=True, mode="validation")  # type: ignore[attr-defined]
    if "ContainerSpec" in schema.get("$defs", {}):
        _widen_spec(schema["$defs"]["ContainerSpec"])
    return schema


def _flat_schema(defs: Obj) -> Obj:
    """The original design's flat Container file: name, image, cpu_limit, ... at the top level."""
    spec = _widen_spec(ContainerSpec.model_json_schema(by_alias=True, mode="validation"))
    defs.update(spec.pop("$defs", {}))
    properties: Obj = {
        "name": {"type": "string", "description": "DNS-1123 label, at most 63 characters; the LXC container's name."},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
    }
    for key, prop in spec["properties"].items():
        if key != "nodeName":
            properties[key] = prop
    for flat, full in _FLAT_ALIASES.items():
        if full in spec["properties"]:
            properties[flat] = {**copy.deepcopy(spec["properties"][full]), "description": f"Same as {full}. " + spec["properties"][full].get("description", "")}
    return {
        "title": "Container (flat form)",
        "type": "object",
        "properties": properties,
        "required": ["name", "image"],
        "additionalProperties": False,
        "not": {"anyOf": [{"required": ["kind"]}, {"required": ["apiVersion"]}]},
    }


def manifest_schema() -> Obj:
    """One JSON Schema that every manifest document matches: a full object of any kind, or the flat form."""
    defs: Obj = {}
    choices = []
    for kind in KINDS:
        schema = _kind_schema(kind.model)
        defs.update(schema.pop("$defs", {}))
        schema["required"] = sorted({*schema.get("required", []), "apiVersion", "kind"})
        defs[kind.name] = schema
        choices.append({"$ref": f"#/$defs/{kind.name}"})
    defs["FlatContainer"] = _flat_schema(defs)
    choices.append({"$ref": "#/$defs/FlatContainer"})
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "dlxc manifest",
        "anyOf": choices,
        "$defs": defs,
    }


@dataclass(frozen=True)
class FieldDoc:
    path: str
    type: str
    description: str
    default: Any
    fields: list[tuple[str, str, str]]  # name, type, first line of description


def _object(node: Obj, defs: Obj) -> Obj:
    """The object-shaped choice of a node (through lists and anyOf), whose fields `explain` lists."""
    node = _resolve(node, defs)
    if node.get("type") == "array":
        node = _resolve(node.get("items", {}), defs)
    for choice in node.get("anyOf", []):
        choice = _resolve(choice, defs)
        if "properties" in choice:
            return choice
    return node


def _resolve(node: Obj, defs: Obj) -> Obj:
    while True:
        if "$ref" in node:
            node = defs[node["$ref"].rsplit("/", 1)[-1]]
        elif "anyOf" in node and len([c for c in node["anyOf"] if c.get("type") != "null"]) == 1:
            described = {k: v for k, v in node.items() if k != "anyOf"}
            node = {**next(c for c in node["anyOf"] if c.get("type") != "null"), **described}
        else:
            return node


def _type_name(node: Obj, defs: Obj) -> str:
    if "$ref" in node:
        return "object"
    if "anyOf" in node:
        return " | ".join(_type_name(c, defs) for c in node["anyOf"])
    if "enum" in node:
        return "string (" + " | ".join(str(v) for v in node["enum"]) + ")"
    if "const" in node:
        return f"string ({node['const']})"
    kind = node.get("type", "any")
    if isinstance(kind, list):
        return " | ".join(str(k) for k in kind)
    if kind == "array":
        inner = _type_name(node.get("items", {}), defs)
        return f"[]({inner})" if " | " in inner else f"[]{inner}"
    if kind == "object" and "additionalProperties" in node and isinstance(node["additionalProperties"], dict):
        inner = _type_name(node["additionalProperties"], defs)
        return f"map[string]({inner})" if " | " in inner else f"map[string]{inner}"
    return str(kind)


def explain(path: str) -> FieldDoc:
    """The documentation of a dotted field path such as container.spec.memory; KeyError names the bad part."""
    parts = [p for p in path.split(".") if p]
    if not parts:
        raise KeyError("give a kind, e.g. container or container.spec.memory")
    try:
        kind = kind_for_plural(parts[0])
    except KeyError:
        raise KeyError(f"unknown kind {parts[0]!r}; known: {', '.join(k.name.lower() for k in KINDS)}") from None
    schema = _kind_schema(kind.model)
    defs = schema.get("$defs", {})
    node: Obj = schema
    raw: Obj = schema
    walked = [kind.name]
    for part in parts[1:]:
        node = _object(node, defs)
        props = node.get("properties", {})
        if part not in props:
            known = ", ".join(props) or "none"
            raise KeyError(f"{'.'.join(walked)} has no field {part!r}; its fields: {known}")
        raw = props[part]
        node = raw
        walked.append(part)
    target = _object(node, defs)
    fields = []
    for name, prop in target.get("properties", {}).items():
        desc = _resolve(prop, defs).get("description", "") or prop.get("description", "")
        fields.append((name, _type_name(prop, defs), desc.splitlines()[0] if desc else ""))
    description = raw.get("description") or _resolve(raw, defs).get("description") or ""
    return FieldDoc(".".join(walked), _type_name(raw, defs) if len(walked) > 1 else "object", description, raw.get("default"), fields)
