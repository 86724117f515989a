"""Usage kept in the kubelet's memory, never in etcd: a short history ring per container, and when the Node's coarse summary is due.

The sampler records every sample here; the stream server answers the apiserver's metrics requests
from it (kubelet/statsroutes.py). The Node object carries only a coarse usage summary, written when
it moved by a lot or has grown old (`status_due`), so an idle node writes next to nothing.
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from schemas.base import Obj

__all__ = ["SUMMARY_STEP", "Point", "UsageHistory", "history_length", "status_due"]

Point = tuple[float, float | None, float | None]  # unix time, cpu cores, memory bytes


def history_length(window: float, interval: float, *, cap: int = 3600) -> int:
    """How many points cover `window` seconds at one per `interval` (at least 2, at most `cap`)."""
    if interval <= 0:
        return 2
    return max(2, min(cap, math.ceil(window / interval) + 1))


@dataclass
class UsageHistory:
    """Per container: the latest full sample (flat dotted keys, with rates) and a ring of (time, cpu, memory)."""

    window: float = 3600.0
    length: int = 121
    latest: dict[str, tuple[float, dict[str, float]]] = field(default_factory=dict)
    points: dict[str, deque[Point]] = field(default_factory=dict)

    def record(self, name: str, when: float, sample: dict[str, float]) -> None:
        self.latest[name] = (when, sample)
        ring = self.points.get(name)
        if ring is None:
            ring = self.points[name] = deque(maxlen=self.length)
        if ring and when <= ring[-1][0]:
            return  # a clock step back: keep the ring in time order
        ring.append((when, sample.get("cpu.cores"), sample.get("memory.bytes")))

    def forget(self, names: set[str]) -> None:
        for name in names:
            self.latest.pop(name, None)
            self.points.pop(name, None)

    def series(self, name: str, *, now: float) -> list[Point]:
        """The points of the last `window` seconds, oldest first."""
        return [p for p in self.points.get(name, ()) if p[0] >= now - self.window]


# A summary moves "by a lot" when one of these moves by this share of the node's capacity.
SUMMARY_STEP = {"cpu": 0.25, "memory": 0.10, "disk": 0.05}
# Fields of a Node status that change at every look without meaning a change of state.
_VOLATILE = ("lastHeartbeatTime", "usage", "conditions")


def _conditions(status: Obj) -> list[tuple[object, ...]]:
    return sorted((c.get("type"), c.get("status"), c.get("reason"), c.get("message")) for c in status.get("conditions") or [])


def _seconds(stamp: object) -> float | None:
    from datetime import datetime

    if not isinstance(stamp, str):
        return None
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def status_due(stored: Obj | None, new: Obj, *, now: float, max_age: float) -> str | None:
    """Why the Node's status should be written now (None: it need not be). `stored` is the status in
    the API, `new` the one just computed, `now` unix seconds. Due when: none stored; anything but the
    usage and the stamps differs (conditions someone else set included); the stored one is older than
    `max_age` seconds; or usage moved by its SUMMARY_STEP share of capacity (or the container count moved)."""
    if not stored:
        return "not posted yet"
    if {k: v for k, v in stored.items() if k not in _VOLATILE} != {k: v for k, v in new.items() if k not in _VOLATILE}:
        return "status changed"
    if _conditions(stored) != _conditions(new):
        return "conditions changed"
    written = _seconds(stored.get("lastHeartbeatTime"))
    if written is None or now - written >= max_age:
        return f"older than {max_age:g}s"
    old, cur, capacity = stored.get("usage") or {}, new.get("usage") or {}, new.get("capacity") or {}
    if old.get("containers") != cur.get("containers"):
        return "container count changed"
    for key, step in SUMMARY_STEP.items():
        total = float(capacity.get(key) or 0)
        if total > 0 and abs(float(cur.get(key) or 0) - float(old.get(key) or 0)) >= step * total:
            return f"{key} usage moved by {step:.0%} of capacity or more"
    return None
