"""Scheduled backups decided on a fake clock: when one is due, that a missed run happens once, and what is pruned."""
from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest

from controller.backups import (
    SCHEDULED_ANNOTATION, MarkUnreachable, ReleaseFinalizer, due_backup, local_time, to_prune, unreachable,
)

UTC = timezone.utc
PARIS = timezone(timedelta(hours=1))


def at(text: str, zone: timezone = UTC) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=zone)


@pytest.mark.parametrize(
    ("now", "last", "schedule", "due"),
    [
        (at("2026-01-01T02:59:59"), at("2026-01-01T00:00:00"), "0 3 * * *", None),
        (at("2026-01-01T03:00:00"), at("2026-01-01T00:00:00"), "0 3 * * *", at("2026-01-01T03:00:00")),
        (at("2026-01-01T03:00:10"), at("2026-01-01T00:00:00"), "0 3 * * *", at("2026-01-01T03:00:00")),
        # Already made for 03:00: nothing until tomorrow.
        (at("2026-01-01T09:00:00"), at("2026-01-01T03:00:00"), "0 3 * * *", None),
        # Down for three days: one backup, for the latest missed time, not three.
        (at("2026-01-04T10:00:00"), at("2026-01-01T03:00:00"), "0 3 * * *", at("2026-01-04T03:00:00")),
        (at("2026-01-01T00:20:00"), at("2026-01-01T00:00:00"), "*/15 * * * *", at("2026-01-01T00:15:00")),
        # The schedule is read in now's timezone: 03:00 in UTC+1 is 02:00 UTC.
        (at("2026-01-01T03:00:00", PARIS), at("2026-01-01T00:00:00"), "0 3 * * *", at("2026-01-01T03:00:00", PARIS)),
        (at("2026-01-01T02:30:00"), at("2026-01-01T00:00:00", PARIS), "0 3 * * *", None),
    ],
    ids=["before", "on-time", "a-little-late", "done-today", "missed-three-runs-once", "every-15-min", "local-tz", "tz-not-yet"],
)
def test_due_backup(now: datetime, last: datetime, schedule: str, due: datetime | None) -> None:
    assert due_backup(now, last, schedule) == due


def test_three_runs_on_a_fake_clock() -> None:
    last = at("2026-01-01T00:00:00")
    runs = []
    now = last
    while now < at("2026-01-04T00:00:00"):
        now += timedelta(minutes=10)
        when = due_backup(now, last, "0 3 * * *")
        if when is not None:
            runs.append(when)
            last = when
    assert runs == [at("2026-01-01T03:00:00"), at("2026-01-02T03:00:00"), at("2026-01-03T03:00:00")]


@pytest.fixture
def new_york(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        # 2024-11-03 02:00 EDT the clocks go back to 01:00 EST: 03:00 is 07:00Z before, 08:00Z after.
        pytest.param("0 3 * * *", ["2024-11-02T07:00", "2024-11-03T08:00", "2024-11-04T08:00"], id="daily-at-3"),
        # 01:30 happens twice on the 3rd: backed up once, at the first.
        pytest.param("30 1 * * *", ["2024-11-02T05:30", "2024-11-03T05:30", "2024-11-04T06:30"], id="in-the-repeated-hour"),
    ],
)
def test_clocks_going_back_make_no_extra_backup(new_york: None, schedule: str, expected: list[str]) -> None:
    instant = last = at("2024-11-02T00:00:00")
    runs = []
    while instant < at("2024-11-04T12:00:00"):
        instant += timedelta(minutes=10)
        when = due_backup(local_time(instant), last, schedule)
        if when is not None:
            runs.append(when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M"))
            last = when
    assert runs == expected


def backup(name: str, scheduled: str, phase: str) -> dict:
    return {"metadata": {"name": name, "annotations": {SCHEDULED_ANNOTATION: scheduled}}, "status": {"phase": phase}}


def deleting(obj: dict) -> dict:
    obj["metadata"]["deletionTimestamp"] = "2026-01-09T00:00:00Z"
    return obj


@pytest.mark.parametrize(
    ("backups", "keep", "pruned"),
    [
        ([backup("a", "2026-01-01T03:00:00Z", "Completed"), backup("b", "2026-01-02T03:00:00Z", "Completed"),
          backup("c", "2026-01-03T03:00:00Z", "Completed")], 2, ["a"]),
        ([backup("a", "2026-01-01T03:00:00Z", "Running"), backup("b", "2026-01-02T03:00:00Z", "Completed"),
          backup("c", "2026-01-03T03:00:00Z", "Completed")], 2, []),
        ([backup("c", "2026-01-03T03:00:00Z", "Failed"), backup("a", "2026-01-01T03:00:00Z", "Failed")], 1, ["a"]),
        ([backup("a", "2026-01-01T03:00:00Z", "Completed")], 7, []),
        # Three failed nights with keep 3: the Completed ones stay; of the failures only the newest is kept.
        ([backup("a", "2026-01-01T03:00:00Z", "Completed"), backup("b", "2026-01-02T03:00:00Z", "Completed"),
          backup("c", "2026-01-03T03:00:00Z", "Completed"), backup("d", "2026-01-04T03:00:00Z", "Failed"),
          backup("e", "2026-01-05T03:00:00Z", "Failed"), backup("f", "2026-01-06T03:00:00Z", "Failed")], 3, ["d", "e"]),
        # keep counts Completed ones only: the fourth Completed goes, the Failed one between them too.
        ([backup("a", "2026-01-01T03:00:00Z", "Completed"), backup("b", "2026-01-02T03:00:00Z", "Failed"),
          backup("c", "2026-01-03T03:00:00Z", "Completed"), backup("d", "2026-01-04T03:00:00Z", "Completed"),
          backup("e", "2026-01-05T03:00:00Z", "Completed")], 3, ["a", "b"]),
        # A newer Completed one supersedes the last failure.
        ([backup("a", "2026-01-01T03:00:00Z", "Failed"), backup("b", "2026-01-02T03:00:00Z", "Completed")], 3, ["a"]),
        # Pending and Running ones are never pruned, however old, and do not count towards keep.
        ([backup("a", "2026-01-01T03:00:00Z", "Pending"), backup("b", "2026-01-02T03:00:00Z", "Running"),
          backup("c", "2026-01-03T03:00:00Z", "Completed"), backup("d", "2026-01-04T03:00:00Z", "Completed")], 1, ["c"]),
        # One already being deleted is neither pruned again nor counted as kept.
        ([backup("a", "2026-01-01T03:00:00Z", "Completed"), deleting(backup("b", "2026-01-02T03:00:00Z", "Completed"))], 1, []),
    ],
    ids=["oldest-goes", "running-waits", "order-by-time-not-list", "under-keep", "failed-nights-keep-completed",
         "keep-counts-completed", "failure-superseded", "pending-never-pruned", "deleting-not-counted"],
)
def test_to_prune(backups: list[dict], keep: int, pruned: list[str]) -> None:
    assert to_prune(backups, keep) == pruned


def _backup(name: str, *, node: str | None, phase: str = "Completed", deleted: bool = False, message: str = "",
            finalizers: tuple[str, ...] = ("dlxc.io/backup-archive",)) -> dict:
    meta = {"name": name, "resourceVersion": "7", "finalizers": list(finalizers)}
    if deleted:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    status = {"phase": phase, "message": message, "location": f"/b/{name}.tar.zst"}
    if node:
        status["node"] = node
    return {"metadata": meta, "status": status}


GONE = "archive unreachable: node n9 is gone (no longer registered); /b/x.tar.zst on node n9 cannot be read or restored"


@pytest.mark.parametrize(
    ("backup", "expected"),
    [
        pytest.param(_backup("x", node="n1"), [], id="node-registered"),
        pytest.param(_backup("x", node=None, phase="Pending"), [], id="no-node-yet"),
        pytest.param(_backup("x", node="n9"), [MarkUnreachable("x", GONE)], id="completed-node-gone"),
        pytest.param(_backup("x", node="n9", message=GONE), [], id="already-said"),
        pytest.param(_backup("x", node="n9", phase="Failed"), [], id="failed-has-no-archive-to-read"),
        pytest.param(_backup("x", node="n9", deleted=True, finalizers=("dlxc.io/backup-archive", "other")),
                     [ReleaseFinalizer("x", "7", ("other",), "node n9 is gone: /b/x.tar.zst on node n9 could not be removed "
                                       "(it stays there if the node returns); the backup is deleted without it")],
                     id="deleted-node-gone-releases-only-ours"),
        pytest.param(_backup("x", node="n9", deleted=True, finalizers=()), [], id="deleted-already-released"),
        pytest.param(_backup("x", node="n1", deleted=True), [], id="deleted-node-there-its-kubelet-removes-it"),
    ],
)
def test_backups_of_a_gone_node(backup: dict, expected: list) -> None:
    assert unreachable([backup], {"n1"}) == expected
