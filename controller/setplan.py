"""What a ContainerSet needs done, worked out from the set and its members alone: no I/O here.

`plan_set(set, members, now=...)` returns the actions (create, delete, finalizer changes) and the
status the set should show. The controller runs the actions; running them again is harmless
(a create of an existing member is a 409, a delete of a gone one a 404, both ignored).

Rules, in the order they apply:
- a set being deleted deletes every member, and drops its finalizer once none is left;
- members are SET-0 .. SET-(replicas-1) (or the spec's prefix and first ordinal, leaving out the
  ordinals of spec.skipOrdinals: a hole where a chosen member was removed, its neighbours keeping
  their names); any other member the set owns is deleted, highest ordinal first;
- a missing member is created from the current template (a member deleted by hand comes back
  with the same name); a member still terminating is waited for, and so is one a move holds
  (`moving.dlxc.io/MEMBER: UNTIL` on the set, until that time: the move creates it elsewhere);
- rolling update: a member made from an older template is deleted (then re-created from the new
  one) only while fewer than maxUnavailable of the wanted members are down, highest ordinal first;
  it stops when an updated member failed (phase Failed, or not Running within progressDeadline).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime

from schemas.base import Obj
from schemas.containerset import member_name, ordinals, template_hash
from schemas.wire import (
    MOVING_MEMBER_PREFIX,
    SET_FINALIZER,
    SET_LABEL,
    TEMPLATE_HASH_ANNOTATION,
)

__all__ = [
    "AddFinalizer",
    "Create",
    "Delete",
    "RemoveFinalizer",
    "SetPlan",
    "member_object",
    "moving_members",
    "ordinal_of",
    "plan_set",
    "set_status",
]

MAX_REVISIONS = 10


@dataclass(frozen=True)
class Create:
    name: str
    ordinal: int


@dataclass(frozen=True)
class Delete:
    name: str
    reason: str


@dataclass(frozen=True)
class AddFinalizer:
    pass


@dataclass(frozen=True)
class RemoveFinalizer:
    pass


Action = Create | Delete | AddFinalizer | RemoveFinalizer


@dataclass
class SetPlan:
    actions: list[Action] = field(default_factory=list)
    status: Obj = field(default_factory=dict)
    # Set when a rolling update stopped: (member, why), for a condition and an Event.
    failed: tuple[str, str] | None = None


def ordinal_of(spec: Obj, set_name: str, name: str) -> int | None:
    """The ordinal in a member's name, or None when the name is not one the set would give."""
    prefix = spec.get("memberPrefix") or f"{set_name}-"
    rest = name[len(prefix):] if name.startswith(prefix) else ""
    if not rest.isdigit() or (len(rest) > 1 and rest.startswith("0")):
        return None
    return int(rest)


def _terminating(member: Obj) -> bool:
    return bool(member["metadata"].get("deletionTimestamp"))


def _running(member: Obj) -> bool:
    return not _terminating(member) and (member.get("status") or {}).get("phase") == "Running"


def _hash_of(member: Obj) -> str | None:
    return (member["metadata"].get("annotations") or {}).get(TEMPLATE_HASH_ANNOTATION)


def _age(member: Obj, now: float) -> float:
    created = member["metadata"].get("creationTimestamp")
    if not created:
        return 0.0
    return now - datetime.fromisoformat(created.replace("Z", "+00:00")).timestamp()


def _update_failure(member: Obj, *, now: float, deadline: float) -> str | None:
    """Why an updated member counts as a failed update, or None."""
    status = member.get("status") or {}
    if status.get("phase") == "Failed":
        return f"member {member['metadata']['name']} failed: {status.get('message') or 'phase Failed'}"
    if status.get("phase") != "Running" and _age(member, now) > deadline:
        why = status.get("message") or status.get("phase", "Pending")
        return f"member {member['metadata']['name']} not Running after {deadline:g}s (progressDeadline): {why}"
    return None


def member_object(cset: Obj, ordinal: int) -> Obj:
    """The Container a set wants as member `ordinal`, from its current template."""
    meta, spec = cset["metadata"], cset["spec"]
    template = spec["template"]
    tmeta = template.get("metadata") or {}
    cspec = copy.deepcopy(template["spec"])
    if spec.get("hostnamePrefix"):
        cspec["hostname"] = f"{spec['hostnamePrefix']}{ordinal}"
    if not cspec.get("antiAffinity"):
        # Spread members over nodes when it can be done; never refuse a place for it.
        cspec["antiAffinity"] = {"group": meta["name"], "mode": "preferred"}
    return {
        "apiVersion": "dlxc.io/v1",
        "kind": "Container",
        "metadata": {
            "name": member_name(spec, meta["name"], ordinal),
            "labels": {**(tmeta.get("labels") or {}), SET_LABEL: meta["name"]},
            "annotations": {**(tmeta.get("annotations") or {}), TEMPLATE_HASH_ANNOTATION: template_hash(template)},
            "ownerReferences": [
                {"apiVersion": "dlxc.io/v1", "kind": "ContainerSet", "name": meta["name"], "uid": meta.get("uid", ""), "controller": True}
            ],
        },
        "spec": cspec,
    }


def _condition(kind: str, status: str, reason: str, message: str, previous: list[Obj], now_iso: str) -> Obj:
    old = next((c for c in previous if c.get("type") == kind), None)
    when = old.get("lastTransitionTime") if old and old.get("status") == status else now_iso
    return {"type": kind, "status": status, "reason": reason, "message": message, "lastTransitionTime": when}


def _revisions(cset: Obj, current: str) -> list[Obj]:
    history = list((cset.get("status") or {}).get("revisions") or [])
    if history and history[-1].get("hash") == current:
        return history
    number = max((r.get("revision", 0) for r in history), default=0) + 1
    history = [r for r in history if r.get("hash") != current]
    history.append({"revision": number, "hash": current, "template": copy.deepcopy(cset["spec"]["template"])})
    return history[-MAX_REVISIONS:]


def set_status(
    cset: Obj, members: dict[str, Obj], *, wanted: int, failed: tuple[str, str] | None, now_iso: str,
    held: set[str] | frozenset[str] = frozenset(),
) -> Obj:
    """The set's status from its members: counts, conditions, revisions (status.autoscale is the
    autoscaler's). Once the template rolled out, Progressing stays RolloutComplete until it changes
    (a member down later shows in Available); `held`: members a move holds, named while missing."""
    spec, old = cset["spec"], cset.get("status") or {}
    current = template_hash(spec["template"])
    live = [m for m in members.values() if not _terminating(m)]
    ready = sum(1 for m in live if _running(m))
    updated = sum(1 for m in live if _hash_of(m) == current)
    max_unavailable = (spec.get("updateStrategy") or {}).get("maxUnavailable", 1)
    previous = old.get("conditions") or []
    available = ready >= max(0, wanted - max_unavailable)
    conditions = [
        _condition("Available", "True" if available else "False", "MinimumReplicasReady" if available else "MinimumReplicasUnavailable",
                   f"{ready}/{wanted} members Running", previous, now_iso),
    ]
    moving = sorted(held - {m["metadata"]["name"] for m in live})
    if failed is not None:
        conditions.append(_condition("Progressing", "False", "UpdateFailed", failed[1], previous, now_iso))
    elif updated == wanted == ready == len(live) or (rolled_out(cset) and updated == len(live)):
        conditions.append(_condition("Progressing", "True", "RolloutComplete", f"{wanted} members on the current template", previous, now_iso))
    else:
        conditions.append(_condition("Progressing", "True", "Updating",
                                     f"{updated}/{wanted} members updated, {ready} Running"
                                     + (f"; {', '.join(moving)} being moved" if moving else ""), previous, now_iso))
    revisions = _revisions(cset, current)
    status: Obj = {
        "replicas": len(live),
        "readyReplicas": ready,
        "updatedReplicas": updated,
        "observedGeneration": cset["metadata"].get("generation"),
        "currentRevision": revisions[-1]["revision"],
        "updateHash": current,
        "conditions": conditions,
        "revisions": revisions,
    }
    return status


def moving_members(meta: Obj, *, now: float) -> set[str]:
    """The members a move holds now (its mark on the set not yet expired; an unreadable time holds nothing)."""
    held = set()
    for key, until in (meta.get("annotations") or {}).items():
        if key.startswith(MOVING_MEMBER_PREFIX):
            try:
                if datetime.fromisoformat(until.replace("Z", "+00:00")).timestamp() > now:
                    held.add(key.removeprefix(MOVING_MEMBER_PREFIX))
            except (AttributeError, ValueError):
                continue
    return held


def plan_set(cset: Obj, members: dict[str, Obj], *, now: float, now_iso: str, replicas: int | None = None) -> SetPlan:
    """The actions and status for one set, given the members it owns (name -> Container)."""
    meta, spec = cset["metadata"], cset["spec"]
    name = meta["name"]
    plan = SetPlan()
    finalizers = meta.get("finalizers") or []
    if meta.get("deletionTimestamp"):
        for member in sorted(members.values(), key=lambda m: -(ordinal_of(spec, name, m["metadata"]["name"]) or 0)):
            if not _terminating(member):
                plan.actions.append(Delete(member["metadata"]["name"], "the set is being deleted"))
        if not members and SET_FINALIZER in finalizers:
            plan.actions.append(RemoveFinalizer())
        plan.status = set_status(cset, members, wanted=0, failed=None, now_iso=now_iso)
        return plan
    if SET_FINALIZER not in finalizers:
        plan.actions.append(AddFinalizer())

    wanted = spec.get("replicas", 1) if replicas is None else replicas
    start = spec.get("ordinalStart", 0)
    wanted_ordinals = ordinals(start, spec.get("skipOrdinals") or [], wanted)
    by_ordinal: dict[int, Obj] = {}
    for member in members.values():
        ordinal = ordinal_of(spec, name, member["metadata"]["name"])
        if ordinal is None or ordinal not in wanted_ordinals:
            if not _terminating(member):
                why = ("not a member name of this set" if ordinal is None
                       else "its ordinal is left out (skipOrdinals)" if ordinal in (spec.get("skipOrdinals") or [])
                       else f"scaled down to {wanted}")
                plan.actions.append(Delete(member["metadata"]["name"], why))
        else:
            by_ordinal[ordinal] = member
    # Highest ordinal goes first.
    plan.actions.sort(key=lambda a: -(ordinal_of(spec, name, a.name) or 0) if isinstance(a, Delete) else 0)

    held = moving_members(meta, now=now)
    for ordinal in wanted_ordinals:
        if ordinal not in by_ordinal and member_name(spec, name, ordinal) not in held:
            plan.actions.append(Create(member_name(spec, name, ordinal), ordinal))

    current = template_hash(spec["template"])
    strategy = spec.get("updateStrategy") or {}
    max_unavailable = strategy.get("maxUnavailable", 1)
    deadline = strategy.get("progressDeadline", 300.0)
    # A member that stops or fails after its template rolled out is not a failed update (a drain
    # stops members, a host dies): only a rollout under way is judged, and never by a member asked
    # to be Stopped or held by a move.
    judged = [m for m in by_ordinal.values() if _hash_of(m) == current and not _terminating(m)
              and (m.get("spec") or {}).get("state", "Running") != "Stopped" and m["metadata"]["name"] not in held]
    for member in judged if not rolled_out(cset) else []:
        why = _update_failure(member, now=now, deadline=deadline)
        if why is not None:
            plan.failed = (member["metadata"]["name"], why)
            break
    outdated = sorted((o for o, m in by_ordinal.items() if _hash_of(m) != current and not _terminating(m)
                       and m["metadata"]["name"] not in held), reverse=True)
    if outdated and plan.failed is None:
        # An outdated member that is down costs nothing to replace; a Running one uses the budget.
        down = sum(1 for o in wanted_ordinals if o not in by_ordinal or not _running(by_ordinal[o]))
        budget = max(0, max_unavailable - down)
        for ordinal in outdated:
            running = _running(by_ordinal[ordinal])
            if running and budget == 0:
                continue
            budget -= running
            plan.actions.append(Delete(by_ordinal[ordinal]["metadata"]["name"], "replaced by the new template"))
    plan.status = set_status(cset, members, wanted=wanted, failed=plan.failed, now_iso=now_iso, held=held)
    return plan


def rolled_out(cset: Obj) -> bool:
    """Whether the set's current template has rolled out already (Progressing said RolloutComplete
    for this very template): from then on until the template changes, no rollout is under way."""
    status = cset.get("status") or {}
    progressing = next((c for c in status.get("conditions") or [] if c.get("type") == "Progressing"), None)
    return (progressing is not None and progressing.get("reason") == "RolloutComplete"
            and status.get("updateHash") == template_hash(cset["spec"]["template"]))
