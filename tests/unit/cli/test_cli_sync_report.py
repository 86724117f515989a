from __future__ import annotations

import pytest

from dlxc.apply.applier import ApplyResult
from dlxc.apply.sync import ObjectReport, SyncReport, _report, health_of
from dlxc.cli.sync import Printer, report_lines

RUNNING = {"status": {"phase": "Running"}}


@pytest.mark.parametrize(
    ("result", "applied", "report"),
    [
        (ApplyResult("container/a", "created", source="f.yaml", obj={}), True, ObjectReport("container/a", "f.yaml", "Missing", "created", "Pending")),
        (ApplyResult("container/a", "created", source="f.yaml"), False, ObjectReport("container/a", "f.yaml", "Missing", "-", "-")),
        (
            ApplyResult("container/a", "configured", ("spec.cpu", "spec.memory"), source="f.yaml", obj=RUNNING),
            True,
            ObjectReport("container/a", "f.yaml", "Drifted", "configured", "Running", "spec.cpu, spec.memory"),
        ),
        (ApplyResult("container/a", "unchanged", source="f.yaml", obj=RUNNING), True, ObjectReport("container/a", "f.yaml", "InSync", "-", "Running")),
        (ApplyResult("container/a", "pruned", source="f.yaml", obj=RUNNING), True, ObjectReport("container/a", "f.yaml", "Pruned", "pruned", "-", "removed from the folder")),
        (
            ApplyResult("container/a", "pruned", source="f.yaml", obj=RUNNING),
            False,
            ObjectReport("container/a", "f.yaml", "Extra", "-", "Running", "removed from the folder; --prune deletes it"),
        ),
        (ApplyResult("container/a", "failed", message="boom", source="f.yaml"), True, ObjectReport("container/a", "f.yaml", "Failed", "failed", "-", "boom")),
    ],
    ids=["created", "missing", "drifted", "in-sync", "pruned", "extra", "failed"],
)
def test_apply_results_become_sync_states(result: ApplyResult, applied: bool, report: ObjectReport) -> None:
    assert _report(result, applied=applied) == report


@pytest.mark.parametrize(("obj", "health"), [(None, "-"), ({}, "Pending"), ({"status": {"phase": "Failed"}}, "Failed")], ids=["gone", "new", "failed"])
def test_health(obj: dict | None, health: str) -> None:
    assert health_of(obj) == health


def test_printer_shows_everything_first_then_only_changes(capsys: pytest.CaptureFixture[str]) -> None:
    quiet = SyncReport([ObjectReport("container/a", "a.yaml", "InSync", "-", "Running")])
    drift = SyncReport([
        ObjectReport("container/a", "a.yaml", "Drifted", "configured", "Running", "spec.memory"),
        ObjectReport("container/b", "b.yaml", "InSync", "-", "Pending"),
    ])
    printer = Printer()
    for report in (quiet, quiet, drift):
        printer(report)
    assert capsys.readouterr().out == (
        "OBJECT        SOURCE   SYNC     ACTION   HEALTH    DETAIL\n"
        "container/a   a.yaml   InSync   -        Running\n"
        "sync: 1 object(s), 0 changed, 0 failed, 0 file error(s)\n"
        "OBJECT        SOURCE   SYNC      ACTION       HEALTH    DETAIL\n"
        "container/a   a.yaml   Drifted   configured   Running   spec.memory\n"
        "sync: 2 object(s), 1 changed, 0 failed, 0 file error(s)\n"
    )
    assert report_lines(quiet, actions=False) == [
        "OBJECT        SOURCE   SYNC     HEALTH    DETAIL",
        "container/a   a.yaml   InSync   Running",
    ]
