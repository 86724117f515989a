"""The autoscale decision for a ContainerSet: pure, with the clock and the recommendation history passed in.

desired = ceil(current x usage / target), where usage is the members' mean CPU use in % of their
spec.cpu (one core when unset), from "cpu.cores" of the samples the kubelets serve (GET metrics/containers).
A ratio usage/target within 1 +- tolerance changes nothing; the result is kept within min..max;
scaling down goes only to the highest recommendation of the last `scaleDownStabilization`
seconds, so a short dip does not remove members that a moment later would be missed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from schemas.base import Obj

__all__ = ["Decision", "Recommendation", "cpu_percent", "decide"]


@dataclass(frozen=True)
class Recommendation:
    at: float
    replicas: int


@dataclass(frozen=True)
class Decision:
    current: int
    desired: int
    usage_percent: float | None
    target_percent: float
    message: str
    history: tuple[Recommendation, ...]


def cpu_percent(member: Obj, usage: dict[str, float] | None) -> float | None:
    """A member's CPU use in % of what it asked for, from its latest sample `usage`; None before its kubelet measured it."""
    cores = (usage or {}).get("cpu.cores")
    if cores is None:
        return None
    return 100.0 * float(cores) / float((member.get("spec") or {}).get("cpu") or 1.0)


def decide(*, current: int, usages: list[float], autoscale: Obj, history: tuple[Recommendation, ...], now: float) -> Decision:
    """How many members a set should have now, and why, in numbers."""
    low, high = int(autoscale.get("min", 1)), int(autoscale["max"])
    target = float(autoscale["targetCPUPercent"])
    tolerance = float(autoscale.get("tolerance", 0.1))
    window = float(autoscale.get("scaleDownStabilization", 300.0))

    usage = sum(usages) / len(usages) if usages else None
    unmeasured = max(0, current - len(usages))
    counted = ""
    if usage is not None and unmeasured:
        # Members with no sample yet (starting, on an unreachable node), as Kubernetes' HPA counts
        # them: idle when the measured ones ask for more (else each pass multiplied again while the
        # members added last time were still starting), at the target when they ask for fewer.
        assumed = 0.0 if usage > target else target
        usage = (sum(usages) + assumed * unmeasured) / (len(usages) + unmeasured)
        counted = f" ({unmeasured} not measured yet counted as {assumed:g}%)"
    if usage is None or current == 0:
        raw = current
        why = "no CPU metrics from the members yet" if current else "no members to measure"
    else:
        ratio = usage / target
        if abs(ratio - 1.0) <= tolerance:
            raw = current
            why = f"usage {usage:.1f}%{counted} / target {target:g}% = {ratio:.2f}, within tolerance {tolerance:g}"
        else:
            raw = math.ceil(current * ratio)
            why = f"ceil({current} x {usage:.1f}%{counted} / {target:g}%) = {raw}"
    bounded = min(high, max(low, raw))
    if bounded != raw:
        why += f", kept within {low}..{high}"
    kept = tuple(r for r in history if now - r.at < window) + (Recommendation(now, bounded),)
    desired = bounded
    if bounded < current:
        stabilized = min(current, max(r.replicas for r in kept))
        if stabilized != bounded:
            why += f"; scale-down held at {stabilized}: highest recommendation of the last {window:g}s"
        desired = stabilized
    return Decision(current=current, desired=desired, usage_percent=usage, target_percent=target, message=why, history=kept)
