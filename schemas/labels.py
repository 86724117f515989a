"""What a label key, a label value and a label selector may look like (no pydantic: the CLI checks
selectors before it sends them, and must not pay for the models)."""
from __future__ import annotations

import re

__all__ = ["LABEL_KEY", "LABEL_VALUE", "check_label_selector", "label_key_ok", "label_value_ok"]

LABEL_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?\Z")
LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?\Z")
_KEY_MAX, _VALUE_MAX = 253, 63
_SET = re.compile(r"^(\S+)\s+(in|notin)\s+\(([^()]*)\)$")
_FORMS = "KEY, !KEY, KEY=VALUE, KEY==VALUE, KEY!=VALUE, KEY in (V1,V2) or KEY notin (V1,V2)"


def label_key_ok(key: str) -> bool:
    return len(key) <= _KEY_MAX and bool(LABEL_KEY.match(key))


def label_value_ok(value: str) -> bool:
    return len(value) <= _VALUE_MAX and bool(LABEL_VALUE.match(value))


def _parts(expression: str) -> list[str]:
    """Split on commas outside parentheses; an empty part is kept, to be refused."""
    parts, depth, current = [], 0, ""
    for ch in expression:
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += ch
    parts.append(current.strip())
    return parts


def check_label_selector(expression: str) -> None:
    """Raise ValueError naming the first part of `expression` that is not a valid requirement."""

    def bad(part: str, why: str) -> ValueError:
        return ValueError(f"invalid label selector {expression!r}: {part!r} {why}")

    for part in _parts(expression):
        if not part:
            raise bad(part, "is empty (a stray comma?)")
        set_match = _SET.match(part)
        if set_match:
            key, _, values = set_match.groups()
            keys_values = [(key, v.strip()) for v in values.split(",")]
        elif "!=" in part:
            key, value = part.split("!=", 1)
            keys_values = [(key.strip(), value.strip())]
        elif "=" in part:
            key, value = part.split("==", 1) if "==" in part else part.split("=", 1)
            keys_values = [(key.strip(), value.strip())]
        else:
            key = part[1:].strip() if part.startswith("!") else part
            if not label_key_ok(key):
                raise bad(part, f"is not one of {_FORMS}")
            continue
        for key, value in keys_values:
            if not label_key_ok(key):
                raise bad(part, f"has an invalid key {key!r}: a label key is [PREFIX/]NAME, NAME of letters, digits, '-', '_', '.'")
            if not label_value_ok(value):
                raise bad(part, f"has an invalid value {value!r}: at most 63 letters, digits, '-', '_', '.'")
