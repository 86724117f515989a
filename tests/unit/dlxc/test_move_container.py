"""dlxc.apply.moves.move_container against an in-memory API whose kubelets act at once: where a move
may land (the scheduler's filters), what an interrupt or an API error leaves, and what a rollback keeps."""
from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest

from dlxc.apply.moves import DRAINED_FROM, MoveError, move_all, move_container
from dlxc.client.errors import AlreadyExists, Conflict, NotFound


def node(name: str, *, labels: dict[str, str] | None = None, memory: int = 8 * 2**30, cordoned: bool = False) -> dict:
    return {"metadata": {"name": name, "labels": labels or {}, "resourceVersion": "1"},
            "spec": {"unschedulable": cordoned},
            "status": {"conditions": [{"type": "Ready", "status": "True"}],
                       "allocatable": {"cpu": 4, "memory": memory, "disk": 2**40, "containers": 100}, "containerCount": 0}}


class Api:
    """Containers stop, back up, go and run the moment they are asked to; `fail_create_on` refuses a create there."""

    def __init__(self, nodes: list[dict], containers: list[dict], *, fail_create_on: str | None = None) -> None:
        self.nodes = {n["metadata"]["name"]: n for n in nodes}
        self.containers = {c["metadata"]["name"]: c for c in containers}
        self.backups: dict[str, dict] = {}
        self.fail_create_on = fail_create_on
        self.calls: list[tuple[str, str, str]] = []
        self.slow_gone = 0.0  # seconds a deleted container still shows

    async def get(self, plural: str, name: str) -> dict:
        store = {"nodes": self.nodes, "containers": self.containers, "backups": self.backups}[plural]
        if name not in store:
            raise NotFound(f"{plural}/{name} not found")
        return copy.deepcopy(store[name])

    async def list(self, plural: str, **_: Any) -> tuple[list[dict], str]:
        store = {"nodes": self.nodes, "containers": self.containers}[plural]
        return [copy.deepcopy(o) for o in store.values()], "1"

    async def patch(self, plural: str, name: str, body: dict) -> dict:
        self.calls.append(("patch", plural, name))
        obj = self.containers[name]
        if (body.get("spec") or {}).get("state"):
            obj["spec"]["state"] = body["spec"]["state"]
            obj["status"] = {"phase": "Stopped" if body["spec"]["state"] == "Stopped" else "Running"}
        obj["metadata"].setdefault("annotations", {}).update((body.get("metadata") or {}).get("annotations") or {})
        return copy.deepcopy(obj)

    async def create(self, plural: str, body: dict) -> dict:
        name = body["metadata"]["name"]
        self.calls.append(("create", plural, name))
        if plural == "backups":
            self.backups[name] = {**body, "status": {"phase": "Completed"}}
            return copy.deepcopy(self.backups[name])
        if name in self.containers:
            raise AlreadyExists(f"containers/{name} exists")
        if body["spec"].get("nodeName") == self.fail_create_on:
            raise Conflict(f"node {self.fail_create_on} refused it")
        self.containers[name] = {**copy.deepcopy(body), "status": {"phase": "Running"}}
        return copy.deepcopy(self.containers[name])

    async def delete(self, plural: str, name: str) -> None:
        self.calls.append(("delete", plural, name))
        if plural == "backups":
            self.backups.pop(name, None)
            return
        if self.slow_gone:
            await asyncio.sleep(self.slow_gone)
        self.containers.pop(name)


def web(node_name: str = "n1", **spec: Any) -> dict:
    return {"metadata": {"name": "web", "annotations": {}}, "spec": {"image": "busybox", "nodeName": node_name, **spec},
            "status": {"phase": "Running"}}


def test_a_move_lands_only_where_the_scheduler_would_place_the_container() -> None:
    """n2 has fewer containers but not the label web asks for: the old choice (fewest containers) put it there."""
    api = Api([node("n1", labels={"gpu": "yes"}), node("n2"), node("n3", labels={"gpu": "yes"}), node("n4", labels={"gpu": "yes"}, cordoned=True)],
              [web(nodeSelector={"gpu": "yes"})])
    api.nodes["n3"]["status"]["containerCount"] = 40
    moved = asyncio.run(move_container(api, "web", to=None))
    assert (moved.source, moved.target) == ("n1", "n3") and api.containers["web"]["spec"]["nodeName"] == "n3"


@pytest.mark.parametrize(("to", "message"), [
    (None, "container web fits on no other node: 0/1 nodes are available: 1 "),
    ("n2", "container web cannot run on node n2: "),
])
def test_a_container_that_fits_nowhere_else_is_not_touched(to: str | None, message: str) -> None:
    api = Api([node("n1"), node("n2", memory=2**30)], [web(memory="4Gi")])
    with pytest.raises(MoveError) as refused:
        asyncio.run(move_container(api, "web", to=to))
    assert str(refused.value).startswith(message), str(refused.value)
    assert api.calls == [] and api.containers["web"]["spec"]["nodeName"] == "n1"


def interrupt_after_the_delete(api: Api) -> None:
    """Move web to n2 and cancel the move once its delete is sent (the old copy takes 0.3 s to go); the
    caller sees the cancel, also when the create then failed (not that MoveError: it was cancelled)."""
    api.slow_gone = 0.3

    async def interrupted() -> None:
        task = asyncio.create_task(move_container(api, "web", to="n2"))
        while ("delete", "containers", "web") not in api.calls:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(interrupted())


def test_an_interrupt_between_the_delete_and_the_create_still_ends_with_the_container_on_the_target() -> None:
    """Ctrl-C while the old copy was going: the move was cancelled there and the container was never created again."""
    api = Api([node("n1"), node("n2")], [web()])
    interrupt_after_the_delete(api)
    assert api.containers["web"]["spec"]["nodeName"] == "n2" and api.containers["web"]["status"]["phase"] == "Running"


def test_a_failed_restore_puts_the_container_back_with_every_annotation_it_had() -> None:
    """`uncordon --restore` strips drained-from from the copy it moves back; a copy that goes back to
    where it was drained to must keep it, or the next --restore finds nothing to move."""
    drained = web("n2")
    drained["metadata"]["annotations"] = {DRAINED_FROM: "n1"}
    api = Api([node("n1"), node("n2")], [drained], fail_create_on="n1")
    said: list[str] = []
    with pytest.raises(MoveError):
        asyncio.run(move_container(api, "web", to="n1", strip=(DRAINED_FROM,), warn=said.append))
    back = api.containers["web"]
    assert back["spec"]["nodeName"] == "n2" and back["metadata"]["annotations"][DRAINED_FROM] == "n1"
    assert "container web: node n1 refused it" in said


def test_an_api_error_in_one_move_is_that_containers_failure_and_the_others_go_on() -> None:
    api = Api([node("n1"), node("n2"), node("n3")],
              [web(), {**web(), "metadata": {"name": "db", "annotations": {}}}], fail_create_on="n2")
    moved, failed = asyncio.run(move_all(api, ["db", "web"], to="n2", max_parallel=2, deadline=30, annotations={}))
    assert moved == [] and [line.split(":")[0] for line in failed] == ["db", "web"]
    assert all("node n2 refused it" in line for line in failed), failed
    assert {c["spec"]["nodeName"] for c in api.containers.values()} == {"n1"}


def test_a_set_member_is_held_from_its_set_while_it_moves_and_stays_its_member() -> None:
    from schemas.wire import MOVING_MEMBER_PREFIX, SET_LABEL

    member = web()
    member["metadata"].update({"name": "web-0", "labels": {SET_LABEL: "web"},
                               "ownerReferences": [{"kind": "ContainerSet", "name": "web", "uid": "u1"}]})
    api = Api([node("n1"), node("n2")], [member])
    api.sets = {"web": {"metadata": {"name": "web", "annotations": {}}}}
    holds: list[dict] = []
    original = api.patch

    async def patch(plural: str, name: str, body: dict) -> dict:
        if plural == "containersets":
            holds.append(body["metadata"]["annotations"])
            notes = api.sets[name]["metadata"]["annotations"]
            for key, value in body["metadata"]["annotations"].items():
                notes.pop(key, None) if value is None else notes.__setitem__(key, value)
            return {}
        if (body.get("spec") or {}).get("state") == "Stopped":
            assert MOVING_MEMBER_PREFIX + "web-0" in api.sets["web"]["metadata"]["annotations"], "held before the stop"
        return await original(plural, name, body)

    api.patch = patch  # type: ignore[method-assign]
    asyncio.run(move_container(api, "web-0", to="n2"))
    assert [list(h) for h in holds] == [[MOVING_MEMBER_PREFIX + "web-0"]] * 2 and holds[1][MOVING_MEMBER_PREFIX + "web-0"] is None
    assert api.sets["web"]["metadata"]["annotations"] == {}
    moved = api.containers["web-0"]
    assert moved["spec"]["nodeName"] == "n2" and moved["metadata"]["ownerReferences"][0]["name"] == "web"
    assert moved["metadata"]["labels"] == {SET_LABEL: "web"}


def test_an_interrupt_after_the_backup_and_before_the_delete_starts_the_container_again_where_it_was() -> None:
    api = Api([node("n1"), node("n2")], [web()])
    original = api.get

    async def get(plural: str, name: str) -> dict:
        if plural == "containers" and api.backups:  # the move reads the container again once its backup is done
            asyncio.current_task().cancel()  # type: ignore[union-attr]  # Ctrl-C just then
            await asyncio.sleep(0)
        return await original(plural, name)

    api.get = get  # type: ignore[method-assign]
    with pytest.raises(asyncio.CancelledError):
        asyncio.run(move_container(api, "web", to="n2"))
    assert (api.containers["web"]["spec"]["nodeName"], api.containers["web"]["spec"]["state"]) == ("n1", "Running")


def test_an_interrupted_move_that_went_through_deletes_its_backup_and_one_that_went_back_passes_the_cancel_on() -> None:
    """The backup holds the archive and the old node's kept directory: left behind, nothing removes them."""
    for fail_on, lands in ((None, "n2"), ("n2", "n1")):
        api = Api([node("n1"), node("n2")], [web()], fail_create_on=fail_on)
        interrupt_after_the_delete(api)
        assert api.containers["web"]["spec"]["nodeName"] == lands
        assert (api.backups == {}) is (fail_on is None)
