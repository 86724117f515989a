"""All terminal output of the CLI goes through here: tables, YAML, JSON and one-line errors."""
from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from typing import Any

from schemas.quantity import format_bytes

__all__ = [
    "human_bytes",
    "LiveTable",
    "age",
    "error",
    "format_table",
    "is_terminal",
    "note",
    "out",
    "print_json",
    "print_table",
    "print_yaml",
    "progress",
    "raw",
    "warn",
]


def out(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def raw(text: str) -> None:
    """Text exactly as given (a diff, a schema), with no newline added."""
    sys.stdout.write(text)
    sys.stdout.flush()


def error(message: str) -> None:
    sys.stderr.write(f"error: {message}\n")
    sys.stderr.flush()


def print_json(data: Any) -> None:
    out(json.dumps(data, indent=2, sort_keys=False))


def print_yaml(data: Any) -> None:
    import yaml  # here, not at the top: a table needs no YAML

    if isinstance(data, list):
        sys.stdout.write(yaml.safe_dump_all(data, sort_keys=False))
    else:
        sys.stdout.write(yaml.safe_dump(data, sort_keys=False))
    sys.stdout.flush()


def note(message: str) -> None:
    """A remark on stderr that is not an error (the exit code stays 0): `no containers found`."""
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def warn(message: str) -> None:
    sys.stderr.write(f"warning: {message}\n")
    sys.stderr.flush()


def is_terminal() -> bool:
    """True when stdout is a terminal: live displays then update in place, otherwise they stream lines."""
    return sys.stdout.isatty()


def format_table(headers: list[str], rows: list[list[str]], *, indent: str = "") -> list[str]:
    """kubectl-style columns: upper-case headers, left-aligned, three spaces apart."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row)]
    return [indent + "   ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip() for line in [headers, *rows]]


def print_table(headers: list[str], rows: list[list[str]], *, indent: str = "") -> None:
    for line in format_table(headers, rows, indent=indent):
        out(line)


class LiveTable:
    """A table that redraws in place on a terminal (rich) and, when piped, prints each changed row as a line."""

    def __init__(self, headers: list[str]) -> None:
        self.headers = headers
        self.rows: dict[str, list[str]] = {}
        self._live: Any = None
        self._widths = [len(h) for h in headers]

    def __enter__(self) -> LiveTable:
        if is_terminal():
            from rich.live import Live

            self._live = Live(self._render(), auto_refresh=False, transient=False)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)

    def _render(self) -> Any:
        from rich.table import Table

        table = Table(box=None, pad_edge=False, show_edge=False, padding=(0, 3, 0, 0))
        for header in self.headers:
            table.add_column(header, no_wrap=True)
        for row in self.rows.values():
            table.add_row(*row)
        return table

    def start(self, rows: list[list[str]]) -> None:
        """The first full table; piped, the header and every row once, like `kubectl get -w`."""
        self.rows = {row[0]: row for row in rows}
        if self._live is not None:
            self._live.update(self._render(), refresh=True)
            return
        for row in [self.headers, *rows]:
            self._widths = [max(w, len(c)) for w, c in zip(self._widths, row)]
        for line in format_table(self.headers, rows):
            out(line)

    def update(self, row: list[str] | None, *, key: str) -> None:
        """A row changed (or, with None, went away)."""
        if row is None:
            self.rows.pop(key, None)
        else:
            self.rows[key] = row
        if self._live is not None:
            self._live.update(self._render(), refresh=True)
            return
        if row is not None:
            self._widths = [max(w, len(c)) for w, c in zip(self._widths, row)]
            out("   ".join(c.ljust(w) for c, w in zip(row, self._widths)).rstrip())


class progress:  # noqa: N801 - used like a function in a with statement
    """Progress of a wait: a rich status line on a terminal, one line per change when piped."""

    def __init__(self, title: str, *, prefix: str = "") -> None:
        self.title = title
        self.prefix = prefix
        self._status: Any = None
        self._last = ""

    def __enter__(self) -> progress:
        if is_terminal():
            from rich.console import Console

            self._status = Console(stderr=True).status(self.title)
            self._status.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._status is not None:
            self._status.__exit__(None, None, None)

    def update(self, text: str) -> None:
        if text == self._last:
            return
        self._last = text
        if self._status is not None:
            self._status.update(f"{self.title}: {text}")
        else:
            out(f"{self.prefix} {text}" if self.prefix else text)


def human_bytes(value: int | float | None) -> str:
    """Bytes for a table: exact binary units when they fit, else one decimal of the largest."""
    if not value:
        return "-"
    exact = format_bytes(int(value))
    if len(exact) <= 6:
        return exact
    for unit, size in (("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
        if value >= size:
            return f"{value / size:.1f}{unit}"
    return f"{int(value)}B"


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
