"""The kubelet's BackupAgent runs a backup once, even when the watch brings back its own claim before the claim's answer."""
from __future__ import annotations

import asyncio
import copy
from pathlib import Path
from types import SimpleNamespace

import pytest

from dlxc.client.errors import ApiError, Conflict
from dlxc.client.workqueue import WorkQueue
from kubelet.archive import Written
from kubelet.backups import BackupAgent
from schemas.wire import BACKUP_FINALIZER


class SlowClaimApi:
    """Answers the claim only when told to; the test delivers the claimed object to the informer first."""

    def __init__(self) -> None:
        self.answer = asyncio.Event()
        self.claims = 0
        self.statuses: list[dict] = []

    async def patch(self, plural: str, name: str, patch: dict) -> dict:
        self.claims += 1
        await self.answer.wait()
        return {"metadata": {"name": name, "resourceVersion": "2", "finalizers": patch["metadata"]["finalizers"]}}

    async def patch_status(self, plural: str, name: str, status: dict, *, resource_version: str | None = None) -> dict:
        self.statuses.append(status)
        return {}

    async def record_event(self, *args: object, **kwargs: object) -> dict:
        return {}


class Recording(BackupAgent):
    def __init__(self, kubelet: object) -> None:
        super().__init__(kubelet)
        self.archived: list[str] = []

    def _archive(self, name: str, container: dict) -> tuple[Written, str]:
        self.archived.append(name)
        return Written(size=1, checksum="sha256:00", files=1, data_bytes=1), "frozen"


def test_a_backup_whose_claim_comes_back_through_the_watch_first_is_archived_once(tmp_path: Path) -> None:
    async def scenario() -> tuple[list[str], int, list[str]]:
        api = SlowClaimApi()
        container = {"metadata": {"name": "web", "uid": "u1"}, "spec": {"image": "busybox", "nodeName": "n1"}}
        kubelet = SimpleNamespace(
            client=api, queue=WorkQueue(),
            settings=SimpleNamespace(node_name="n1", backups=tmp_path, resync_interval=60.0),
            containers=SimpleNamespace(cache={"web": container}),
        )
        agent = Recording(kubelet)
        pending = {"metadata": {"name": "web-1", "resourceVersion": "1", "finalizers": []},
                   "spec": {"container": "web"}, "status": {"phase": "Pending"}}
        agent.informer.cache["web-1"] = pending
        first = asyncio.create_task(agent.handle("web-1"))
        await asyncio.sleep(0.01)  # the claim is on its way
        claimed = copy.deepcopy(pending)
        claimed["metadata"].update(resourceVersion="2", finalizers=[BACKUP_FINALIZER])
        agent.informer.cache["web-1"] = claimed  # the watch delivers our own claim before its answer
        second = asyncio.create_task(agent.handle("web-1"))
        await asyncio.sleep(0.01)
        api.answer.set()
        await asyncio.gather(first, second)
        return agent.archived, api.claims, [s["phase"] for s in api.statuses]

    archived, claims, phases = asyncio.run(scenario())
    assert (archived, claims, phases) == (["web-1"], 1, ["Running", "Completed"])


class VersionedApi:
    """Keeps one Backup's resourceVersion and refuses a status patch made on an older one, as the apiserver does."""

    def __init__(self) -> None:
        self.version = 2
        self.phases: list[str] = []

    async def patch_status(self, plural: str, name: str, status: dict, *, resource_version: str | None = None) -> dict:
        if resource_version is not None and resource_version != str(self.version):
            raise Conflict(f"backups/{name}: the object has been modified")
        self.version += 1
        self.phases.append(status["phase"])
        return {"metadata": {"name": name, "resourceVersion": str(self.version)}, "status": status}

    async def record_event(self, *args: object, **kwargs: object) -> dict:
        return {}


WEB = {"metadata": {"name": "web", "uid": "u1"}, "spec": {"image": "busybox", "nodeName": "n1"}}


def agent_on(api: VersionedApi, tmp_path: Path, containers: dict) -> Recording:
    return Recording(SimpleNamespace(
        client=api, queue=WorkQueue(),
        settings=SimpleNamespace(node_name="n1", backups=tmp_path, resync_interval=60.0),
        containers=SimpleNamespace(cache=containers),
    ))


def backup(version: str, phase: str) -> dict:
    """Backup web-1 of container web, claimed by this node's kubelet (its finalizer on)."""
    status = {"phase": phase, "node": "n1"} if phase != "Pending" else {"phase": phase}
    return {"metadata": {"name": "web-1", "resourceVersion": version, "finalizers": [BACKUP_FINALIZER]},
            "spec": {"container": "web"}, "status": status}


def test_a_backup_seen_running_again_after_this_kubelet_completed_it_is_not_failed(tmp_path: Path) -> None:
    """The work queue hands the key back once the archive is done, while the informer still holds our own Running
    write (the Completed event is on its way): that is not an archive an earlier kubelet left midway."""
    async def scenario() -> list[str]:
        api = VersionedApi()
        agent = agent_on(api, tmp_path, {"web": WEB})
        agent.informer.cache["web-1"] = backup("2", "Pending")
        await agent.handle("web-1")
        agent.informer.cache["web-1"] = backup("3", "Running")  # the watch is one event behind
        await agent.handle("web-1")
        return api.phases

    assert asyncio.run(scenario()) == ["Running", "Completed"]


def test_a_backup_left_running_by_an_earlier_kubelet_is_failed(tmp_path: Path) -> None:
    async def scenario() -> list[str]:
        api = VersionedApi()
        api.version = 3
        agent = agent_on(api, tmp_path, {})
        (tmp_path / "web-1.tar.zst.partial").write_bytes(b"half")
        agent.informer.cache["web-1"] = backup("3", "Running")
        await agent.handle("web-1")
        assert not (tmp_path / "web-1.tar.zst.partial").exists()
        return api.phases

    assert asyncio.run(scenario()) == ["Failed"]


def test_a_backup_seen_pending_again_after_this_kubelet_completed_it_is_not_archived_twice(tmp_path: Path) -> None:
    async def scenario() -> tuple[list[str], list[str]]:
        api = VersionedApi()
        agent = agent_on(api, tmp_path, {"web": WEB})
        agent.informer.cache["web-1"] = backup("2", "Pending")
        await agent.handle("web-1")
        await agent.handle("web-1")  # the watch has not brought even the Running write yet
        return agent.archived, api.phases

    assert asyncio.run(scenario()) == (["web-1"], ["Running", "Completed"])


class FlakyCompletionApi(VersionedApi):
    """The apiserver fails the first Completed report (an etcd election, say) after the archive is written."""

    def __init__(self) -> None:
        super().__init__()
        self.refuse_completed = 1

    async def patch_status(self, plural: str, name: str, status: dict, *, resource_version: str | None = None) -> dict:
        if status["phase"] == "Completed" and self.refuse_completed:
            self.refuse_completed -= 1
            raise ApiError("etcdserver: leader changed")
        return await super().patch_status(plural, name, status, resource_version=resource_version)


def test_a_completed_report_the_apiserver_did_not_take_is_sent_again_not_judged_a_dead_kubelet(tmp_path: Path) -> None:
    async def scenario() -> tuple[list[str], list[str]]:
        api = FlakyCompletionApi()
        agent = agent_on(api, tmp_path, {"web": WEB})
        agent.informer.cache["web-1"] = backup("2", "Pending")
        with pytest.raises(ApiError):
            await agent.handle("web-1")  # handle_or_retry puts the key back
        agent.informer.cache["web-1"] = backup("3", "Running")  # our Running write, now current
        await agent.handle("web-1")
        return agent.archived, api.phases

    assert asyncio.run(scenario()) == (["web-1"], ["Running", "Completed"])
