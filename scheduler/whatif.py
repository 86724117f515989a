"""Placement without binding: the scheduler's own filters and scorers run on a snapshot of nodes and
containers, for `dlxc explain-placement` and for picking the target of a move or drain."""
from __future__ import annotations

import random

from scheduler.cache import SchedulerCache, request_of
from scheduler.config import SchedulerSettings
from scheduler.framework import Decision, schedule
from schemas.base import Obj

__all__ = ["explain"]


def explain(nodes: list[Obj], containers: list[Obj], wanted: list[Obj], settings: SchedulerSettings) -> list[Decision]:
    """The decisions for `wanted`, in order, on a cluster of `nodes` running `containers` (a container
    of `wanted` does not count where it runs now); each placed one counts against its node for the next."""
    cache = SchedulerCache()
    for node in nodes:
        cache.update_node(node)
    replaced = {c["metadata"]["name"] for c in wanted}
    for container in containers:
        name = container["metadata"]["name"]
        if name not in replaced:
            cache.update_container(name, container)
    rng = random.Random(settings.seed)
    decisions = []
    for container in wanted:
        request = request_of(container)
        decision = schedule(
            request, cache.table, filters=settings.filter_plugins(), scorers=settings.score_plugins(), rng=rng,
            runners_up=settings.runners_up,
        )
        if decision.node is not None:
            cache.assume(request.name, decision.node, request)
        decisions.append(decision)
    return decisions
