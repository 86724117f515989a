"""The kubelet's SnapshotAgent restores once per request, even when its report loses a race or the cache lags."""
from __future__ import annotations

import asyncio
import copy
from types import SimpleNamespace

from dlxc.client.errors import Conflict
from dlxc.client.workqueue import WorkQueue
from kubelet.snapshots import Restore, SnapshotAgent
from schemas.wire import SNAPSHOT_RESTORE_ANNOTATION, SNAPSHOTS_ANNOTATION


class RacingApi:
    """The first status report is refused (the kubelet's reconcile wrote the status after the restart)."""

    def __init__(self, conflicts: int) -> None:
        self.conflicts = conflicts
        self.reports: list[dict] = []

    async def patch_status(self, plural: str, name: str, status: dict, *, resource_version: str | None = None) -> dict:
        if self.conflicts:
            self.conflicts -= 1
            raise Conflict(f"{plural}/{name}: the object has been modified")
        self.reports.append(status)
        return {}


class Recording(SnapshotAgent):
    def __init__(self, kubelet: object) -> None:
        super().__init__(kubelet)
        self.executed: list[str] = []

    def existing(self, name: str) -> list[dict]:
        return [{"name": "s1", "created": "2026-11-30T00:00:00Z", "size": 1, "consistency": "frozen"}]

    def execute(self, name: str, rootfs: str, action: object) -> None:
        assert isinstance(action, Restore)
        self.executed.append(action.request)
        if action.request.endswith("bad"):
            raise RuntimeError("the copy failed")


def agent_with(api: RacingApi) -> Recording:
    found = SimpleNamespace(items=(("lxc.rootfs.path", "dir:/nowhere"),))
    kubelet = SimpleNamespace(client=api, queue=WorkQueue(), runtime=SimpleNamespace(inspect=lambda name: found),
                              settings=SimpleNamespace(node_name="n1"))
    return Recording(kubelet)


def container(request: str, observed: str | None = None) -> dict:
    obj = {"metadata": {"name": "web", "resourceVersion": "5", "annotations": {SNAPSHOT_RESTORE_ANNOTATION: request, SNAPSHOTS_ANNOTATION: '["s1"]'}},
           "spec": {"nodeName": "n1"},
           "status": {"snapshots": [{"name": "s1", "created": "2026-11-30T00:00:00Z", "size": 1, "consistency": "frozen"}]}}
    if observed:
        obj["status"]["observedSnapshotRestore"] = observed
    return obj


def test_a_restore_whose_report_conflicts_is_not_carried_out_again() -> None:
    async def scenario() -> tuple[list[str], list[dict], dict]:
        api = RacingApi(conflicts=1)
        agent = agent_with(api)
        agent.informer.cache["web"] = container("s1@1")
        await agent.handle("web")  # restores; the report is refused and the key queued again
        newer = copy.deepcopy(agent.informer.cache["web"])
        newer["metadata"]["resourceVersion"] = "6"
        agent.informer.cache["web"] = newer  # the reconcile's status write, still without observedSnapshotRestore
        await agent.handle("web")
        agent.informer.cache["web"] = container("s1@1", observed="s1@1")  # our report arrives through the watch
        await agent.handle("web")
        return agent.executed, api.reports, agent.honoured

    executed, reports, remembered = asyncio.run(scenario())
    assert executed == ["s1@1"]
    assert [r.get("observedSnapshotRestore") for r in reports] == ["s1@1"]
    assert remembered == {}


def test_a_failed_restore_keeps_its_reason_through_a_conflict_and_a_new_request_is_carried_out() -> None:
    async def scenario() -> tuple[list[str], list[dict]]:
        api = RacingApi(conflicts=1)
        agent = agent_with(api)
        agent.informer.cache["web"] = container("s1@bad")
        await agent.handle("web")
        await agent.handle("web")
        agent.informer.cache["web"] = container("s1@2", observed="s1@bad")
        await agent.handle("web")
        return agent.executed, api.reports

    executed, reports = asyncio.run(scenario())
    assert executed == ["s1@bad", "s1@2"]
    assert reports[0]["observedSnapshotRestore"] == "s1@bad"
    assert "the copy failed" in reports[0]["conditions"][0]["message"]
    assert reports[1]["observedSnapshotRestore"] == "s1@2"
