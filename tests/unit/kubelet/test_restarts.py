from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from kubelet.restarts import Backoff, ExitInfo, next_backoff, parse_exit, restart_due, restart_wanted

LOG_KILLED = (
    'lxc-start web 20261123110638.340 NOTICE   start - start.c:signal_handler:446 - Received 17 from pid 30550 instead of container init 30549\n'
    "lxc-start web 20261123110638.342 INFO     error - error.c:lxc_error_set_and_log:34 - Child <30549> ended on signal Killed(9)\n"
)
LOG_HALTED = "lxc-start web 1 INFO     error - error.c:lxc_error_set_and_log:34 - Child <30567> ended on signal Interrupt(2)\n"
LOG_ERROR = "lxc-start web 1 INFO     error - error.c:lxc_error_set_and_log:28 - Child <30567> ended on error (3)\n"


@pytest.mark.parametrize(
    ("text", "expected", "reason", "failed", "described"),
    [
        (LOG_KILLED, ExitInfo(signal=9), "Signaled", True, "was killed by signal 9 (SIGKILL)"),
        (LOG_HALTED, ExitInfo(signal=2), "Completed", False, "halted"),
        (LOG_ERROR, ExitInfo(exit_code=3), "Error", True, "exited with code 3"),
        ("", ExitInfo(), "Completed", False, "exited with code 0"),
        (LOG_ERROR + LOG_KILLED, ExitInfo(signal=9), "Signaled", True, "was killed by signal 9 (SIGKILL)"),
    ],
    ids=["killed", "halted", "error", "silent-zero", "last-wins"],
)
def test_parse_exit(text: str, expected: ExitInfo, reason: str, failed: bool, described: str) -> None:
    info = parse_exit(text)
    assert (info, info.reason, info.failed, info.describe()) == (expected, reason, failed, described)


B = Backoff(base=10, cap=300)


@pytest.mark.parametrize(
    ("previous", "ran_for", "expected"),
    [
        (None, 5, 0),
        (None, None, 0),
        (0, 5, 10),
        (10, 5, 20),
        (160, 5, 300),
        (300, 5, 300),
        (300, 599, 300),
        (300, 600, 0),
        (20, None, 40),
    ],
    ids=["first", "first-unknown-run", "second", "double", "capped", "stays-capped", "short-run", "reset", "unknown-run"],
)
def test_next_backoff(previous: float | None, ran_for: float | None, expected: float) -> None:
    assert next_backoff(previous, ran_for, B) == expected


@pytest.mark.parametrize(
    ("policy", "exit", "expected"),
    [
        ("Always", ExitInfo(signal=2), True),
        ("Always", ExitInfo(signal=9), True),
        ("OnFailure", ExitInfo(signal=9), True),
        ("OnFailure", ExitInfo(exit_code=1), True),
        ("OnFailure", ExitInfo(signal=2), False),
        ("OnFailure", ExitInfo(exit_code=0), False),
        ("Never", ExitInfo(signal=9), False),
    ],
    ids=["always-halt", "always-kill", "onfailure-kill", "onfailure-error", "onfailure-halt", "onfailure-zero", "never"],
)
def test_restart_wanted(policy: str, exit: ExitInfo, expected: bool) -> None:
    assert restart_wanted(policy, exit) is expected


def test_restart_wanted_rejects_unknown_policy() -> None:
    with pytest.raises(ValueError, match="unknown restartPolicy 'Sometimes'; expected Always, OnFailure or Never"):
        restart_wanted("Sometimes", ExitInfo())


@pytest.mark.parametrize(
    ("elapsed", "backoff", "left"),
    [(0, 10, 10), (4, 10, 6), (10, 10, 0), (30, 10, 0), (0, 0, 0)],
    ids=["just-now", "partway", "due", "overdue", "no-backoff"],
)
def test_restart_due(elapsed: float, backoff: float, left: float) -> None:
    finished = datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert restart_due(finished, backoff, finished + timedelta(seconds=elapsed)) == left
