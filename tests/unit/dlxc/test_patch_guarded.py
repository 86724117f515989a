"""Read-decide-write verbs survive a status write landing between their read and their write."""
from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest

from dlxc.cli.cordon import set_unschedulable
from dlxc.cli.scale import scale_set
from dlxc.client.errors import Conflict
from dlxc.client.guarded import patch_guarded


class BusyStore:
    """One object; the first `busy` reads are each followed by another writer's status write,
    so a write guarded by that read's version is refused with Conflict."""

    def __init__(self, obj: dict[str, Any], busy: int) -> None:
        self.obj, self.busy, self.patches = obj, busy, []

    async def get(self, plural: str, name: str) -> dict[str, Any]:
        read = copy.deepcopy(self.obj)
        if self.busy:
            self.busy -= 1
            self._bump()
        return read

    def _bump(self) -> None:
        self.obj["metadata"]["resourceVersion"] = str(int(self.obj["metadata"]["resourceVersion"]) + 1)

    async def patch(self, plural: str, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        if patch["metadata"]["resourceVersion"] != self.obj["metadata"]["resourceVersion"]:
            raise Conflict(f"{plural}/{name} was changed meanwhile")
        self.patches.append(patch)
        for key, value in patch.get("spec", {}).items():
            self.obj["spec"][key] = value
        self._bump()
        return self.obj


def a_set(replicas: int) -> dict[str, Any]:
    return {"metadata": {"name": "web", "resourceVersion": "7"}, "spec": {"replicas": replicas}, "status": {}}


def test_scale_is_read_and_decided_again_after_a_conflict() -> None:
    store = BusyStore(a_set(2), busy=2)
    assert asyncio.run(scale_set(store, "web", 3)) == "set/web scaled from 2 to 3"  # type: ignore[arg-type]
    assert store.obj["spec"]["replicas"] == 3
    assert store.patches == [{"spec": {"replicas": 3}, "metadata": {"resourceVersion": "9"}}]


def test_cordon_survives_the_kubelets_status_write() -> None:
    node = {"metadata": {"name": "n1", "resourceVersion": "3"}, "spec": {}}
    store = BusyStore(node, busy=1)
    assert asyncio.run(set_unschedulable(store, "n1", True)) is True  # type: ignore[arg-type]
    assert store.obj["spec"]["unschedulable"] is True


def test_the_decision_is_made_on_the_fresh_copy() -> None:
    """Another scale landed meanwhile: the second decision sees it, so nothing is written twice."""
    store = BusyStore(a_set(2), busy=0)
    real_get = store.get

    async def get_then_someone_scales(plural: str, name: str) -> dict[str, Any]:
        read = await real_get(plural, name)
        if not store.patches and store.obj["spec"]["replicas"] == 2:
            store.obj["spec"]["replicas"] = 3
            store._bump()
        return read

    store.get = get_then_someone_scales  # type: ignore[method-assign]
    assert asyncio.run(scale_set(store, "web", 3)) == "set/web already has 3 replicas"  # type: ignore[arg-type]
    assert store.patches == []


def test_a_conflict_every_time_is_raised_after_the_last_attempt() -> None:
    store = BusyStore(a_set(2), busy=100)
    with pytest.raises(Conflict):
        asyncio.run(patch_guarded(store, "containersets", "web", lambda o: {"spec": {"replicas": 3}}, attempts=3))
    assert store.busy == 97 and store.patches == []


class BusyReplaceStore(BusyStore):
    async def replace(self, plural: str, obj: dict[str, Any]) -> dict[str, Any]:
        if obj["metadata"]["resourceVersion"] != self.obj["metadata"]["resourceVersion"]:
            raise Conflict(f"{plural}/{obj['metadata']['name']} was changed meanwhile")
        self.patches.append(obj)
        self.obj = copy.deepcopy(obj)
        self._bump()
        return self.obj


def test_a_whole_object_replace_is_read_and_decided_again_after_a_conflict() -> None:
    """rollout undo replaces the template (a merge patch cannot take a field out) next to an autoscaler
    that writes the set's status every period."""
    from dlxc.client.guarded import replace_guarded

    store = BusyReplaceStore({"metadata": {"name": "web", "resourceVersion": "4"},
                              "spec": {"template": {"spec": {"image": "debian", "memory": "64Mi"}}}}, busy=2)

    def back_to_busybox(obj: dict[str, Any]) -> dict[str, Any]:
        obj["spec"]["template"] = {"spec": {"image": "busybox"}}
        return obj

    read, written = asyncio.run(replace_guarded(store, "containersets", "web", back_to_busybox))
    assert read["metadata"]["resourceVersion"] == "6" and written is not None
    assert store.obj["spec"]["template"] == {"spec": {"image": "busybox"}}
    assert len(store.patches) == 1
