from __future__ import annotations

import pytest

from dlxc.client.waiter import (
    WaitFor,
    condition_met,
    parse_duration,
    parse_for,
    state_of,
    terminal_failure,
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
        ({"kind": "ContainerSet", "metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"}, "status": {"replicas": 2}},
         WaitFor("delete"), False, "Terminating"),
    ],
    ids=["running", "failed", "no-status", "condition", "no-condition", "deleted", "not-deleted", "gone-while-waiting",
         "phaseless-kind-deleting"],
)
def test_condition_met_and_state(obj: dict | None, wait: WaitFor, met: bool, state: str) -> None:
    assert condition_met(obj, wait) is met
    assert state_of(obj, wait) == state


@pytest.mark.parametrize(
    ("text", "wait"),
    [("phase=running", WaitFor("phase", "Running")), ("phase=STOPPED", WaitFor("phase", "Stopped"))],
    ids=["lower", "upper"],
)
def test_parse_for_phase_is_case_insensitive(text: str, wait: WaitFor) -> None:
    assert parse_for(text) == wait


def test_parse_for_refuses_an_unknown_phase() -> None:
    with pytest.raises(ValueError, match="no such phase 'Up'; use one of Pending, Scheduled, Creating, Running, Stopped, Failed, Terminating"):
        parse_for("phase=Up")


def _ct(phase: str, *, policy: str = "Always", generation: int = 1, observed: int | None = 1, **status: object) -> dict:
    return {
        "kind": "Container",
        "metadata": {"name": "web", "generation": generation, "annotations": status.pop("annotations", {})},
        "spec": {"state": "Running", "restartPolicy": policy},
        "status": {"phase": phase, **({"observedGeneration": observed} if observed is not None else {}), **status},
    }


HALT = {"reason": "Completed", "exitCode": 0}
BACKOFF = [{"type": "CrashLoopBackOff", "status": "True", "reason": "BackOff"}]


@pytest.mark.parametrize(
    ("obj", "wait", "failure"),
    [
        (_ct("Failed", message="image x not found"), WaitFor("phase", "Running"), "Failed: image x not found"),
        (_ct("Failed", message="image x not found"), WaitFor("condition", "Ready"), "Failed: image x not found"),
        (_ct("Failed", message="back-off", conditions=BACKOFF), WaitFor("phase", "Running"), ""),
        (_ct("Failed", message="old", generation=2), WaitFor("phase", "Running"), ""),
        (_ct("Failed", message="old", observed=None), WaitFor("phase", "Running"), "Failed: old"),
        (_ct("Failed"), WaitFor("phase", "Failed"), ""),
        (_ct("Failed"), WaitFor("delete"), ""),
        (_ct("Stopped", policy="OnFailure", message="it halted", lastExit=HALT), WaitFor("phase", "Running"), "Stopped: it halted"),
        (_ct("Stopped", policy="Never", lastExit={"reason": "Error"}), WaitFor("phase", "Running"), "Stopped"),
        (_ct("Stopped", policy="Always", lastExit=HALT), WaitFor("phase", "Running"), ""),
        (_ct("Stopped", policy="OnFailure", lastExit={"reason": "Error"}), WaitFor("phase", "Running"), ""),
        (_ct("Stopped", policy="Never", lastExit=HALT, annotations={"dlxc.io/restartedAt": "t"}), WaitFor("phase", "Running"), ""),
        (_ct("Pending"), WaitFor("phase", "Running"), ""),
        (None, WaitFor("phase", "Running"), ""),
    ],
    ids=[
        "failed", "failed-condition-wait", "crash-loop-back-off", "stale-generation", "no-observed-generation",
        "waiting-for-failed", "delete", "halted-onfailure", "held-never", "always-restarts", "onfailure-error-restarts",
        "start-requested", "pending", "gone",
    ],
)
def test_terminal_failure(obj: dict | None, wait: WaitFor, failure: str) -> None:
    assert terminal_failure(obj, wait) == failure


@pytest.mark.parametrize(
    ("obj", "wait", "met"),
    [
        (_ct("Running", generation=2, observed=1, conditions=[{"type": "Ready", "status": "True"}]), WaitFor("phase", "Running"), False),
        (_ct("Running", generation=2, observed=1, conditions=[{"type": "Ready", "status": "True"}]), WaitFor("condition", "Ready"), False),
        (_ct("Running", generation=2, observed=2), WaitFor("phase", "Running"), True),
        (_ct("Running", generation=2, observed=None), WaitFor("phase", "Running"), True),
        ({"kind": "ContainerSet", "metadata": {"generation": 3}, "status": {"phase": "Running", "observedGeneration": 1}},
         WaitFor("phase", "Running"), True),
    ],
    ids=["running-before-the-change", "ready-before-the-change", "running-after-it", "no-observed-generation", "other-kinds"],
)
def test_a_status_from_before_the_latest_spec_does_not_meet_a_wait(obj: dict, wait: WaitFor, met: bool) -> None:
    """`apply --wait` right after a change must wait for the kubelet's report on the new spec."""
    assert condition_met(obj, wait) is met
