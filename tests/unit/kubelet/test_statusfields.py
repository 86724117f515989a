from __future__ import annotations

import pytest

from kubelet.statusfields import ran_since_last_exit, same_but_status


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ({}, False),
        ({"startedAt": "2026-01-01T00:00:10Z"}, True),
        ({"startedAt": "2026-01-01T00:00:10Z", "lastExit": {"finishedAt": "2026-01-01T00:00:05Z"}}, True),
        ({"startedAt": "2026-01-01T00:00:10Z", "lastExit": {"finishedAt": "2026-01-01T00:00:12Z"}}, False),
        ({"lastExit": {"finishedAt": "2026-01-01T00:00:12Z"}}, False),
    ],
    ids=["never-started", "running", "restarted-after-exit", "exit-recorded", "exited-not-restarted"],
)
def testran_since_last_exit(status: dict, expected: bool) -> None:
    assert ran_since_last_exit(status) is expected


BASE = {"metadata": {"name": "web", "resourceVersion": "5", "annotations": {}}, "spec": {"image": "busybox"}, "status": {"phase": "Running"}}


@pytest.mark.parametrize(
    ("change", "same"),
    [
        ({"metadata": {**BASE["metadata"], "resourceVersion": "6"}, "status": {"phase": "Failed"}}, True),
        ({"spec": {"image": "debian:bookworm"}}, False),
        ({"metadata": {**BASE["metadata"], "annotations": {"dlxc.io/restartedAt": "now"}}}, False),
        ({"metadata": {**BASE["metadata"], "deletionTimestamp": "2026-01-01T00:00:00Z"}}, False),
    ],
    ids=["status-only", "spec", "restart-request", "deletion"],
)
def testsame_but_status(change: dict, same: bool) -> None:
    assert same_but_status(BASE, {**BASE, **change}) is same
