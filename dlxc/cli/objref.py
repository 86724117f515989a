"""`KIND/NAME` or `KIND NAME` on the command line, as kubectl takes them; no client imports, so verbs load fast."""
from __future__ import annotations

from typing import Any

from dlxc.cli import console

__all__ = ["ObjRef", "parse_ref"]


class ObjRef:
    """One object named on the command line: its kind and name, and `kind/name` for messages."""

    def __init__(self, kind: Any, name: str) -> None:
        self.kind = kind
        self.name = name

    @property
    def plural(self) -> str:
        return str(self.kind.plural)

    def __str__(self) -> str:
        return f"{self.kind.name.lower()}/{self.name}"


def parse_ref(args: list[str]) -> tuple[ObjRef, list[str]]:
    """The object from `KIND/NAME ...` or `KIND NAME ...`, and the arguments after it; exit 1 with a clear error otherwise."""
    import typer

    from schemas import kind_for_plural

    if not args:
        console.error("give KIND/NAME, e.g. container/web or node/n1")
        raise typer.Exit(1)
    first, rest = args[0], args[1:]
    if "/" in first:
        kind_word, _, name = first.partition("/")
    elif rest:
        kind_word, name, rest = first, rest[0], rest[1:]
    else:
        kind_word, name = first, ""
    try:
        kind = kind_for_plural(kind_word)
    except KeyError:
        console.error(f"unknown kind {kind_word!r} in {first!r}; use container/NAME or node/NAME")
        raise typer.Exit(1) from None
    if not name:
        console.error(f"{first!r}: give KIND/NAME, e.g. container/web")
        raise typer.Exit(1)
    return ObjRef(kind, name), rest
