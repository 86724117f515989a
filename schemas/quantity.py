"""Parsing and canonical printing of memory and disk sizes ("512Mi", "2G", a bare number = MiB)."""
from __future__ import annotations

import re

__all__ = ["format_bytes", "parse_bytes"]

_UNITS = {
    "": 1,
    "k": 1000, "M": 1000**2, "G": 1000**3, "T": 1000**4,
    "Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "Ti": 1024**4,
}
_QUANTITY = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(Ki|Mi|Gi|Ti|k|M|G|T|B)?\s*$")


def parse_bytes(value: int | float | str) -> int:
    """Bytes in a size. A bare number means MiB, as in the original design's `memory_limit: 512`."""
    if isinstance(value, bool):
        raise ValueError("must be a size such as 512Mi or 2Gi")
    if isinstance(value, (int, float)):
        if value <= 0:
            raise ValueError("must be greater than zero")
        return int(value * 1024**2)
    match = _QUANTITY.match(value)
    if not match:
        raise ValueError(f"{value!r} is not a size; use a number with Ki, Mi, Gi or Ti (e.g. 512Mi)")
    number, unit = match.groups()
    unit = unit or ""
    if unit == "":
        result = float(number) * 1024**2
    elif unit == "B":
        result = float(number)
    else:
        result = float(number) * _UNITS[unit]
    if result <= 0:
        raise ValueError("must be greater than zero")
    return int(result)


def format_bytes(size: int) -> str:
    """The shortest exact binary form: 536870912 -> '512Mi'; sizes that fit no unit stay bytes."""
    for unit in ("Ti", "Gi", "Mi", "Ki"):
        factor = _UNITS[unit]
        if size % factor == 0:
            return f"{size // factor}{unit}"
    return str(size) + "B"
