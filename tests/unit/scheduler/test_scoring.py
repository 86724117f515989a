from __future__ import annotations

import random

import pytest

from scheduler import plugins
from scheduler.framework import NodeInfo, Request, schedule

GI = 2**30


def node(name: str, **kw: object) -> NodeInfo:
    base = dict(name=name, ready=True, unschedulable=False, labels={}, cpu=4.0, memory=8 * GI, disk=100 * GI, max_containers=10)
    base.update(kw)
    return NodeInfo(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("plugin", "request_", "info", "reason"),
    [
        (plugins.node_ready, Request("c"), node("n", ready=False), plugins.NODE_NOT_READY),
        (plugins.node_ready, Request("c"), node("n"), None),
        (plugins.node_schedulable, Request("c"), node("n", unschedulable=True), plugins.NODE_UNSCHEDULABLE),
        (plugins.resources_fit, Request("c", cpu=1), node("n", requested_cpu=3.5), plugins.INSUFFICIENT_CPU),
        (plugins.resources_fit, Request("c", cpu=0.5), node("n", requested_cpu=3.5), None),
        (plugins.resources_fit, Request("c", memory=4 * GI), node("n", requested_memory=5 * GI), plugins.INSUFFICIENT_MEMORY),
        (plugins.resources_fit, Request("c", disk=60 * GI), node("n", requested_disk=50 * GI), plugins.INSUFFICIENT_DISK),
        (plugins.container_capacity, Request("c"), node("n", containers=10), plugins.TOO_MANY_CONTAINERS),
        (plugins.container_capacity, Request("c"), node("n", containers=9), None),
        (plugins.node_selector, Request("c", node_selector={"zone": "a"}), node("n", labels={"zone": "b"}), plugins.NODE_SELECTOR_MISMATCH),
        (plugins.node_selector, Request("c", node_selector={"zone": "a"}), node("n", labels={"zone": "a"}), None),
    ],
    ids=["not-ready", "ready", "cordoned", "cpu-short", "cpu-fits", "memory-short", "disk-short", "full", "one-left",
         "selector-miss", "selector-hit"],
)
def test_filters(plugin, request_: Request, info: NodeInfo, reason: str | None) -> None:
    assert plugin(request_, info) == reason


@pytest.mark.parametrize(
    ("plugin", "request_", "info", "score"),
    [
        (plugins.available_cpu, Request("c", cpu=1), node("n", requested_cpu=1), 50.0),
        (plugins.available_memory, Request("c", memory=2 * GI), node("n"), 75.0),
        (plugins.available_disk, Request("c"), node("n", requested_disk=25 * GI), 75.0),
        (plugins.container_load, Request("c"), node("n", containers=4), 50.0),
        (plugins.available_cpu, Request("c", cpu=8), node("n"), 0.0),
    ],
    ids=["cpu", "memory", "disk", "load", "clamped"],
)
def test_scorers(plugin, request_: Request, info: NodeInfo, score: float) -> None:
    assert plugin(request_, info) == pytest.approx(score)


def weighted() -> dict:
    return {name: (plugins.SCORERS[name], w) for name, w in plugins.DEFAULT_WEIGHTS.items()}


def test_weighted_sum_by_hand() -> None:
    # cpu 4 with 1 requested + 1 asked -> 50; memory 8Gi, 2Gi asked -> 75; disk untouched -> 100;
    # 4 of 10 containers + 1 -> 50. 0.3*50 + 0.3*75 + 0.2*100 + 0.2*50 = 15 + 22.5 + 20 + 10 = 67.5
    decision = schedule(
        Request("c", cpu=1, memory=2 * GI),
        [node("a", requested_cpu=1, containers=4)],
        filters=plugins.DEFAULT_FILTERS,
        scorers=weighted(),
        rng=random.Random(0),
    )
    assert decision.node == "a"
    assert decision.total == pytest.approx(67.5)
    assert decision.scores == {"AvailableCPU": 50.0, "AvailableMemory": 75.0, "AvailableDisk": 100.0, "ContainerLoad": 50.0}


def test_highest_score_wins_and_runners_up_are_recorded() -> None:
    decision = schedule(
        Request("c", memory=1 * GI),
        [node("busy", requested_memory=6 * GI), node("idle"), node("half", requested_memory=4 * GI)],
        filters=plugins.DEFAULT_FILTERS,
        scorers=weighted(),
        rng=random.Random(0),
    )
    assert decision.node == "idle"
    assert [name for name, _ in decision.runners_up] == ["half", "busy"]


def test_nothing_fits_counts_reasons_node_by_node() -> None:
    decision = schedule(
        Request("c", memory=16 * GI),
        [node("a"), node("b"), node("c", ready=False)],
        filters=plugins.DEFAULT_FILTERS,
        scorers=weighted(),
        rng=random.Random(0),
    )
    assert decision.node is None
    assert decision.message == "0/3 nodes are available: 2 insufficient memory, 1 node not ready."


def test_ties_are_broken_by_the_seed() -> None:
    nodes = [node(f"n{i}") for i in range(5)]
    pick = lambda seed: schedule(Request("c"), nodes, filters=plugins.DEFAULT_FILTERS, scorers=weighted(), rng=random.Random(seed)).node  # noqa: E731
    assert pick(7) == pick(7)
    assert len({pick(seed) for seed in range(20)}) > 1
