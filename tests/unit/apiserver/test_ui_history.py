from __future__ import annotations

import asyncio

import pytest

from apiserver.auth import Identity
from apiserver.ui.actions import LocalClient
from apiserver.ui.history import MetricsHistory, sample_of
from dlxc.client.errors import BadRequest, Forbidden


def ct(stamp: str | None, cpu: float | None = 0.5, memory: int | None = 2**20) -> dict:
    metrics = {k: v for k, v in (("cpu.cores", cpu), ("memory.bytes", memory)) if v is not None}
    status = {"metrics": metrics, **({"metricsTime": stamp} if stamp else {})}
    return {"metadata": {"name": "web"}, "status": status}


@pytest.mark.parametrize(
    ("obj", "sample"),
    [
        (ct("2026-01-01T00:00:00Z"), (1767225600.0, 0.5, 1048576.0)),
        (ct("2026-01-01T00:00:00Z", cpu=None), (1767225600.0, None, 1048576.0)),
        (ct(None), None),
        (ct("yesterday"), None),
        ({"metadata": {"name": "web"}}, None),
    ],
    ids=["both", "memory-only", "no-time", "bad-time", "no-status"],
)
def test_sample_of(obj: dict, sample: tuple | None) -> None:
    assert sample_of(obj) == sample


def test_history_keeps_an_hour_in_time_order_and_forgets_deleted_containers() -> None:
    history = MetricsHistory(store=None, cache=None, window=3600, per_container=3)  # type: ignore[arg-type]
    for stamp in ("2026-01-01T00:00:00Z", "2026-01-01T00:30:00Z", "2026-01-01T00:30:00Z", "2026-01-01T00:10:00Z",
                  "2026-01-01T01:00:00Z", "2026-01-01T01:20:00Z"):
        history.record("web", ct(stamp))
    # The repeat and the older sample are skipped; at most 3 kept; only the last hour is shown.
    now = 1767225600.0 + 80 * 60
    assert [s[0] - 1767225600.0 for s in history.series("web", now=now)] == [30 * 60, 60 * 60, 80 * 60]
    assert [s[0] - 1767225600.0 for s in history.series("web", now=now + 45 * 60)] == [80 * 60]
    history.record("web", None)
    assert history.series("web", now=now) == []


def test_the_local_client_refuses_what_the_role_may_not_do_before_touching_anything() -> None:
    viewer = LocalClient(Identity("v", "viewer"), store=None, registries={"containers": object()})  # type: ignore[arg-type,dict-item]
    with pytest.raises(Forbidden, match=r"v \(viewer\) may not patch containers/web"):
        asyncio.run(viewer.patch("containers", "web", {"spec": {"state": "Stopped"}}))
    with pytest.raises(Forbidden):
        asyncio.run(viewer.create("containers", {"metadata": {"name": "x"}}))
    with pytest.raises(BadRequest, match="unknown resource 'secrets'"):
        asyncio.run(viewer.get("secrets", "x"))
