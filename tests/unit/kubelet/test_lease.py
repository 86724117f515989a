from __future__ import annotations

import pytest
from pydantic import ValidationError

from kubelet.lease import LeaseSettings, fence_due, fence_targets


@pytest.mark.parametrize(
    ("now", "last", "timeout", "due"),
    [
        (10.0, 9.0, 6.0, False),
        (15.9, 10.0, 6.0, False),
        (16.0, 10.0, 6.0, True),
        (30.0, 10.0, 6.0, True),
    ],
    ids=["just-renewed", "just-before", "exactly-at", "long-after"],
)
def test_fence_due(now: float, last: float, timeout: float, due: bool) -> None:
    assert fence_due(now=now, last_renewed=last, fence_timeout=timeout) is due


def obj(failover: str | None) -> dict:
    return {"spec": {"image": "busybox", **({"failover": failover} if failover else {})}}


@pytest.mark.parametrize(
    ("local", "objects", "targets"),
    [
        ([], {}, []),
        (["a", "b"], {"a": obj("Always"), "b": obj(None)}, ["a", "b"]),
        (["a", "b"], {"a": obj("Never"), "b": obj("Always")}, ["b"]),
        (["orphan"], {}, ["orphan"]),
        (["a"], {"a": obj("Never"), "gone": obj("Always")}, []),
    ],
    ids=["nothing", "all-may-fail-over", "never-stays", "orphan-stopped", "only-local-ones"],
)
def test_fence_targets(local: list[str], objects: dict, targets: list[str]) -> None:
    assert fence_targets(local, objects) == targets


def test_fence_timeout_must_exceed_the_renew_interval() -> None:
    with pytest.raises(ValidationError, match="fence timeout 1s must be longer than the renew interval 1s"):
        LeaseSettings(renew_interval=1.0, fence_timeout=1.0)
    assert LeaseSettings().fence_timeout == 6.0
