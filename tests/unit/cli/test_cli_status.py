from __future__ import annotations

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


def test_status_screen() -> None:
    lines = cluster_lines(
        [node("n2", ready=False, cpu_used=0, mem_used=0), node("n1", ready=True, cpu_used=1.5, mem_used=GI // 2)],
        [container("a", "Running"), container("b", "Running"), container("c", "Failed", "image not found"), container("d", "Pending")],
        [
            {"type": "Normal", "reason": "Started", "message": "ok", "involvedObject": {"kind": "Container", "name": "a"}},
            {"type": "Warning", "reason": "NodeNotReady", "message": "no heartbeat for 10s", "involvedObject": {"kind": "Node", "name": "n2"}},
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
        "Recent warnings: 1",
        "  AGE         OBJECT    REASON         MESSAGE",
        "  <unknown>   node/n2   NodeNotReady   no heartbeat for 10s",
    ]


def test_empty_cluster() -> None:
    assert cluster_lines([], [], []) == ["Nodes: 0 (0 Ready)", "Containers: 0", "Recent warnings: none"]
