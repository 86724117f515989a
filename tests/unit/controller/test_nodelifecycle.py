from __future__ import annotations

import pytest
from pydantic import ValidationError

from controller.nodelifecycle import NodeLifecycleSettings, node_verdict

DEFAULTS = NodeLifecycleSettings()


@pytest.mark.parametrize(
    ("silent", "verdict"),
    [(0.0, "live"), (4.9, "live"), (5.0, "not-ready"), (8.9, "not-ready"), (9.0, "evict"), (60.0, "evict")],
    ids=["fresh", "inside-grace", "grace-over", "before-eviction", "eviction-due", "long-gone"],
)
def test_node_verdict_with_defaults(silent: float, verdict: str) -> None:
    assert node_verdict(silent_for=silent, settings=DEFAULTS) == verdict


def test_defaults_leave_a_margin_after_the_fence() -> None:
    assert (DEFAULTS.node_grace, DEFAULTS.eviction_timeout, DEFAULTS.fence_timeout) == (5.0, 4.0, 6.0)
    assert DEFAULTS.node_grace + DEFAULTS.eviction_timeout - DEFAULTS.fence_timeout >= DEFAULTS.fence_margin


def test_eviction_before_the_fence_is_refused() -> None:
    with pytest.raises(ValidationError) as info:
        NodeLifecycleSettings(node_grace=3, eviction_timeout=2, fence_timeout=6)
    assert info.value.errors()[0]["msg"] == (
        "Value error, node grace 3s + eviction timeout 2s must be at least the kubelets' fence timeout 6s + margin 1s, "
        "or a moved container could start elsewhere before its old copy is stopped"
    )
