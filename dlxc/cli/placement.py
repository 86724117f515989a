"""A container's `status.placement` as lines a person reads, for `describe` and `explain-placement`.

Its own module so that `dlxc describe` shows a placement without importing the scheduler (numpy).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from schemas.base import Obj

__all__ = ["placement_lines"]


def _fmt(value: float) -> str:
    return f"{value:.1f}"


def _columns(rows: list[list[str]]) -> list[str]:
    """Rows as kubectl-style columns, three spaces apart (as console.print_table lays them out)."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["   ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]


def placement_lines(placement: Obj) -> list[str]:
    """A `status.placement` as lines a person reads: the outcome, then each node weighed, plugin by plugin.

    `dlxc explain-placement` prints these; `dlxc describe container` can show the same under a heading.
    """
    node = placement.get("node")
    if not node:
        return [f"fits nowhere: {placement.get('message', '')}"]
    scores, weights = placement.get("scores") or {}, placement.get("weights") or {}
    plugins = list(scores)
    rows = [["NODE", "TOTAL", *(f"{p}({weights.get(p, 0):g})" for p in plugins)]]
    rows.append([f"{node} (chosen)", _fmt(placement.get("total", 0.0)), *(_fmt(scores[p]) for p in plugins)])
    for other in placement.get("runnersUp") or []:
        other_scores = other.get("scores") or {}
        rows.append([other["node"], _fmt(other["total"]), *(_fmt(other_scores.get(p, 0.0)) for p in plugins)])
    return [placement.get("message", ""), *_columns(rows)]
