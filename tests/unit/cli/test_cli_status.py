from __future__ import annotations

from dlxc.cli import console
from dlxc.cli.status import cluster_lines

GI = 1024**3


def node(name: str, *, ready: bool, cpu_used: float, mem_used: int) -> dict:
    return {
        "metadata": {"name": name},
        "spec": {},
        "status": {
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "allocatable": {"cpu": 4, "memory": 8 * GI, "disk": 100 * GI, "containers": 100},
            "usage": {"cpu": cpu_used, "memory": mem_used, "disk": 0},
            "containerCount": 2,
        },
    }


def container(name: str, phase: str, message: str = "") -> dict:
    return {"metadata": {"name": name}, "status": {"phase": phase, "message": message}}


def event(type: str, reason: str, message: str, involved: str, *, at: str, count: int = 1) -> dict:
    """An Event as the server stores it: what in spec, when and how often in status."""
    kind, name = involved.split("/")
    return {
        "metadata": {"name": f"{name}-{reason}", "creationTimestamp": at},
        "spec": {"type": type, "reason": reason, "message": message,
                 "involvedObject": {"kind": kind.capitalize(), "name": name}},
        "status": {"count": count, "firstTimestamp": at, "lastTimestamp": at},
    }


def test_status_screen(monkeypatch) -> None:
    monkeypatch.setattr(console, "age", lambda when: "5m" if when else "<unknown>")
    lines = cluster_lines(
        [node("n2", ready=False, cpu_used=0, mem_used=0), node("n1", ready=True, cpu_used=1.5, mem_used=GI // 2)],
        [container("a", "Running"), container("b", "Running"), container("c", "Failed", "image not found"), container("d", "Pending")],
        [
            event("Normal", "Started", "started on node n1", "container/a", at="2026-11-30T05:00:03Z"),
            event("Warning", "FailedMount", "start failed: mount /srv/x: Permission denied (full log: /l)\nERROR tail",
                  "container/c", at="2026-11-30T05:00:02Z", count=4),
            event("Warning", "NodeNotReady", "no heartbeat for 10s", "node/n2", at="2026-11-30T05:00:01Z"),
        ],
    )
    assert lines == [
        "Nodes: 2 (1 Ready)",
        "  NAME   STATUS     CONTAINERS   CPU     MEMORY      DISK",
        "  n1     Ready      2/100        1.5/4   512Mi/8Gi   0/100Gi",
        "  n2     NotReady   2/100        0/4     0/8Gi       0/100Gi",
        "Containers: 4 (1 Pending, 2 Running, 1 Failed)",
        "  NAME   PHASE     MESSAGE",
        "  c      Failed    image not found",
        "  d      Pending",
        "Recent warnings: 2",
        "  AGE   OBJECT        REASON         COUNT   MESSAGE",
        "  5m    node/n2       NodeNotReady   1       no heartbeat for 10s",
        "  5m    container/c   FailedMount    4       start failed: mount /srv/x: Permission denied (full log: /l)",
    ]


def test_empty_cluster() -> None:
    assert cluster_lines([], [], []) == ["Nodes: 0 (0 Ready)", "Containers: 0", "Recent warnings: none"]
