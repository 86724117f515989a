"""The binding loop: watch nodes and containers, place each unbound container, bind it through the API.

One worker decides, in queue order, against the cache; a decision is assumed at once and its bind
(which answers 409 to a second bind) runs in the background, so the API's round trip does not limit
how fast containers are placed. Up to `bind_concurrency` bind requests are in flight; each takes
every decision made while the others were out (up to `bind_batch`, POST .../bindingbatches: each item
still its own conditioned write on the server), so a burst costs a few requests instead of one per
container, and a lone decision goes at once. Against an apiserver without batches, one request per
bind (POST .../binding), as before.

A container that fits nowhere stays Pending with a Scheduled=False condition that counts the reasons
node by node; it is tried again with exponential backoff, and at once when a node or a container
change may have made room.

Events: Scheduled with each bind; FailedScheduling on every attempt that found no node. The
message is the decision's (per-node reasons), so the same reason again is the same event and the
server raises its count, while a new reason is a new line. Scheduled rides on the bind request and
is written in the bind's own etcd transaction (one write per container instead of two, and never an
event for a bind that lost). FailedScheduling goes through an EventRecorder: queued, never awaited,
so a slow apiserver never holds up a decision.
"""
from __future__ import annotations

import asyncio
import logging
import random
from typing import Any

from dlxc.client.api import Client
from dlxc.client.errors import ApiError, Conflict, Invalid, NotFound, error_from_response
from dlxc.client.events import NORMAL, WARNING, EventRecorder, one_line
from dlxc.client.informer import Informer
from dlxc.client.verbs import binding_body, event_body
from dlxc.client.workqueue import WorkQueue
from dlxc.tasks import cancel_and_wait
from scheduler.cache import SchedulerCache, request_of
from scheduler.config import SchedulerSettings
from scheduler.framework import Decision, schedule
from schemas.base import Obj, now_iso

__all__ = ["Scheduler", "placement_of", "scheduled_condition"]

log = logging.getLogger("dlxc.scheduler")

WAKE_DELAY = 0.2  # seconds to gather the cluster changes that wake waiting containers


def placement_of(decision: Decision, *, seed: int, time: str | None = None) -> Obj:
    """The decision as `status.placement` (schemas.container.Placement, wire form)."""
    placement: Obj = {
        "total": decision.total,
        "scores": dict(decision.scores),
        "weights": dict(decision.weights),
        "runnersUp": [{"node": c.node, "total": c.total, "scores": dict(c.scores)} for c in decision.runners_up],
        "nodes": decision.nodes,
        "feasible": decision.feasible,
        "rejected": dict(decision.rejected),
        "message": decision.message,
        "seed": seed,
        "time": time or now_iso(),
    }
    if decision.node is not None:
        placement["node"] = decision.node
    return placement


def scheduled_condition(decision: Decision, previous: Obj | None) -> Obj:
    status = "True" if decision.node else "False"
    keep = previous is not None and previous.get("status") == status
    return {
        "type": "Scheduled",
        "status": status,
        "reason": "Scheduled" if decision.node else "Unschedulable",
        "message": decision.message,
        "lastTransitionTime": previous.get("lastTransitionTime") if keep and previous else now_iso(),
    }


def _scheduled_message(decision: Decision) -> str:
    return one_line(f"assigned to node {decision.node}; {decision.message}")


def _bind_args(body: Obj) -> dict[str, Any]:
    """A binding_body as the keyword arguments of Client.bind."""
    return {"node": body["nodeName"], "placement": body.get("placement"), "resource_version": body.get("resourceVersion"),
            "event": body.get("event")}


def _no_batch_route(error: ApiError) -> bool:
    """Whether a binding batch was refused as a route the apiserver does not have (404, 405 or 422),
    rather than failed as a request."""
    return isinstance(error, (NotFound, Invalid)) or error.status == 405


def _unbound(container: Obj | None) -> bool:
    return bool(
        container
        and not container["spec"].get("nodeName")
        and not container["metadata"].get("deletionTimestamp")
    )


class Scheduler:
    """Caches of nodes and containers; one deciding worker; binds in the background."""

    def __init__(self, client: Client, settings: SchedulerSettings | None = None) -> None:
        self.client = client
        self.settings = settings or SchedulerSettings()
        self.rng = random.Random(self.settings.seed)
        self.filters = self.settings.filter_plugins()
        self.scorers = self.settings.score_plugins()
        self.cache = SchedulerCache()
        self.nodes = Informer(client, "nodes", self._on_node)
        self.containers = Informer(client, "containers", self._on_container)
        # Retries back off per container (1 s doubling to 30 s by default); a success forgets it.
        self.queue: WorkQueue[str] = WorkQueue(
            base_delay=self.settings.retry_initial_seconds, max_delay=self.settings.retry_max_seconds)
        self.unschedulable: set[str] = set()
        self.to_bind: list[tuple[Obj, Decision]] = []  # decided and assumed, waiting for a bind request
        self._room = asyncio.Event()  # set while to_bind has room for more decisions
        self.in_flight: set[asyncio.Task[None]] = set()  # bind requests
        self.bound = 0
        self._wake: asyncio.TimerHandle | None = None
        self.events = EventRecorder(client, component="scheduler")
        self.event_with_bind = True  # the Scheduled event rides on the bind, unless the apiserver is too old for it
        self.batch_binds = True  # several binds per request, unless the apiserver is too old for it

    @property
    def assumed(self) -> dict[str, str]:
        return self.cache.assumed

    def enqueue(self, name: str) -> None:
        self.queue.add(name)

    def _wake_waiting(self) -> None:
        """Something may have made room: every waiting container gets another try, soon.

        Wakes are gathered for WAKE_DELAY seconds, so a burst of deletions costs one pass over the
        waiting containers, not one pass per deletion.
        """
        if self.unschedulable and self._wake is None:
            self._wake = asyncio.get_running_loop().call_later(WAKE_DELAY, self._wake_now)

    def _wake_now(self) -> None:
        self._wake = None
        for name in sorted(self.unschedulable):
            self.queue.discard_delayed(name)  # tried now instead of at the end of its backoff
            self.enqueue(name)
        self.unschedulable.clear()

    async def _on_node(self, name: str, old: Obj | None, new: Obj | None) -> None:
        if new is None:
            self.cache.remove_node(name)
            return
        if self.cache.update_node(new):
            self._wake_waiting()

    async def _on_container(self, name: str, old: Obj | None, new: Obj | None) -> None:
        if self.cache.update_container(name, new):
            self._wake_waiting()
        if not _unbound(new) or name in self.cache.assumed:
            self.unschedulable.discard(name)
            return
        assert new is not None
        if name in self.unschedulable and old is not None and old.get("spec") == new.get("spec"):
            return  # only its status changed (our own Unschedulable write): wait for backoff or room
        self.unschedulable.discard(name)
        self.enqueue(name)

    def decide(self, container: Obj) -> Decision:
        return schedule(
            request_of(container), self.cache.table,
            filters=self.filters, scorers=self.scorers, rng=self.rng, runners_up=self.settings.runners_up,
        )

    async def schedule_one(self, name: str) -> None:
        container = self.containers.cache.get(name)
        if not _unbound(container) or name in self.cache.assumed:
            return
        assert container is not None
        try:
            decision = self.decide(container)
        except ValueError as exc:  # a spec the server accepted but we cannot read: say so, do not loop
            decision = Decision(None, message=f"cannot schedule: {exc}")
        if decision.node is None:
            await self._record_unschedulable(container, decision)
            return
        self.cache.assume(name, decision.node, request_of(container))
        # Decisions run ahead of the binds by at most one full request's worth.
        while len(self.to_bind) >= self._batch_size():
            self._room.clear()
            await self._room.wait()
        self.to_bind.append((container, decision))
        self._send_binds()

    def _batch_size(self) -> int:
        return self.settings.bind_batch if self.batch_binds else 1

    def _send_binds(self) -> None:
        """Start bind requests for what waits, while fewer than bind_concurrency are in flight: each
        takes everything decided meanwhile, up to a full batch. One decision alone goes at once."""
        while self.to_bind and len(self.in_flight) < self.settings.bind_concurrency:
            size = self._batch_size()
            batch, self.to_bind = self.to_bind[:size], self.to_bind[size:]
            task = asyncio.create_task(self._bind_batch(batch))
            self.in_flight.add(task)
            task.add_done_callback(self._bind_done)
        if len(self.to_bind) < self._batch_size():
            self._room.set()

    def _bind_done(self, task: asyncio.Task[None]) -> None:
        self.in_flight.discard(task)
        if not task.cancelled():
            self._send_binds()

    async def _bind_batch(self, batch: list[tuple[Obj, Decision]]) -> None:
        """Bind each (container, decision): one request for them all (POST .../bindingbatches, each item
        its own conditioned write on the server), or one request each against an apiserver too old for it."""
        if not self.batch_binds or len(batch) == 1:
            await asyncio.gather(*(self._record_and_bind(container, decision) for container, decision in batch))
            return
        bodies = [{"name": container["metadata"]["name"], **self._binding(container, decision, event=True)}
                  for container, decision in batch]
        try:
            answers = await self.client.bind_batch(bodies)
            if len(answers) != len(batch):
                raise ApiError(f"the apiserver answered {len(answers)} binds of {len(batch)}")
        except ApiError as exc:
            if not _no_batch_route(exc):
                for container, decision in batch:
                    self._settle(container, decision, exc)
                return
            # An apiserver older than this scheduler (a rolling upgrade): bind one request each, as before.
            log.info("the apiserver takes no binding batches (%s); binding one container per request", exc.message)
            self.batch_binds = False
            await asyncio.gather(*(self._record_and_bind(container, decision) for container, decision in batch))
            return
        for (container, decision), answer in zip(batch, answers):
            code = int(answer.get("code") or 500)
            self._settle(container, decision, None if code < 300 else error_from_response(code, answer))

    def _binding(self, container: Obj, decision: Decision, *, event: bool) -> Obj:
        """The bind of `decision`, with the explanation, against the version the decision was made on.

        One write: the binding sets spec.nodeName, status.placement and the Scheduled condition
        together (and records the Scheduled event with `event`), and answers 409 if the container
        changed under the decision or another scheduler bound it first.
        """
        assert decision.node is not None
        placement = placement_of(decision, seed=self.settings.seed) if self.settings.record_placement else None
        scheduled = None
        if event:
            scheduled = event_body({"kind": "Container", "metadata": {"name": container["metadata"]["name"]}}, type=NORMAL,
                                   reason="Scheduled", message=_scheduled_message(decision), component="scheduler")
        return binding_body(decision.node, placement=placement, resource_version=container["metadata"]["resourceVersion"],
                            event=scheduled)

    async def _record_and_bind(self, container: Obj, decision: Decision) -> None:
        """Bind one container in a request of its own (see _binding)."""
        name = container["metadata"]["name"]
        assert decision.node is not None
        try:
            if self.event_with_bind:
                try:
                    await self.client.bind(name, **_bind_args(self._binding(container, decision, event=True)))
                except Invalid as exc:
                    if not any(d.get("field") == "event" for d in exc.details):
                        raise
                    # An apiserver older than this scheduler (a rolling upgrade): bind as it knows
                    # how, and post the event on its own, as before.
                    log.info("the apiserver takes no event with a bind (%s); posting Scheduled events apart", exc.message)
                    self.event_with_bind = False
            if not self.event_with_bind:
                await self.client.bind(name, **_bind_args(self._binding(container, decision, event=False)))
                self.events.record("Container", name, type=NORMAL, reason="Scheduled", message=_scheduled_message(decision))
        except ApiError as exc:
            self._settle(container, decision, exc)
            return
        self._settle(container, decision, None)

    def _settle(self, container: Obj, decision: Decision, error: ApiError | None) -> None:
        """After a bind: done (error None), or let the assumption go and try again when that may help."""
        name = container["metadata"]["name"]
        if error is None:
            self.bound += 1
            self.queue.forget(name)
            self.queue.discard_delayed(name)
            log.debug("bound %s: %s", name, decision.message)
            return
        self.cache.forget(name, self.containers.cache.get(name))
        if isinstance(error, (Conflict, NotFound)):
            # Changed, deleted, or bound by another scheduler: let go; the watch brings what is true.
            current = self.containers.cache.get(name)
            if current is not None and current["metadata"]["resourceVersion"] != container["metadata"]["resourceVersion"]:
                self.enqueue(name)  # the change already arrived while we held the assumption
            return
        log.warning("binding %s to %s failed: %s; retrying", name, decision.node, error.message)
        self._retry_later(name)

    async def _record_unschedulable(self, container: Obj, decision: Decision) -> None:
        name = container["metadata"]["name"]
        self.unschedulable.add(name)
        self._retry_later(name)
        # Every attempt: the same reason again raises the event's count (the status is written only on a change).
        self.events.record("Container", name, type=WARNING, reason="FailedScheduling", message=decision.message)
        status = dict(container.get("status") or {})
        conditions = status.get("conditions") or []
        previous = next((c for c in conditions if c.get("type") == "Scheduled"), None)
        if previous and previous.get("message") == decision.message and status.get("phase") == "Pending":
            return  # already says so; do not write the same thing again
        status.update({
            "phase": "Pending",
            "message": decision.message,
            "placement": placement_of(decision, seed=self.settings.seed),
            "conditions": [c for c in conditions if c.get("type") != "Scheduled"] + [
                scheduled_condition(decision, previous)
            ],
        })
        body = {"metadata": {"name": name, "resourceVersion": container["metadata"]["resourceVersion"]},
                "spec": container["spec"], "status": status}
        try:
            await self.client.replace_status("containers", body)
        except (NotFound, Conflict):
            pass  # changed meanwhile: the watch brings it back to the queue
        log.info("%s is unschedulable: %s", name, decision.message)

    def _retry_later(self, name: str) -> None:
        """Exponential backoff per container, capped; one pending retry per container."""
        self.queue.discard_delayed(name)
        self.queue.add_rate_limited(name)

    async def _process(self, name: str) -> None:
        try:
            await self.schedule_one(name)
        except ApiError as exc:
            log.warning("scheduling %s failed: %s; retrying", name, exc.message)
            self._retry_later(name)

    async def synced(self) -> None:
        """Both caches hold the whole cluster (the moment for dlxc.gctune.freeze)."""
        await self.nodes.synced.wait()
        await self.containers.synced.wait()

    async def run(self) -> None:
        tasks = [asyncio.create_task(self.nodes.run()), asyncio.create_task(self.containers.run())]
        try:
            await self.synced()
            tasks.append(asyncio.create_task(self.queue.run(self._process, workers=1)))
            await asyncio.gather(*tasks)
        finally:
            await cancel_and_wait(*tasks, *self.in_flight)
            await self.events.close()
            self.queue.shutdown()
            if self._wake is not None:
                self._wake.cancel()
