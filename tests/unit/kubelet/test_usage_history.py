"""The kubelet's in-memory usage: the history ring and when the Node's coarse summary is due."""
from __future__ import annotations

import pytest

from kubelet.usage import UsageHistory, history_length, status_due


@pytest.mark.parametrize(
    ("window", "interval", "expected"),
    [(3600, 30, 121), (3600, 1, 3600), (60, 0, 2), (10, 30, 2)],
    ids=["default", "capped", "no-interval", "window-below-interval"],
)
def test_history_length(window: float, interval: float, expected: int) -> None:
    assert history_length(window, interval) == expected


def test_ring_keeps_the_newest_points_in_time_order_and_forgets_gone_containers() -> None:
    history = UsageHistory(window=100, length=3)
    for t in (10, 20, 30, 40):
        history.record("web", t, {"cpu.cores": t / 100, "memory.bytes": t * 1000, "processes": 1})
    history.record("web", 35, {"cpu.cores": 9.0})  # a clock step back: the latest sample, but no point out of order
    history.record("db", 40, {"memory.bytes": 5.0})
    assert history.latest["web"] == (35, {"cpu.cores": 9.0})
    assert list(history.points["web"]) == [(20, 0.2, 20000), (30, 0.3, 30000), (40, 0.4, 40000)]
    assert history.series("web", now=125) == [(30, 0.3, 30000), (40, 0.4, 40000)]  # the window: the last 100 s
    assert history.series("db", now=40) == [(40, None, 5.0)]
    history.forget({"web"})
    assert set(history.latest) == set(history.points) == {"db"}


NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z
STAMP = "2026-01-01T00:00:00Z"
CAPACITY = {"cpu": 4, "memory": 1000, "disk": 1000, "containers": 100}


def status(*, stamp: str = STAMP, cpu: float = 1.0, memory: int = 500, disk: int = 500, containers: int = 10, **extra: object) -> dict:
    return {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "", "lastTransitionTime": stamp}],
            "capacity": CAPACITY, "usage": {"cpu": cpu, "memory": memory, "disk": disk, "containers": containers},
            "lastHeartbeatTime": stamp, "images": [], **extra}


@pytest.mark.parametrize(
    ("stored", "new", "seconds_later", "why"),
    [
        (None, status(), 0, "not posted yet"),
        (status(), status(stamp="2026-01-01T00:00:10Z", cpu=1.3, memory=550, disk=520), 10, None),
        (status(), status(cpu=2.0), 299, "cpu usage moved by 25% of capacity or more"),
        (status(), status(memory=400), 10, "memory usage moved by 10% of capacity or more"),
        (status(), status(disk=550), 10, "disk usage moved by 5% of capacity or more"),
        (status(), status(containers=11), 10, "container count changed"),
        (status(), status(), 300, "older than 300s"),
        (status(), status(images=[{"name": "busybox"}]), 10, "status changed"),
        ({**status(), "conditions": [{"type": "Ready", "status": "False", "reason": "NodeLost"}]}, status(), 10, "conditions changed"),
        ({**status(), "lastHeartbeatTime": "garbage"}, status(), 10, "older than 300s"),
    ],
    ids=["first", "small-moves-wait", "cpu", "memory", "disk", "count", "old", "images", "someone-set-a-condition", "bad-stamp"],
)
def test_status_due(stored: dict | None, new: dict, seconds_later: float, why: str | None) -> None:
    assert status_due(stored, new, now=NOW + seconds_later, max_age=300) == why
