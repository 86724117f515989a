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


class TakingAgent(SnapshotAgent):
    """Every take fails the same way until `fixed`; nothing is on disk."""

    def __init__(self, kubelet: object) -> None:
        super().__init__(kubelet)
        self.fixed = False
        self.taken: list[str] = []

    def existing(self, name: str) -> list[dict]:
        return [{"name": s, "created": "2026-11-30T00:00:00Z", "size": 1, "consistency": "frozen"} for s in self.taken]

    def execute(self, name: str, rootfs: str, action: object) -> None:
        if not self.fixed:
            raise RuntimeError("cp: no space left on device")
        self.taken.append(action.snap)  # type: ignore[attr-defined]


class StatusApi:
    """Applies each status patch to the informer's copy (as the watch would), counting the writes."""

    def __init__(self) -> None:
        self.agent: SnapshotAgent | None = None
        self.writes = 0

    async def patch_status(self, plural: str, name: str, status: dict, *, resource_version: str | None = None) -> dict:
        assert self.agent is not None
        self.writes += 1
        obj = copy.deepcopy(self.agent.informer.cache[name])
        obj["status"].update(status)
        obj["metadata"]["resourceVersion"] = str(int(obj["metadata"]["resourceVersion"]) + 1)
        self.agent.informer.cache[name] = obj
        return obj


def taking_agent(api: StatusApi) -> TakingAgent:
    """A TakingAgent whose container `web` wants snapshot `one`, its status written through `api`."""
    found = SimpleNamespace(items=(("lxc.rootfs.path", "dir:/nowhere"),))
    agent = TakingAgent(SimpleNamespace(client=api, queue=WorkQueue(), runtime=SimpleNamespace(inspect=lambda n: found),
                                        settings=SimpleNamespace(node_name="n1")))
    api.agent = agent
    agent.informer.cache["web"] = {"metadata": {"name": "web", "resourceVersion": "1",
                                                "annotations": {SNAPSHOTS_ANNOTATION: '["one"]'}},
                                   "spec": {"nodeName": "n1"}, "status": {}}
    return agent


def test_a_failure_stays_reported_through_idle_passes_and_a_repeat_writes_nothing_until_work_succeeds() -> None:
    async def scenario() -> None:
        api = StatusApi()
        agent = taking_agent(api)

        def failed() -> dict | None:
            return next((c for c in agent.informer.cache["web"]["status"].get("conditions", [])
                         if c["type"] == "SnapshotFailed"), None)

        await agent.handle("web")
        first = failed()
        assert first is not None and first["message"] == "take one: cp: no space left on device"
        writes = api.writes
        await agent.handle("web")  # the same failure again (the watch brought our write back): nothing to write
        assert (api.writes, failed()) == (writes, first)
        agent.fixed = True
        await agent.handle("web")  # the take succeeds: the failure is over
        assert failed() is None and agent.informer.cache["web"]["status"]["snapshots"][0]["name"] == "one"
        await agent.handle("web")  # an idle pass after a success changes nothing
        assert failed() is None

    asyncio.run(scenario())


def test_an_idle_pass_keeps_the_failure_of_a_restore() -> None:
    async def scenario() -> tuple[dict | None, int]:
        api = StatusApi()
        agent = agent_with(RacingApi(conflicts=0))
        agent.client = api
        api.agent = agent
        agent.informer.cache["web"] = container("s1@bad")
        await agent.handle("web")  # refused: honoured with SnapshotFailed
        writes = api.writes
        await agent.handle("web")  # the next event: nothing to do
        status = agent.informer.cache["web"]["status"]
        return next((c for c in status["conditions"] if c["type"] == "SnapshotFailed"), None), api.writes - writes

    failed, writes = asyncio.run(scenario())
    assert failed is not None and "restore s1: the copy failed" in failed["message"] and writes == 0


def test_a_restore_that_fails_again_the_same_way_is_a_new_failure() -> None:
    """The CLI tells its request's failure by the condition's time: a repeat of the same refusal must be newer."""
    async def scenario() -> tuple[str, str]:
        api = StatusApi()
        agent = agent_with(RacingApi(conflicts=0))
        agent.client = api
        api.agent = agent
        agent.informer.cache["web"] = container("s1@1bad")
        await agent.handle("web")
        first = next(c for c in agent.informer.cache["web"]["status"]["conditions"] if c["type"] == "SnapshotFailed")
        await asyncio.sleep(0.01)
        again = copy.deepcopy(agent.informer.cache["web"])
        again["metadata"]["annotations"][SNAPSHOT_RESTORE_ANNOTATION] = "s1@2bad"
        agent.informer.cache["web"] = again
        await agent.handle("web")
        second = next(c for c in agent.informer.cache["web"]["status"]["conditions"] if c["type"] == "SnapshotFailed")
        assert first["message"] == second["message"]
        return first["lastTransitionTime"], second["lastTransitionTime"]

    first, second = asyncio.run(scenario())
    assert second > first


def test_a_failed_take_goes_with_the_wish_for_it() -> None:
    async def scenario() -> dict | None:
        api = StatusApi()
        agent = taking_agent(api)
        await agent.handle("web")
        unwished = copy.deepcopy(agent.informer.cache["web"])
        unwished["metadata"]["annotations"][SNAPSHOTS_ANNOTATION] = "[]"  # dlxc snapshot delete web one
        agent.informer.cache["web"] = unwished
        await agent.handle("web")
        return next((c for c in agent.informer.cache["web"]["status"].get("conditions", []) if c["type"] == "SnapshotFailed"), None)

    assert asyncio.run(scenario()) is None
