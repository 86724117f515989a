from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from dlxc.cli import console
from dlxc.cli.get import container_rows, event_rows, node_rows

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


def ts(seconds_ago: int) -> str:
    return (datetime.now(timezone.utc) - timedelta(seconds=seconds_ago)).isoformat().replace("+00:00", "Z")


@pytest.mark.parametrize(
    ("seconds", "text"), [(5, "5s"), (61, "1m"), (7200, "2h"), (3 * 86400 + 5, "3d")], ids=["s", "m", "h", "d"]
)
def test_age(seconds: int, text: str) -> None:
    then = (NOW - timedelta(seconds=seconds)).isoformat()
    assert console.age(then, now=NOW) == text


def test_container_table_wide(capsys: pytest.CaptureFixture[str]) -> None:
    items = [
        {"metadata": {"name": "web", "creationTimestamp": ts(30)}, "spec": {"image": "busybox", "cpu": 0.5, "memory": "64Mi", "nodeName": "n1"},
         "status": {"phase": "Running", "ip": "10.77.0.2"}},
        {"metadata": {"name": "db", "creationTimestamp": ts(30)}, "spec": {"image": "busybox"},
         "status": {"phase": "Pending", "message": "0/1 nodes are available: 1 node not ready."}},
    ]
    console.print_table(*container_rows(items, wide=True))
    assert capsys.readouterr().out.splitlines() == [
        "NAME   PHASE     NODE     IP          AGE   IMAGE     CPU   MEMORY   MESSAGE",
        "web    Running   n1       10.77.0.2   30s   busybox   0.5   64Mi",
        "db     Pending   <none>   <none>      30s   busybox   -     -        0/1 nodes are available: 1 node not ready.",
    ]


def test_node_table(capsys: pytest.CaptureFixture[str]) -> None:
    items = [
        {"metadata": {"name": "n1", "creationTimestamp": ts(120)}, "spec": {"unschedulable": True},
         "status": {"conditions": [{"type": "Ready", "status": "True"}], "containerCount": 3,
                    "allocatable": {"cpu": 2, "memory": 25276502016, "containers": 100}}},
        {"metadata": {"name": "n2", "creationTimestamp": ts(120)}, "spec": {},
         "status": {"conditions": [{"type": "Ready", "status": "Unknown"}], "allocatable": {"cpu": 4, "memory": 8 * 2**30, "containers": 50}}},
    ]
    console.print_table(*node_rows(items, wide=False))
    assert capsys.readouterr().out.splitlines() == [
        "NAME   STATUS                     CONTAINERS   CPU   MEMORY   AGE",
        "n1     Ready,SchedulingDisabled   3/100        2     23.5Gi   2m",
        "n2     NotReady                   0/50         4     8Gi      2m",
    ]


def test_event_table_is_one_line_per_event() -> None:
    # An event posted by an older kubelet or another client may carry a log tail: only its first line shows.
    items = [
        {"metadata": {"name": "web-1"},
         "spec": {"type": "Warning", "reason": "FailedStart", "involvedObject": {"kind": "Container", "name": "web"},
                  "message": "start failed: no such bridge (full log: /l)\nlxc-start web ERROR tail\n"},
         "status": {"count": 3, "lastTimestamp": ts(5)}},
    ]
    headers, rows = event_rows(items, wide=False)
    assert headers == ["LAST SEEN", "TYPE", "REASON", "OBJECT", "COUNT", "MESSAGE"]
    assert rows == [["5s", "Warning", "FailedStart", "container/web", "3", "start failed: no such bridge (full log: /l)"]]
