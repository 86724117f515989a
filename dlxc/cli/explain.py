"""`dlxc explain container.spec.memory`: a field's type, default and documentation, from the models."""
from __future__ import annotations

import typer

from dlxc.apply.schemadoc import explain as explain_field
from dlxc.cli import console
from dlxc.cli.common import fail

__all__ = ["explain", "explain_lines"]


def explain_lines(path: str) -> list[str]:
    doc = explain_field(path)
    lines = [f"FIELD:       {doc.path}", f"TYPE:        {doc.type}"]
    if doc.default is not None:
        lines.append(f"DEFAULT:     {doc.default}")
    lines.append(f"DESCRIPTION: {doc.description or '-'}")
    if doc.fields:
        lines.append("FIELDS:")
        lines += console.format_table(["NAME", "TYPE", "DESCRIPTION"], [list(f) for f in doc.fields], indent="  ")[1:]
    return lines


def explain(path: str = typer.Argument(..., help="kind[.field...], e.g. container.spec.memory")) -> None:
    """Document a kind or one of its fields."""
    try:
        lines = explain_lines(path)
    except KeyError as exc:
        fail(str(exc.args[0]))
    for line in lines:
        console.out(line)
