"""plan_set: which members a ContainerSet creates, deletes and replaces, as tables."""
from __future__ import annotations

import copy
from typing import Any

import pytest

from controller.setplan import AddFinalizer, Create, Delete, RemoveFinalizer, member_object, ordinal_of, plan_set
from schemas.containerset import ContainerSet, template_hash
from schemas.wire import SET_FINALIZER, SET_LABEL, TEMPLATE_HASH_ANNOTATION

NOW = 1_000_000.0
NOW_ISO = "1970-01-12T13:46:40Z"
OLD = {"metadata": {"labels": {"app": "web"}}, "spec": {"image": "busybox"}}
NEW = {"metadata": {"labels": {"app": "web"}}, "spec": {"image": "debian"}}


def a_set(replicas: int = 3, *, template: dict[str, Any] = OLD, max_unavailable: int = 1, **spec: Any) -> dict[str, Any]:
    obj = {
        "metadata": {"name": "web", "uid": "u1", "generation": 2, "finalizers": [SET_FINALIZER], "resourceVersion": "9"},
        "spec": {"replicas": replicas, "template": copy.deepcopy(template), "updateStrategy": {"maxUnavailable": max_unavailable}, **spec},
    }
    # The wire form the apiserver stores: defaults filled in, so the hash is the one the controller sees.
    wire = ContainerSet.model_validate(obj).to_wire()
    wire["metadata"].update({"uid": "u1", "generation": 2, "resourceVersion": "9"})
    return wire


def member(name: str, *, phase: str = "Running", template: dict[str, Any] | None = None, cset: dict[str, Any] | None = None,
           terminating: bool = False, created: str = "1970-01-12T13:46:00Z", message: str = "") -> dict[str, Any]:
    cset = cset or a_set(template=template or OLD)
    obj = {
        "metadata": {
            "name": name, "creationTimestamp": created,
            "labels": {SET_LABEL: "web"},
            "annotations": {TEMPLATE_HASH_ANNOTATION: template_hash(cset["spec"]["template"])},
        },
        "spec": {"image": "x"},
        "status": {"phase": phase, "message": message},
    }
    if terminating:
        obj["metadata"]["deletionTimestamp"] = NOW_ISO
    return obj


def members(*items: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["metadata"]["name"]: m for m in items}


def actions(cset: dict[str, Any], current: dict[str, dict[str, Any]]) -> list[Any]:
    return plan_set(cset, current, now=NOW, now_iso=NOW_ISO).actions


NEW_SET = a_set(template=NEW)


@pytest.mark.parametrize(
    ("cset", "current", "expected"),
    [
        (a_set(3), {}, [Create("web-0", 0), Create("web-1", 1), Create("web-2", 2)]),
        (a_set(3), members(member("web-0"), member("web-1"), member("web-2")), []),
        (a_set(5), members(member("web-0"), member("web-1"), member("web-2")), [Create("web-3", 3), Create("web-4", 4)]),
        (a_set(2), members(*(member(f"web-{i}") for i in range(5))),
         [Delete("web-4", "scaled down to 2"), Delete("web-3", "scaled down to 2"), Delete("web-2", "scaled down to 2")]),
        (a_set(0), members(member("web-0"), member("web-1")), [Delete("web-1", "scaled down to 0"), Delete("web-0", "scaled down to 0")]),
        (a_set(3), members(member("web-0"), member("web-2")), [Create("web-1", 1)]),
        (a_set(3), members(member("web-0"), member("web-1", terminating=True), member("web-2")), []),
        (a_set(1), members(member("web-0"), member("web-x"), member("web-01")),
         [Delete("web-x", "not a member name of this set"), Delete("web-01", "not a member name of this set")]),
    ],
    ids=["create-all", "steady", "scale-up", "scale-down-highest-first", "scale-to-zero", "deleted-by-hand-comes-back",
         "wait-for-terminating", "strangers-go"],
)
def test_replicas(cset: dict[str, Any], current: dict[str, dict[str, Any]], expected: list[Any]) -> None:
    assert actions(cset, current) == expected


@pytest.mark.parametrize(
    ("current", "max_unavailable", "expected"),
    [
        # All three on the old template and Running: one goes, the highest.
        ((("web-0", "Running", OLD), ("web-1", "Running", OLD), ("web-2", "Running", OLD)), 1,
         [Delete("web-2", "replaced by the new template")]),
        # web-2 is being re-created (missing): nobody else may go yet.
        ((("web-0", "Running", OLD), ("web-1", "Running", OLD)), 1, [Create("web-2", 2)]),
        # web-2 new but not Running yet: wait.
        ((("web-0", "Running", OLD), ("web-1", "Running", OLD), ("web-2", "Creating", NEW)), 1, []),
        # web-2 new and Running: the next one goes.
        ((("web-0", "Running", OLD), ("web-1", "Running", OLD), ("web-2", "Running", NEW)), 1,
         [Delete("web-1", "replaced by the new template")]),
        ((("web-0", "Running", OLD), ("web-1", "Running", OLD), ("web-2", "Running", OLD)), 2,
         [Delete("web-2", "replaced by the new template"), Delete("web-1", "replaced by the new template")]),
        # An old member that is down anyway is replaced at once, without using the budget.
        ((("web-0", "Running", OLD), ("web-1", "Stopped", OLD), ("web-2", "Running", OLD)), 1,
         [Delete("web-1", "replaced by the new template")]),
        ((("web-0", "Running", NEW), ("web-1", "Running", NEW), ("web-2", "Running", NEW)), 1, []),
    ],
    ids=["first-goes", "wait-for-recreate", "wait-for-running", "next-goes", "max-unavailable-2", "down-old-member-free", "done"],
)
def test_rolling_update(current: tuple[tuple[str, str, dict[str, Any]], ...], max_unavailable: int, expected: list[Any]) -> None:
    cset = a_set(template=NEW, max_unavailable=max_unavailable)
    found = members(*(member(n, phase=p, template=t) for n, p, t in current))
    assert actions(cset, found) == expected


def test_rolling_update_never_leaves_fewer_than_replicas_minus_max_unavailable_running() -> None:
    """Play the rollout out step by step: each deleted member comes back on the new template, Running."""
    cset = a_set(4, template=NEW)
    world = members(*(member(f"web-{i}") for i in range(4)))
    for _ in range(20):
        plan = plan_set(cset, world, now=NOW, now_iso=NOW_ISO)
        if not plan.actions:
            break
        for action in plan.actions:
            if isinstance(action, Delete):
                del world[action.name]
            elif isinstance(action, Create):
                world[action.name] = member(action.name, phase="Running", template=NEW)
        running = sum(1 for m in world.values() if m["status"]["phase"] == "Running")
        assert running >= 3
    assert all(m["metadata"]["annotations"][TEMPLATE_HASH_ANNOTATION] == template_hash(cset["spec"]["template"]) for m in world.values())
    assert plan_set(cset, world, now=NOW, now_iso=NOW_ISO).status["updatedReplicas"] == 4


@pytest.mark.parametrize(
    ("new_member", "why"),
    [
        (member("web-2", phase="Failed", template=NEW, message="image debian:nope not found"),
         "member web-2 failed: image debian:nope not found"),
        (member("web-2", phase="Creating", template=NEW, created="1970-01-12T13:00:00Z", message="pulling"),
         "member web-2 not Running after 300s (progressDeadline): pulling"),
    ],
    ids=["failed-phase", "past-deadline"],
)
def test_a_failed_update_stops_and_says_why(new_member: dict[str, Any], why: str) -> None:
    cset = a_set(template=NEW)
    plan = plan_set(cset, members(member("web-0"), member("web-1"), new_member), now=NOW, now_iso=NOW_ISO)
    assert plan.actions == []
    assert plan.failed == ("web-2", why)
    progressing = next(c for c in plan.status["conditions"] if c["type"] == "Progressing")
    assert (progressing["status"], progressing["reason"], progressing["message"]) == ("False", "UpdateFailed", why)


def test_deleting_the_set_deletes_members_then_drops_the_finalizer() -> None:
    cset = a_set(2)
    cset["metadata"]["deletionTimestamp"] = NOW_ISO
    assert actions(cset, members(member("web-0"), member("web-1"))) == [
        Delete("web-1", "the set is being deleted"), Delete("web-0", "the set is being deleted")]
    assert actions(cset, members(member("web-0", terminating=True))) == []
    assert actions(cset, {}) == [RemoveFinalizer()]


def test_a_new_set_gets_its_finalizer() -> None:
    cset = a_set(1)
    cset["metadata"]["finalizers"] = []
    assert actions(cset, members(member("web-0"))) == [AddFinalizer()]


def test_status_counts_and_revisions() -> None:
    old = plan_set(a_set(3), members(member("web-0"), member("web-1", phase="Creating")), now=NOW, now_iso=NOW_ISO).status
    assert {k: old[k] for k in ("replicas", "readyReplicas", "updatedReplicas", "observedGeneration", "currentRevision")} == {
        "replicas": 2, "readyReplicas": 1, "updatedReplicas": 2, "observedGeneration": 2, "currentRevision": 1}
    assert [c["type"] + "=" + c["status"] + "/" + c["reason"] for c in old["conditions"]] == [
        "Available=False/MinimumReplicasUnavailable", "Progressing=True/Updating"]
    changed = a_set(3, template=NEW)
    changed["status"] = old
    new = plan_set(changed, members(member("web-0"), member("web-1"), member("web-2")), now=NOW, now_iso=NOW_ISO).status
    assert [(r["revision"], r["template"]["spec"]["image"]) for r in new["revisions"]] == [(1, "busybox"), (2, "debian")]
    assert new["currentRevision"] == 2


def test_member_object_carries_owner_label_hash_and_spread() -> None:
    cset = a_set(2, memberPrefix="mc-node", ordinalStart=1, hostnamePrefix="node")
    obj = member_object(cset, 1)
    assert obj["metadata"]["name"] == "mc-node1"
    assert obj["metadata"]["labels"] == {"app": "web", SET_LABEL: "web"}
    assert obj["metadata"]["ownerReferences"] == [
        {"apiVersion": "dlxc.io/v1", "kind": "ContainerSet", "name": "web", "uid": "u1", "controller": True}]
    assert obj["spec"]["hostname"] == "node1"
    assert obj["spec"]["antiAffinity"] == {"group": "web", "mode": "preferred"}
    assert ordinal_of(cset["spec"], "web", "mc-node1") == 1
    assert actions(cset, {}) == [Create("mc-node1", 1), Create("mc-node2", 2)]


@pytest.mark.parametrize(
    ("replicas", "skip", "current", "expected"),
    [
        # node2 removed by name: only it goes; node3 keeps its name.
        (2, [2], ["mc-node1", "mc-node2", "mc-node3"], [Delete("mc-node2", "its ordinal is left out (skipOrdinals)")]),
        # the hole stays a hole when the set grows: the next member is after the highest.
        (3, [2], ["mc-node1", "mc-node3"], [Create("mc-node4", 4)]),
        (1, [1, 3], [], [Create("mc-node2", 2)]),
        # scaling down with a hole still takes the highest first.
        (1, [2], ["mc-node1", "mc-node3"], [Delete("mc-node3", "scaled down to 1")]),
    ],
    ids=["remove-middle", "grow-past-hole", "holes-at-start", "shrink-with-hole"],
)
def test_skipped_ordinals_leave_holes(replicas: int, skip: list[int], current: list[str], expected: list[Any]) -> None:
    cset = a_set(replicas, memberPrefix="mc-node", ordinalStart=1, skipOrdinals=skip)
    assert actions(cset, members(*(member(n, cset=cset) for n in current))) == expected


def test_skipped_ordinals_are_checked() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="ordinals must not repeat"):
        a_set(2, skipOrdinals=[1, 1])
    assert a_set(2, skipOrdinals=[5, 1])["spec"]["skipOrdinals"] == [1, 5]


def test_a_member_a_move_holds_is_not_created_from_the_template_until_the_hold_ends() -> None:
    """A drain deletes the member on purpose and creates it on another node from its backup: a copy
    from the template beat it to the name (the move failed AlreadyExists, its data left behind)."""
    from schemas.wire import MOVING_MEMBER_PREFIX

    held = a_set(3)
    held["metadata"]["annotations"] = {MOVING_MEMBER_PREFIX + "web-1": "1970-01-12T13:50:00Z",  # NOW + 200 s
                                       MOVING_MEMBER_PREFIX + "web-2": "1970-01-12T13:40:00Z",  # ended: a move that died
                                       MOVING_MEMBER_PREFIX + "web-0": "not a time"}
    assert actions(held, {}) == [Create("web-0", 0), Create("web-2", 2)]


def progressing(plan: Any) -> tuple[str, str, str]:
    found = next(c for c in plan.status["conditions"] if c["type"] == "Progressing")
    return found["status"], found["reason"], found["message"]


def rolled_out_set(**kw: Any) -> dict[str, Any]:
    """A set whose current template rolled out on the last pass (what the controller wrote then)."""
    cset = a_set(**kw)
    cset["status"] = plan_set(cset, members(*(member(f"web-{i}", cset=cset) for i in range(3))), now=NOW, now_iso=NOW_ISO).status
    assert progressing(plan_set(cset, {}, now=NOW, now_iso=NOW_ISO))[1] == "RolloutComplete"
    return cset


@pytest.mark.parametrize("down", [
    member("web-1", phase="Stopped", created="1970-01-12T13:00:00Z", message="stopped for a move"),
    member("web-1", phase="Failed", message="its host died"),
], ids=["stopped-long-ago", "failed"])
def test_a_member_down_after_the_rollout_is_no_failed_update(down: dict[str, Any]) -> None:
    """A drain stopped it, or its host died: `rollout status` said "rollout failed" with nothing rolling out."""
    cset = rolled_out_set()
    plan = plan_set(cset, members(member("web-0"), down, member("web-2")), now=NOW, now_iso=NOW_ISO)
    assert plan.failed is None and plan.actions == []
    assert progressing(plan) == ("True", "RolloutComplete", "3 members on the current template")
    available = next(c for c in plan.status["conditions"] if c["type"] == "Available")
    assert available["message"] == "2/3 members Running"


def test_during_a_rollout_a_member_asked_to_stop_is_not_judged_and_a_held_one_is_not_replaced() -> None:
    from schemas.wire import MOVING_MEMBER_PREFIX

    cset = a_set(template=NEW)
    stopped = member("web-2", phase="Stopped", template=NEW, created="1970-01-12T13:00:00Z")
    stopped["spec"]["state"] = "Stopped"
    cset["metadata"]["annotations"] = {MOVING_MEMBER_PREFIX + "web-1": "1970-01-12T13:50:00Z"}
    # web-1 is outdated and stopped by its move: replacing it costs no budget, and would delete it under the move.
    plan = plan_set(cset, members(member("web-0"), member("web-1", phase="Stopped"), stopped), now=NOW, now_iso=NOW_ISO)
    assert plan.failed is None
    assert plan.actions == []  # (web-0 waits: two of three are down, maxUnavailable 1)
    # Deleted by the move and not back yet: named, and not created from the template.
    plan = plan_set(cset, members(member("web-0"), stopped), now=NOW, now_iso=NOW_ISO)
    assert Create("web-1", 1) not in plan.actions
    assert progressing(plan) == ("True", "Updating", "1/3 members updated, 1 Running; web-1 being moved")
