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


def test_a_lease_deleted_for_silence_counts_from_expire_after_before_the_delete() -> None:
    """Renewals are not writes: a present Lease is live; its DELETE means silent for expire-after already."""
    import asyncio

    from controller.nodelifecycle import NodeLifecycleController

    now = [100.0]
    controller = NodeLifecycleController(None, DEFAULTS, clock=lambda: now[0])  # type: ignore[arg-type]
    controller.started = 0.0
    lease = {"metadata": {"name": "n1", "resourceVersion": "7"}, "spec": {"holderIdentity": "n1"}}
    asyncio.run(controller._on_lease("n1", None, lease))
    controller.leases.cache["n1"] = lease
    now[0] = 160.0  # no event for a minute: renewals live in the apiserver's memory
    assert controller.silent_for("n1") == 0.0
    del controller.leases.cache["n1"]
    asyncio.run(controller._on_lease("n1", lease, None))
    assert (controller.lease_gone("n1"), controller.silent_for("n1")) == (True, DEFAULTS.lease_expire_after)
    now[0] += 4.0
    assert node_verdict(silent_for=controller.silent_for("n1"), settings=DEFAULTS) == "evict"
