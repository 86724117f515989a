from __future__ import annotations

import pytest

from dlxc.client.waiter import (
    WaitFor,
    condition_met,
    parse_duration,
    parse_for,
    state_of,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("60s", 60), ("2m", 120), ("1h", 3600), ("500ms", 0.5), ("7", 7), ("1.5s", 1.5)],
    ids=["s", "m", "h", "ms", "bare", "fraction"],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_parse_duration_rejects_junk() -> None:
    with pytest.raises(ValueError, match="'soon' is not a duration"):
        parse_duration("soon")


@pytest.mark.parametrize(
    ("text", "wait"),
    [
        ("phase=Running", WaitFor("phase", "Running")),
        ("delete", WaitFor("delete")),
        ("condition=Ready", WaitFor("condition", "Ready", "True")),
        ("condition=Scheduled=False", WaitFor("condition", "Scheduled", "False")),
    ],
    ids=["phase", "delete", "condition", "condition-status"],
)
def test_parse_for(text: str, wait: WaitFor) -> None:
    assert parse_for(text) == wait


RUNNING = {"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}
FAILED = {"status": {"phase": "Failed", "message": "image not found"}}


@pytest.mark.parametrize(
    ("obj", "wait", "met", "state"),
    [
        (RUNNING, WaitFor("phase", "Running"), True, "Running"),
        (FAILED, WaitFor("phase", "Running"), False, "Failed (image not found)"),
        ({}, WaitFor("phase", "Running"), False, "Pending"),
        (RUNNING, WaitFor("condition", "Ready"), True, "Ready=True"),
        (FAILED, WaitFor("condition", "Ready"), False, "Ready not reported"),
        (None, WaitFor("delete"), True, "gone"),
        (RUNNING, WaitFor("delete"), False, "Running"),
        (None, WaitFor("phase", "Running"), False, "gone"),
    ],
    ids=["running", "failed", "no-status", "condition", "no-condition", "deleted", "not-deleted", "gone-while-waiting"],
)
def test_condition_met_and_state(obj: dict | None, wait: WaitFor, met: bool, state: str) -> None:
    assert condition_met(obj, wait) is met
    assert state_of(obj, wait) == state
