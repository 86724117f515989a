from __future__ import annotations

import pytest
from sched_builders import GI, node

from scheduler import plugins
from scheduler.framework import filter_one, score_one
from scheduler.nodetable import Request

F = plugins.FILTERS
S = plugins.SCORERS


@pytest.mark.parametrize(
    ("plugin", "request_", "info", "reason"),
    [
        (F["NodeReady"], Request("c"), node("n", ready=False), plugins.NODE_NOT_READY),
        (F["NodeReady"], Request("c"), node("n"), None),
        (F["NodeSchedulable"], Request("c"), node("n", unschedulable=True), plugins.NODE_UNSCHEDULABLE),
        (F["NodeSchedulable"], Request("c"), node("n"), None),
        (F["ResourcesFit"], Request("c", cpu=1), node("n", requested_cpu=3.5), plugins.INSUFFICIENT_CPU),
        (F["ResourcesFit"], Request("c", cpu=0.5), node("n", requested_cpu=3.5), None),
        (F["ResourcesFit"], Request("c", cpu=0.1), node("n", cpu=0.3, requested_cpu=0.1 + 0.1), None),
        (F["ResourcesFit"], Request("c", memory=4 * GI), node("n", requested_memory=5 * GI), plugins.INSUFFICIENT_MEMORY),
        (F["ResourcesFit"], Request("c", memory=3 * GI), node("n", requested_memory=5 * GI), None),
        (F["ResourcesFit"], Request("c", disk=60 * GI), node("n", requested_disk=50 * GI), plugins.INSUFFICIENT_DISK),
        (F["ResourcesFit"], Request("c", cpu=9, memory=9 * GI), node("n"), plugins.INSUFFICIENT_CPU),
        (F["ResourcesFit"], Request("c", memory=9 * GI, disk=200 * GI), node("n"), plugins.INSUFFICIENT_MEMORY),
        (F["ResourcesFit"], Request("c"), node("n", requested_cpu=9, requested_memory=9 * GI), None),
        (F["ContainerCapacity"], Request("c"), node("n", containers=10), plugins.TOO_MANY_CONTAINERS),
        (F["ContainerCapacity"], Request("c"), node("n", containers=9), None),
        (F["ContainerCapacity"], Request("c"), node("n", max_containers=0), plugins.TOO_MANY_CONTAINERS),
        (F["NodeSelector"], Request("c", node_selector={"zone": "a"}), node("n", labels={"zone": "b"}), plugins.NODE_SELECTOR_MISMATCH),
        (F["NodeSelector"], Request("c", node_selector={"zone": "a"}), node("n", labels={}), plugins.NODE_SELECTOR_MISMATCH),
        (F["NodeSelector"], Request("c", node_selector={"zone": "a"}), node("n", labels={"zone": "a", "x": "y"}), None),
        (F["NodeSelector"], Request("c"), node("n", labels={"zone": "a"}), None),
        (F["AntiAffinity"], Request("c", group="web"), node("n", groups={"web": 1}), plugins.ANTI_AFFINITY_CONFLICT),
        (F["AntiAffinity"], Request("c", group="web"), node("n", groups={"db": 2}), None),
        (F["AntiAffinity"], Request("c", group="web", group_mode="preferred"), node("n", groups={"web": 1}), None),
        (F["AntiAffinity"], Request("c"), node("n", groups={"web": 1}), None),
    ],
    ids=[
        "not-ready", "ready", "cordoned", "uncordoned", "cpu-short", "cpu-fits", "cpu-float-sum-fits",
        "memory-short", "memory-fits", "disk-short", "cpu-reported-before-memory", "memory-reported-before-disk",
        "no-request-always-fits",
        "full", "one-left", "no-capacity", "selector-other-value", "selector-missing-label", "selector-hit",
        "no-selector", "group-member-present", "other-group-present", "preferred-is-not-a-filter", "no-group",
    ],
)
def test_filters(plugin, request_: Request, info, reason: str | None) -> None:
    assert filter_one(plugin, request_, info) == reason


@pytest.mark.parametrize(
    ("plugin", "request_", "info", "score"),
    [
        (S["AvailableCPU"], Request("c", cpu=1), node("n", requested_cpu=1), 50.0),
        (S["AvailableCPU"], Request("c", cpu=8), node("n"), 0.0),
        (S["AvailableCPU"], Request("c"), node("n", cpu=0), 0.0),
        (S["AvailableCPU"], Request("c"), node("n", cpu=2, requested_cpu=3), 0.0),  # overcommitted: clamped at 0
        (S["AvailableMemory"], Request("c", memory=2 * GI), node("n"), 75.0),
        (S["AvailableMemory"], Request("c", memory=1 * GI), node("n", requested_memory=3 * GI), 50.0),
        (S["AvailableDisk"], Request("c"), node("n", requested_disk=25 * GI), 75.0),
        (S["AvailableDisk"], Request("c", disk=10 * GI), node("n", requested_disk=40 * GI), 50.0),
        (S["ContainerLoad"], Request("c"), node("n", containers=4), 50.0),
        (S["ContainerLoad"], Request("c"), node("n", containers=9), 0.0),
        (S["AntiAffinitySpread"], Request("c", group="g", group_mode="preferred"), node("n"), 100.0),
        (S["AntiAffinitySpread"], Request("c", group="g", group_mode="preferred"), node("n", groups={"g": 1}), 50.0),
        (S["AntiAffinitySpread"], Request("c", group="g", group_mode="preferred"), node("n", groups={"g": 3}), 25.0),
        (S["AntiAffinitySpread"], Request("c", group="g"), node("n", groups={"g": 1}), None),
        (S["AntiAffinitySpread"], Request("c"), node("n"), None),
    ],
    ids=[
        "cpu-half", "cpu-clamped", "cpu-none-allocatable", "cpu-overcommitted", "memory", "memory-half", "disk-used", "disk-asked",
        "load-half", "load-last-slot", "spread-empty", "spread-one", "spread-three", "spread-required-not-scored",
        "spread-no-group",
    ],
)
def test_scorers(plugin, request_: Request, info, score: float | None) -> None:
    got = score_one(plugin, request_, info)
    assert got == (None if score is None else pytest.approx(score))
