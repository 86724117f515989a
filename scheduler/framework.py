"""The scheduling framework: run filter plugins, weigh and sum score plugins, explain the choice.

Filters answer None (fits) or a reason constant; scorers answer 0-100. The framework, not
the plugins, applies the weights, so a user can change them without touching a plugin.
"""
from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

__all__ = ["Decision", "NodeInfo", "Request", "ScorePlugin", "FilterPlugin", "schedule", "unschedulable_message"]


@dataclass(frozen=True)
class Request:
    """What a container asks of a node."""

    name: str
    cpu: float = 0.0
    memory: int = 0
    disk: int = 0
    node_selector: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class NodeInfo:
    """A node as the scheduler sees it: allocatable and what bound containers already request."""

    name: str
    ready: bool
    unschedulable: bool
    labels: Mapping[str, str]
    cpu: float  # allocatable cores
    memory: int  # allocatable bytes
    disk: int
    max_containers: int
    requested_cpu: float = 0.0
    requested_memory: int = 0
    requested_disk: int = 0
    containers: int = 0


FilterPlugin = Callable[[Request, NodeInfo], "str | None"]
ScorePlugin = Callable[[Request, NodeInfo], float]


@dataclass(frozen=True)
class Decision:
    node: str | None
    total: float = 0.0
    scores: Mapping[str, float] = field(default_factory=dict)  # per plugin, before weighting
    runners_up: tuple[tuple[str, float], ...] = ()
    rejected: Mapping[str, str] = field(default_factory=dict)  # node -> reason
    message: str = ""


def unschedulable_message(total: int, rejected: Mapping[str, str]) -> str:
    """'0/3 nodes are available: 2 insufficient memory, 1 node not ready.'"""
    counts = Counter(rejected.values())
    reasons = ", ".join(f"{n} {reason}" for reason, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    if total == 0:
        return "0/0 nodes are available: no nodes registered."
    return f"0/{total} nodes are available: {reasons}."


def schedule(
    request: Request,
    nodes: Sequence[NodeInfo],
    *,
    filters: Mapping[str, FilterPlugin],
    scorers: Mapping[str, tuple[ScorePlugin, float]],
    rng: random.Random,
) -> Decision:
    """Pick the feasible node with the highest weighted score; ties go to a seeded random choice."""
    rejected: dict[str, str] = {}
    feasible: list[NodeInfo] = []
    for node in nodes:
        for plugin in filters.values():
            reason = plugin(request, node)
            if reason is not None:
                rejected[node.name] = reason
                break
        else:
            feasible.append(node)
    if not feasible:
        return Decision(None, rejected=rejected, message=unschedulable_message(len(nodes), rejected))
    weight_sum = sum(weight for _, weight in scorers.values()) or 1.0
    ranked: list[tuple[float, str, dict[str, float]]] = []
    for node in feasible:
        per_plugin = {name: max(0.0, min(100.0, fn(request, node))) for name, (fn, _) in scorers.items()}
        total = sum(per_plugin[name] * weight for name, (_, weight) in scorers.items()) / weight_sum
        ranked.append((round(total, 6), node.name, per_plugin))
    best = max(total for total, _, _ in ranked)
    tied = sorted(entry for entry in ranked if entry[0] == best)
    total, chosen, per_plugin = tied[rng.randrange(len(tied))] if len(tied) > 1 else tied[0]
    others = sorted(((t, n) for t, n, _ in ranked if n != chosen), reverse=True)[:3]
    return Decision(
        chosen,
        total=total,
        scores=per_plugin,
        runners_up=tuple((n, t) for t, n in others),
        rejected=rejected,
        message=f"node {chosen} scored {total:.1f}",
    )
