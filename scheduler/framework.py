"""The scheduling framework: run filter plugins, weigh and sum score plugins, explain the choice.

Plugins answer for every node at once, over the columns of a NodeTable (numpy arrays), so a
5,000-node cluster costs a handful of array operations per container instead of 5,000 Python
calls per plugin. A filter answers, per node, 0 (fits) or k, meaning its k-th reason constant; a
scorer answers 0-100 per node, or None when it has nothing to say about the request (the
anti-affinity spread for a container without a group), and then its weight drops out of the sum.
The framework, not the plugins, applies the weights, so a user can change them without touching a
plugin; it normalises by the weights in use, so a total is also 0-100.
"""
from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from scheduler.nodetable import NodeInfo, NodeTable, Request

__all__ = [
    "Candidate",
    "Decision",
    "Filter",
    "Scorer",
    "filter_one",
    "schedule",
    "score_one",
    "unschedulable_message",
]

# How many rejected nodes a decision names one by one (the counts always cover every node).
NAMED_REJECTIONS = 50


@dataclass(frozen=True)
class Filter:
    """A named feasibility check: `run` gives 0 (fits) or k (reasons[k-1]) for each node of the table."""

    name: str
    reasons: tuple[str, ...]
    run: Callable[[Request, NodeTable], np.ndarray]


@dataclass(frozen=True)
class Scorer:
    """A named preference: `run` gives 0-100 for each node of the table, or None when it does not apply."""

    name: str
    run: Callable[[Request, NodeTable], np.ndarray | None]


@dataclass(frozen=True)
class Candidate:
    node: str
    total: float
    scores: Mapping[str, float]  # per plugin, 0-100, before weighting


@dataclass(frozen=True)
class Decision:
    """The outcome for one container: the node (or None), why, and what else was close."""

    node: str | None
    total: float = 0.0
    scores: Mapping[str, float] = field(default_factory=dict)
    weights: Mapping[str, float] = field(default_factory=dict)  # the weights of the scorers that applied
    runners_up: tuple[Candidate, ...] = ()
    nodes: int = 0
    feasible: int = 0
    rejected: Mapping[str, int] = field(default_factory=dict)  # reason -> how many nodes
    rejected_nodes: tuple[tuple[str, str], ...] = ()  # (node, reason): the first NAMED_REJECTIONS by name
    message: str = ""


def unschedulable_message(total: int, rejected: Mapping[str, int]) -> str:
    """'0/3 nodes are available: 2 insufficient memory, 1 node not ready.'"""
    if total == 0:
        return "0/0 nodes are available: no nodes registered."
    reasons = ", ".join(_counted(n, reason) for reason, n in sorted(rejected.items(), key=lambda kv: (-kv[1], kv[0])))
    return f"0/{total} nodes are available: {reasons}."


def _counted(n: int, reason: str) -> str:
    """'1 node not ready', '2 nodes not ready'; reasons that do not start with 'node' read right as they are."""
    if n != 1 and reason.startswith("node ") and not reason.startswith("node selector"):
        reason = "nodes " + reason.removeprefix("node ")
    return f"{n} {reason}"


def filter_one(plugin: Filter, request: Request, node: NodeInfo) -> str | None:
    """One filter on one node: None when it fits, else the reason constant (for tables of cases)."""
    code = int(plugin.run(request, NodeTable.of([node]))[0])
    return None if code == 0 else plugin.reasons[code - 1]


def score_one(plugin: Scorer, request: Request, node: NodeInfo) -> float | None:
    """One scorer on one node (for tables of cases)."""
    scores = plugin.run(request, NodeTable.of([node]))
    return None if scores is None else float(scores[0])


def _reasons(request: Request, table: NodeTable, filters: Sequence[Filter]) -> tuple[np.ndarray, list[str]]:
    """Per node, 0 or the 1-based index into the returned list of the first filter reason that failed."""
    reason = np.zeros(table.n, dtype=np.int32)
    labels: list[str] = []
    offsets = []
    for plugin in filters:
        offsets.append(len(labels))
        labels.extend(plugin.reasons)
    # The first failing filter names the node's reason, as the order of the pipeline says: the filters
    # are written last to first, so an earlier one's reason overwrites a later one's.
    for plugin, offset in zip(reversed(filters), reversed(offsets)):
        codes = np.asarray(plugin.run(request, table), dtype=np.int32)
        np.copyto(reason, codes + offset, where=codes > 0)
    return reason, labels


def schedule(
    request: Request,
    table: NodeTable,
    *,
    filters: Sequence[Filter],
    scorers: Mapping[str, tuple[Scorer, float]],
    rng: random.Random,
    runners_up: int = 3,
) -> Decision:
    """Pick the feasible node with the highest weighted score; ties go to a seeded random choice.

    Tied nodes are ordered by name before the draw, so the same cluster, request and seed give the
    same node whatever order the nodes arrived in.
    """
    n = table.n
    if n == 0:
        return Decision(None, message=unschedulable_message(0, {}))
    reason, labels = _reasons(request, table, filters)
    feasible = np.flatnonzero(reason == 0)
    rejected_rows = np.flatnonzero(reason != 0)
    counts = np.bincount(reason[rejected_rows], minlength=len(labels) + 1)
    rejected: dict[str, int] = {}
    for index, count in enumerate(counts[1:], start=1):
        if count:
            label = labels[index - 1]
            rejected[label] = rejected.get(label, 0) + int(count)
    first_by_name = rejected_rows
    if rejected_rows.size > NAMED_REJECTIONS:
        ranks = table.name_ranks()[rejected_rows]
        first_by_name = rejected_rows[np.argpartition(ranks, NAMED_REJECTIONS - 1)[:NAMED_REJECTIONS]]
    rejected_nodes = tuple(sorted((table.names[row], labels[reason[row] - 1]) for row in first_by_name))
    if feasible.size == 0:
        return Decision(
            None, nodes=n, rejected=rejected, rejected_nodes=rejected_nodes,
            message=unschedulable_message(n, rejected),
        )

    per_plugin: dict[str, np.ndarray] = {}
    weights: dict[str, float] = {}
    every_node_fits = feasible.size == n  # the common case: no row to pick out of each score column
    for name, (plugin, weight) in scorers.items():
        if weight <= 0:
            continue
        scores = plugin.run(request, table)
        if scores is None:
            continue
        scores = np.asarray(scores, dtype=np.float64)
        per_plugin[name] = np.minimum(np.maximum(scores if every_node_fits else scores[feasible], 0.0), 100.0)  # np.clip
        weights[name] = weight
    weight_sum = sum(weights.values())
    total = np.zeros(feasible.size)
    for name, scores in per_plugin.items():
        total += scores * weights[name]
    if weight_sum:
        total /= weight_sum
    # Rounding first makes equal scores equal despite float noise, so ties are real ties.
    total = np.round(total, 6)

    ranks = table.name_ranks()  # by table row: row feasible[i] is candidate i
    best = total.max()
    tied = np.flatnonzero(total == best)
    if tied.size > 1:
        tied = tied[np.argsort(ranks[feasible[tied]])]
        pick = int(tied[rng.randrange(tied.size)])
    else:
        pick = int(tied[0])

    def candidate(i: int) -> Candidate:
        return Candidate(
            table.names[feasible[i]],
            float(total[i]),
            {name: round(float(scores[i]), 6) for name, scores in per_plugin.items()},
        )

    others: list[int] = []
    if runners_up > 0 and feasible.size > 1:
        keep = min(runners_up + 1, feasible.size)
        top = np.argpartition(-total, keep - 1)[:keep] if feasible.size > keep else np.arange(feasible.size)
        # Highest total first, then by name, as a user reading the list expects.
        top = top[np.lexsort((ranks[feasible[top]], -total[top]))]
        others = [int(i) for i in top if i != pick][:runners_up]
    chosen = candidate(pick)
    return Decision(
        chosen.node,
        total=chosen.total,
        scores=chosen.scores,
        weights=weights,
        runners_up=tuple(candidate(i) for i in others),
        nodes=n,
        feasible=int(feasible.size),
        rejected=rejected,
        rejected_nodes=rejected_nodes,
        message=f"node {chosen.node} scored {chosen.total:.1f} of 100 ({int(feasible.size)}/{n} nodes fit)",
    )
