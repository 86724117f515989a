"""All terminal output of the CLI goes through here: tables, YAML, JSON and one-line errors."""
from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from typing import Any

import yaml

__all__ = ["age", "error", "out", "print_json", "print_table", "print_yaml"]


def out(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def error(message: str) -> None:
    sys.stderr.write(f"error: {message}\n")
    sys.stderr.flush()


def print_json(data: Any) -> None:
    out(json.dumps(data, indent=2, sort_keys=False))


def print_yaml(data: Any) -> None:
    if isinstance(data, list):
        sys.stdout.write(yaml.safe_dump_all(data, sort_keys=False))
    else:
        sys.stdout.write(yaml.safe_dump(data, sort_keys=False))
    sys.stdout.flush()


def print_table(headers: list[str], rows: list[list[str]]) -> None:
    """kubectl-style columns: upper-case headers, left-aligned, three spaces apart."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row)]
    for line in [headers, *rows]:
        out("   ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip())


def age(timestamp: str | None, *, now: datetime | None = None) -> str:
    """'5s', '3m', '2h', '4d' since the timestamp."""
    if not timestamp:
        return "<unknown>"
    then = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    seconds = int(((now or datetime.now(timezone.utc)) - then).total_seconds())
    seconds = max(seconds, 0)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
