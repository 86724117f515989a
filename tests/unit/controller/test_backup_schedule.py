"""Scheduled backups decided on a fake clock: when one is due, that a missed run happens once, and what is pruned."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from controller.backups import SCHEDULED_ANNOTATION, MarkUnreachable, ReleaseFinalizer, due_backup, to_prune, unreachable

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


def backup(name: str, scheduled: str, phase: str) -> dict:
    return {"metadata": {"name": name, "annotations": {SCHEDULED_ANNOTATION: scheduled}}, "status": {"phase": phase}}


@pytest.mark.parametrize(
    ("backups", "keep", "pruned"),
    [
        ([backup("a", "2026-01-01T03:00:00Z", "Completed"), backup("b", "2026-01-02T03:00:00Z", "Completed"),
          backup("c", "2026-01-03T03:00:00Z", "Completed")], 2, ["a"]),
        ([backup("a", "2026-01-01T03:00:00Z", "Running"), backup("b", "2026-01-02T03:00:00Z", "Completed"),
          backup("c", "2026-01-03T03:00:00Z", "Completed")], 2, []),
        ([backup("c", "2026-01-03T03:00:00Z", "Failed"), backup("a", "2026-01-01T03:00:00Z", "Failed")], 1, ["a"]),
        ([backup("a", "2026-01-01T03:00:00Z", "Completed")], 7, []),
    ],
    ids=["oldest-goes", "running-waits", "order-by-time-not-list", "under-keep"],
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
