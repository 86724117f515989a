"""The ContainerSet controller: keeps each set's members as `controller.setplan` says, and autoscales.

Level-triggered: a change to a set or to one of its members (containers labelled dlxc.io/set)
queues the set's name; handling a name re-reads both caches, plans, acts, and writes the status.
Every set is queued again every `resync` seconds to catch anything missed. Sets with
spec.autoscale get a decision every autoscale.period seconds (controller.autoscale), which
writes spec.replicas, so scaling by hand and by the autoscaler go through the same path.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import datetime, timezone

from pydantic import BaseModel

from controller.autoscale import Recommendation, cpu_percent, decide
from controller.requeue import sync_or_requeue
from controller.setplan import AddFinalizer, Create, Delete, RemoveFinalizer, member_object, plan_set
from dlxc.client.api import Client
from dlxc.client.errors import AlreadyExists, ApiError, Conflict, Fenced, NotFound
from dlxc.client.informer import Informer
from dlxc.client.workqueue import WorkQueue
from dlxc.tasks import cancel_and_wait
from schemas.base import Obj, iso_time
from schemas.containerset import ContainerSetStatus
from schemas.wire import SET_FINALIZER, SET_LABEL

__all__ = ["ContainerSetController", "ContainerSetSettings"]

log = logging.getLogger("dlxc.controller.containerset")
COMPONENT = "containerset-controller"
KEEP_DECISIONS = 5


class ContainerSetSettings(BaseModel):
    resync: float = 5.0  # seconds between full passes over every set
    tick: float = 0.5  # how often the autoscale timers are looked at


class ContainerSetController:
    def __init__(
        self, client: Client, settings: ContainerSetSettings | None = None, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.client = client
        self.settings = settings or ContainerSetSettings()
        self.clock = clock
        self.sets = Informer(client, "containersets", self._on_set)
        self.members = Informer(client, "containers", self._on_member, label_selector=SET_LABEL)
        self.queue: WorkQueue[str] = WorkQueue()
        self.recommendations: dict[str, tuple[Recommendation, ...]] = {}
        self.last_decision: dict[str, float] = {}
        # set -> member -> the FailedCreate message last recorded; in memory, so a new leader says it once more.
        self.create_failures: dict[str, dict[str, str]] = {}

    # ---- queueing ----

    def enqueue(self, name: str) -> None:
        self.queue.add(name)

    async def _on_set(self, name: str, old: Obj | None, new: Obj | None) -> None:
        self.enqueue(name)

    async def _on_member(self, name: str, old: Obj | None, new: Obj | None) -> None:
        obj = new or old
        owner = ((obj or {}).get("metadata", {}).get("labels") or {}).get(SET_LABEL)
        if owner:
            self.enqueue(owner)

    # ---- one set ----

    def members_of(self, name: str) -> dict[str, Obj]:
        return {
            n: m for n, m in self.members.cache.items() if (m["metadata"].get("labels") or {}).get(SET_LABEL) == name
        }

    async def sync(self, name: str) -> None:
        """Plan and act for one set, from the caches as they are now."""
        cset = self.sets.cache.get(name)
        members = self.members_of(name)
        if cset is None:
            self.create_failures.pop(name, None)
            # The set is gone without its finalizer (removed by hand): its members go too.
            for member in members.values():
                await self._delete(member["metadata"]["name"])
            return
        now = self.clock()
        plan = plan_set(cset, members, now=now, now_iso=iso_time(datetime.fromtimestamp(now, timezone.utc)))
        meta = cset["metadata"]
        # A failure no longer planned (the member made, scaled away) is forgotten: if it comes back, it is news.
        creating = {a.name for a in plan.actions if isinstance(a, Create)}
        failures = {m: why for m, why in self.create_failures.get(name, {}).items() if m in creating}
        self.create_failures[name] = failures
        for action in plan.actions:
            if isinstance(action, Create):
                await self._create(cset, action, failures)
            elif isinstance(action, Delete):
                if await self._delete(action.name):
                    log.info("%s: deleting member %s (%s)", name, action.name, action.reason)
                    await self._event(cset, "DeleteMember", f"deleting member {action.name}: {action.reason}")
            elif isinstance(action, AddFinalizer):
                cset = await self.client.patch(
                    "containersets", name,
                    {"metadata": {"finalizers": [*meta.get("finalizers", []), SET_FINALIZER], "resourceVersion": meta["resourceVersion"]}},
                )
            elif isinstance(action, RemoveFinalizer):
                rest = [f for f in meta.get("finalizers", []) if f != SET_FINALIZER]
                await self.client.patch("containersets", name, {"metadata": {"finalizers": rest, "resourceVersion": meta["resourceVersion"]}})
                return  # deleted now
        old_status = cset.get("status") or {}
        if plan.failed is not None and not _failed_before(old_status):
            log.warning("%s: rolling update stopped: %s", name, plan.failed[1])
            await self._event(cset, "UpdateFailed", f"rolling update stopped: {plan.failed[1]}", type="Warning")
        # Compared in canonical form (defaults filled in): a status write is itself a change, so
        # writing an equal one would requeue the set forever.
        # status.autoscale is the autoscaler's: left out of this merge patch, so the two never undo each other.
        status = ContainerSetStatus.model_validate(plan.status).to_wire()
        status.pop("autoscale", None)
        old_canonical = ContainerSetStatus.model_validate(old_status).to_wire()
        old_canonical.pop("autoscale", None)
        if status != old_canonical:
            await self.client.patch_status("containersets", name, status)

    async def _create(self, cset: Obj, action: Create, failures: dict[str, str]) -> None:
        """Create one member. A refusal is a Warning event, once per member and reason (`failures`,
        member -> the message last recorded), and never ends the pass: the other actions and the
        status write still happen, so `rollout status` sees the generation and the events say why."""
        name = cset["metadata"]["name"]
        try:
            await self.client.create("containers", member_object(cset, action.ordinal))
        except AlreadyExists:
            why = await self._taken_name(name, action.name)
            if why is None:
                return  # still terminating under the same name, or made meanwhile: the next pass sees
            message = f"{why}; delete it so the set can create its member"
        except ApiError as exc:
            if exc.retryable or isinstance(exc, Fenced):
                raise  # the apiserver is away, or this controller was fenced: the whole pass is retried
            message = f"cannot create member {action.name}: {exc.message}"
        else:
            failures.pop(action.name, None)
            log.info("%s: created member %s", name, action.name)
            await self._event(cset, "CreateMember", f"created member {action.name}")
            return
        if failures.get(action.name) != message:
            failures[action.name] = message
            log.warning("%s: %s", name, message)
            await self._event(cset, "FailedCreate", message, type="Warning")

    async def _taken_name(self, name: str, member: str) -> str | None:
        """Why `member` of set `name` cannot be created although it is missing, or None when the
        container under its name is one to wait for (terminating, or a member the cache lags on)."""
        try:
            found = await self.client.get("containers", member)
        except NotFound:
            return None  # gone meanwhile
        meta = found["metadata"]
        owner = (meta.get("labels") or {}).get(SET_LABEL)
        if meta.get("deletionTimestamp") or owner == name:
            return None
        label = f"its {SET_LABEL} label says {owner}" if owner else f"it has no {SET_LABEL} label"
        return f"a container named {member} exists that is not a member of set {name} ({label})"

    async def _delete(self, name: str) -> bool:
        try:
            await self.client.delete("containers", name)
            return True
        except NotFound:
            return False

    async def _event(self, cset: Obj, reason: str, message: str, *, type: str = "Normal") -> None:
        try:
            await self.client.record_event(cset, reason=reason, message=message, type=type, component=COMPONENT)
        except ApiError as exc:
            log.warning("cannot record event %s: %s", reason, exc.message)

    # ---- autoscaling ----

    async def autoscale(self, name: str) -> None:
        """One decision for one set (spec.autoscale): write spec.replicas, an Event, status.autoscale."""
        cset = self.sets.cache.get(name)
        if cset is None or cset["metadata"].get("deletionTimestamp") or not cset["spec"].get("autoscale"):
            self.recommendations.pop(name, None)
            return
        now = self.clock()
        current = int(cset["spec"].get("replicas", 1))
        served = await self._usage()
        usages = [u for m in self.members_of(name).values() if (m.get("status") or {}).get("phase") == "Running"
                  for u in [cpu_percent(m, served.get(m["metadata"]["name"]))] if u is not None]
        decision = decide(current=current, usages=usages, autoscale=cset["spec"]["autoscale"],
                          history=self.recommendations.get(name, ()), now=now)
        self.recommendations[name] = decision.history
        record = {
            "time": iso_time(datetime.fromtimestamp(now, timezone.utc)),
            "current": decision.current,
            "desired": decision.desired,
            "targetPercent": decision.target_percent,
            "message": decision.message,
        }
        if decision.usage_percent is not None:
            record["usagePercent"] = round(decision.usage_percent, 1)
        if decision.desired != current:
            meta = cset["metadata"]
            await self.client.patch("containersets", name, {"spec": {"replicas": decision.desired},
                                                            "metadata": {"resourceVersion": meta["resourceVersion"]}})
            log.info("%s: autoscaled %d -> %d: %s", name, current, decision.desired, decision.message)
            await self._event(cset, "Autoscale", f"replicas {current} -> {decision.desired}: {decision.message}")
        decisions = [*(cset.get("status") or {}).get("autoscale", []), record][-KEEP_DECISIONS:]
        await self.client.patch_status("containersets", name, {"autoscale": decisions})

    async def _usage(self) -> dict[str, dict[str, float]]:
        """Every container's latest sample, from the kubelets' memory through the API (apiserver.usage
        keeps each kubelet's answer a few seconds, so sets deciding together cost one fan-out)."""
        try:
            served = await self.client.usage("containers")
        except ApiError as exc:
            log.warning("no usage metrics for autoscaling: %s", exc.message)
            return {}
        return {entry["name"]: entry.get("usage") or {} for entry in served.get("items") or []}

    async def autoscale_due(self) -> None:
        now = self.clock()
        for name, cset in list(self.sets.cache.items()):
            spec = cset["spec"].get("autoscale")
            if not spec:
                continue
            if now - self.last_decision.get(name, 0.0) >= float(spec.get("period", 15.0)):
                self.last_decision[name] = now
                try:
                    await self.autoscale(name)
                except (Conflict, NotFound):
                    pass
                except ApiError as exc:
                    log.warning("%s: autoscale failed: %s", name, exc.message)

    # ---- loops ----

    async def _process(self, name: str) -> None:
        await sync_or_requeue(self.queue, name, self.sync, log)

    async def _resync(self) -> None:
        while True:
            await asyncio.sleep(self.settings.resync)
            for name in list(self.sets.cache) + [
                (m["metadata"].get("labels") or {}).get(SET_LABEL, "") for m in self.members.cache.values()
            ]:
                if name:
                    self.enqueue(name)

    async def _autoscaler(self) -> None:
        while True:
            await self.autoscale_due()
            await asyncio.sleep(self.settings.tick)

    async def run(self) -> None:
        informers = [asyncio.create_task(i.run()) for i in (self.sets, self.members)]
        loops: list[asyncio.Task[None]] = []
        try:
            for informer in (self.sets, self.members):
                await informer.synced.wait()
            loops = [asyncio.create_task(c()) for c in (self._resync, self._autoscaler)]
            await self.queue.run(self._process)
        finally:
            await cancel_and_wait(*informers, *loops)


def _failed_before(status: Obj) -> bool:
    return any(c.get("type") == "Progressing" and c.get("reason") == "UpdateFailed" for c in status.get("conditions") or [])
