"""The autoscale decision: tolerance, min/max and the scale-down stabilization window, on a fake clock."""
from __future__ import annotations

import pytest

from controller.autoscale import Recommendation, cpu_percent, decide

SPEC = {"min": 1, "max": 10, "targetCPUPercent": 50.0, "tolerance": 0.1, "scaleDownStabilization": 300.0}


@pytest.mark.parametrize(
    ("current", "usages", "desired", "message"),
    [
        (2, [100.0, 100.0], 4, "ceil(2 x 100.0% / 50%) = 4"),
        (3, [80.0] * 3, 5, "ceil(3 x 80.0% / 50%) = 5"),
        (4, [54.0] * 4, 4, "usage 54.0% / target 50% = 1.08, within tolerance 0.1"),
        (4, [46.0] * 4, 4, "usage 46.0% / target 50% = 0.92, within tolerance 0.1"),
        (4, [56.0] * 4, 5, "ceil(4 x 56.0% / 50%) = 5"),
        (5, [500.0] * 5, 10, "ceil(5 x 500.0% / 50%) = 50, kept within 1..10"),
        (3, [], 3, "no CPU metrics from the members yet"),
        (0, [], 1, "no members to measure, kept within 1..10"),
        # The two added last pass are still starting: they count as idle, or each pass doubled again.
        (4, [100.0, 100.0], 4, "usage 50.0% (2 not measured yet counted as 0%) / target 50% = 1.00, within tolerance 0.1"),
        (4, [100.0, 100.0, 100.0], 6, "ceil(4 x 75.0% (1 not measured yet counted as 0%) / 50%) = 6"),
        # Scaling down, one whose node did not answer counts at the target: no cut on half the facts.
        (4, [10.0, 10.0], 3, "ceil(4 x 30.0% (2 not measured yet counted as 50%) / 50%) = 3"),
    ],
    ids=["double", "up-rounds-up", "inside-tolerance-above", "inside-tolerance-below", "just-outside", "max", "no-metrics", "below-min",
         "up-while-the-new-start", "up-counting-the-unmeasured-idle", "down-counting-the-unmeasured-at-target"],
)
def test_decisions_without_history(current: int, usages: list[float], desired: int, message: str) -> None:
    decision = decide(current=current, usages=usages, autoscale=SPEC, history=(), now=1000.0)
    assert (decision.desired, decision.message) == (desired, message)


def test_scale_down_waits_for_the_window() -> None:
    """Load drops at t=0; replicas stay at the highest recommendation of the last 300 s, then fall."""
    history: tuple[Recommendation, ...] = ()
    seen = []
    for now, usage in ((0.0, 100.0), (15.0, 10.0), (150.0, 10.0), (299.0, 10.0), (300.0, 10.0), (315.0, 10.0)):
        decision = decide(current=4, usages=[usage] * 4, autoscale=SPEC, history=history, now=now)
        history = decision.history
        seen.append(decision.desired)
    # 100% wants 8 (capped at current 4 when scaling down is held), 10% of 50% wants 1.
    assert seen == [8, 4, 4, 4, 1, 1]
    assert decision.message == "ceil(4 x 10.0% / 50%) = 1"


def test_held_scale_down_says_why() -> None:
    history = (Recommendation(100.0, 3),)
    decision = decide(current=4, usages=[10.0] * 4, autoscale=SPEC, history=history, now=200.0)
    assert decision.desired == 3
    assert decision.message == "ceil(4 x 10.0% / 50%) = 1; scale-down held at 3: highest recommendation of the last 300s"
    assert decision.history == (Recommendation(100.0, 3), Recommendation(200.0, 1))


def test_min_holds_the_floor() -> None:
    spec = {**SPEC, "min": 2, "scaleDownStabilization": 0.0}
    assert decide(current=5, usages=[1.0] * 5, autoscale=spec, history=(), now=0.0).desired == 2


@pytest.mark.parametrize(
    ("member", "usage", "percent"),
    [
        ({"spec": {"cpu": 0.5}}, {"cpu.cores": 0.25}, 50.0),
        ({"spec": {}}, {"cpu.cores": 0.3}, 30.0),
        ({"spec": {"cpu": 2}}, {}, None),
        ({"spec": {"cpu": 2}}, None, None),
    ],
    ids=["of-request", "of-one-core", "not-measured", "no-sample"],
)
def test_cpu_percent(member: dict, usage: dict | None, percent: float | None) -> None:
    assert cpu_percent(member, usage) == percent
