"""Label and field selectors, parsed once and matched against stored objects."""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from dlxc.client.errors import BadRequest
from schemas.base import Obj

__all__ = ["FIELDS", "Selector", "parse_field_selector", "parse_label_selector"]


# fieldSelector paths every kind supports.
FIELDS: dict[str, Callable[[Obj], str]] = {
    "metadata.name": lambda o: str(o.get("metadata", {}).get("name") or ""),
    "spec.nodeName": lambda o: str(o.get("spec", {}).get("nodeName") or ""),
    "status.phase": lambda o: str(o.get("status", {}).get("phase") or ""),
    "spec.involvedObject.kind": lambda o: str(((o.get("spec") or {}).get("involvedObject") or {}).get("kind") or ""),
    "spec.involvedObject.name": lambda o: str(((o.get("spec") or {}).get("involvedObject") or {}).get("name") or ""),
    "spec.holderIdentity": lambda o: str((o.get("spec") or {}).get("holderIdentity") or ""),
}
# Short names as kubectl users type them.
FIELDS["involvedObject.kind"] = FIELDS["spec.involvedObject.kind"]
FIELDS["involvedObject.name"] = FIELDS["spec.involvedObject.name"]

_SET_EXPR = re.compile(r"^\s*([^\s!=]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!exists"
    values: frozenset[str] = frozenset()

    def matches(self, value: str | None) -> bool:
        if self.op == "exists":
            return value is not None
        if self.op == "!exists":
            return value is None
        if self.op in ("=", "in"):
            return value is not None and value in self.values
        return value is None or value not in self.values  # "!=", "notin"


@dataclass(frozen=True)
class Selector:
    """A conjunction of requirements on labels or fields; the empty selector matches everything."""

    labels: tuple[Requirement, ...] = ()
    fields: tuple[Requirement, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.labels and not self.fields

    def matches(self, obj: Obj) -> bool:
        labels = obj.get("metadata", {}).get("labels") or {}
        if not all(req.matches(labels.get(req.key)) for req in self.labels):
            return False
        return all(req.matches(FIELDS[req.key](obj)) for req in self.fields)


def _split_top(expression: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    parts, depth, current = [], 0, []
    for ch in expression:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


def parse_label_selector(expression: str | None) -> tuple[Requirement, ...]:
    if not expression:
        return ()
    reqs = []
    for part in _split_top(expression):
        set_match = _SET_EXPR.match(part)
        if set_match:
            key, op, values = set_match.groups()
            reqs.append(Requirement(key, op, frozenset(v.strip() for v in values.split(",") if v.strip())))
        elif "!=" in part:
            key, value = part.split("!=", 1)
            reqs.append(Requirement(key.strip(), "!=", frozenset({value.strip()})))
        elif "=" in part:
            key, value = part.split("==", 1) if "==" in part else part.split("=", 1)
            reqs.append(Requirement(key.strip(), "=", frozenset({value.strip()})))
        elif part.startswith("!"):
            reqs.append(Requirement(part[1:].strip(), "!exists"))
        elif re.match(r"^[A-Za-z0-9/_.-]+$", part):
            reqs.append(Requirement(part, "exists"))
        else:
            raise BadRequest(
                f"labelSelector: cannot parse {part!r}",
                details=[{"field": "labelSelector", "message": f"cannot parse {part!r}"}],
            )
    return tuple(reqs)


def parse_field_selector(expression: str | None) -> tuple[Requirement, ...]:
    if not expression:
        return ()
    reqs = []
    for part in _split_top(expression):
        op = "!=" if "!=" in part else "="
        key, _, value = part.partition("!=" if op == "!=" else ("==" if "==" in part else "="))
        key = key.strip()
        if key not in FIELDS:
            raise BadRequest(
                f"fieldSelector: unsupported field {key!r}; supported: {', '.join(FIELDS)}",
                details=[{"field": "fieldSelector", "message": f"unsupported field {key!r}"}],
            )
        reqs.append(Requirement(key, op, frozenset({value.strip()})))
    return tuple(reqs)
