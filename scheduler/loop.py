"""The binding loop: watch nodes and containers, place each unbound container, bind it through the API."""
from __future__ import annotations

import asyncio
import logging
import random
from datetime import datetime, timezone
from typing import Any

from pydantic import BaseModel

from dlxc.client import Client, Informer
from dlxc.errors import ApiError, Conflict, NotFound
from scheduler.framework import Decision, NodeInfo, Request, schedule
from scheduler.plugins import DEFAULT_FILTERS, DEFAULT_WEIGHTS, SCORERS
from schemas.quantity import parse_bytes

__all__ = ["Scheduler", "SchedulerSettings", "node_infos", "request_of"]

log = logging.getLogger("dlxc.scheduler")
Obj = dict[str, Any]


class SchedulerSettings(BaseModel):
    weights: dict[str, float] = dict(DEFAULT_WEIGHTS)
    seed: int = 0
    retry_initial: float = 1.0
    retry_max: float = 30.0


def request_of(container: Obj) -> Request:
    spec = container.get("spec", {})
    return Request(
        name=container["metadata"]["name"],
        cpu=float(spec.get("cpu") or 0.0),
        memory=parse_bytes(spec["memory"]) if spec.get("memory") else 0,
        disk=parse_bytes(spec["disk"]) if spec.get("disk") else 0,
        node_selector=spec.get("nodeSelector") or {},
    )


def node_infos(nodes: list[Obj], containers: list[Obj], assumed: dict[str, str]) -> list[NodeInfo]:
    """Every node with what its bound (or assumed-bound) containers request."""
    used: dict[str, list[float]] = {}
    for container in containers:
        name = container["metadata"]["name"]
        node = container["spec"].get("nodeName") or assumed.get(name)
        if not node:
            continue
        req = request_of(container)
        acc = used.setdefault(node, [0.0, 0, 0, 0])
        acc[0] += req.cpu
        acc[1] += req.memory
        acc[2] += req.disk
        acc[3] += 1
    infos = []
    for node in nodes:
        status = node.get("status", {})
        alloc = status.get("allocatable", {})
        ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions", []))
        acc = used.get(node["metadata"]["name"], [0.0, 0, 0, 0])
        infos.append(
            NodeInfo(
                name=node["metadata"]["name"],
                ready=ready and not node["metadata"].get("deletionTimestamp"),
                unschedulable=bool(node.get("spec", {}).get("unschedulable")),
                labels={**(node["metadata"].get("labels") or {}), **(node.get("spec", {}).get("labels") or {})},
                cpu=float(alloc.get("cpu", 0)),
                memory=int(alloc.get("memory", 0)),
                disk=int(alloc.get("disk", 0)),
                max_containers=int(alloc.get("containers", 0)),
                requested_cpu=acc[0],
                requested_memory=int(acc[1]),
                requested_disk=int(acc[2]),
                containers=int(acc[3]),
            )
        )
    return infos


def _unbound(container: Obj | None) -> bool:
    return bool(
        container
        and not container["spec"].get("nodeName")
        and not container["metadata"].get("deletionTimestamp")
    )


class Scheduler:
    """Keeps caches of nodes and containers; one worker places containers one at a time, in order."""

    def __init__(self, client: Client, settings: SchedulerSettings | None = None) -> None:
        self.client = client
        self.settings = settings or SchedulerSettings()
        self.rng = random.Random(self.settings.seed)
        self.nodes = Informer(client, "nodes", self._on_node)
        self.containers = Informer(client, "containers", self._on_container)
        self.queue: asyncio.Queue[str] = asyncio.Queue()
        self.queued: set[str] = set()
        # Binds made but not yet seen through the watch: they count against their node at once,
        # so a burst of containers never overcommits a node.
        self.assumed: dict[str, str] = {}
        self.backoff: dict[str, float] = {}
        self.unschedulable: set[str] = set()

    def enqueue(self, name: str) -> None:
        if name not in self.queued:
            self.queued.add(name)
            self.queue.put_nowait(name)

    async def _on_node(self, name: str, old: Obj | None, new: Obj | None) -> None:
        # A node change may make room: give every waiting container another try.
        for waiting in list(self.unschedulable):
            self.unschedulable.discard(waiting)
            self.enqueue(waiting)

    async def _on_container(self, name: str, old: Obj | None, new: Obj | None) -> None:
        if new is None or new["spec"].get("nodeName"):
            self.assumed.pop(name, None)
        if old is not None and old["spec"].get("nodeName") and (new is None or not _unbound(new)):
            await self._on_node(name, None, None)  # a container left a node: room for the waiting ones
        if _unbound(new):
            self.enqueue(name)

    def decide(self, container: Obj) -> Decision:
        scorers = {name: (SCORERS[name], weight) for name, weight in self.settings.weights.items() if weight}
        infos = node_infos(list(self.nodes.cache.values()), list(self.containers.cache.values()), self.assumed)
        return schedule(request_of(container), infos, filters=DEFAULT_FILTERS, scorers=scorers, rng=self.rng)

    async def schedule_one(self, name: str) -> None:
        container = self.containers.cache.get(name)
        if not _unbound(container) or name in self.assumed:
            return
        decision = self.decide(container)
        if decision.node is None:
            await self._record_unschedulable(container, decision)
            return
        self.assumed[name] = decision.node
        try:
            await self.client.bind(name, decision.node)
            self.backoff.pop(name, None)
            log.info("bound %s to %s (%s)", name, decision.node, decision.message)
        except (Conflict, NotFound):
            self.assumed.pop(name, None)  # bound by someone else, or deleted: nothing to do
        except ApiError:
            self.assumed.pop(name, None)
            raise

    async def _record_unschedulable(self, container: Obj, decision: Decision) -> None:
        name = container["metadata"]["name"]
        self.unschedulable.add(name)
        status = dict(container.get("status") or {})
        condition = {
            "type": "Scheduled",
            "status": "False",
            "reason": "Unschedulable",
            "message": decision.message,
            "lastTransitionTime": datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"),
        }
        conditions = [c for c in status.get("conditions", []) if c.get("type") != "Scheduled"]
        previous = next((c for c in status.get("conditions", []) if c.get("type") == "Scheduled"), None)
        if previous and previous.get("message") == decision.message and status.get("phase") == "Pending":
            condition["lastTransitionTime"] = previous.get("lastTransitionTime")
            if status.get("message") == decision.message:
                self._retry_later(name)
                return
        status.update({"phase": "Pending", "message": decision.message, "conditions": [*conditions, condition]})
        try:
            await self.client.replace_status(
                "containers", {"metadata": {"name": name}, "spec": container["spec"], "status": status}
            )
        except (NotFound, Conflict):
            pass
        self._retry_later(name)

    def _retry_later(self, name: str) -> None:
        delay = min(self.settings.retry_max, self.backoff.get(name, self.settings.retry_initial / 2) * 2)
        self.backoff[name] = delay
        asyncio.get_running_loop().call_later(delay, self._retry, name)

    def _retry(self, name: str) -> None:
        if name in self.unschedulable:
            self.unschedulable.discard(name)
            self.enqueue(name)

    async def _worker(self) -> None:
        while True:
            name = await self.queue.get()
            self.queued.discard(name)
            try:
                await self.schedule_one(name)
            except ApiError as exc:
                log.warning("scheduling %s failed: %s; retrying", name, exc.message)
                await asyncio.sleep(0.5)
                self.enqueue(name)

    async def run(self) -> None:
        tasks = [asyncio.create_task(self.nodes.run()), asyncio.create_task(self.containers.run())]
        await self.nodes.synced.wait()
        await self.containers.synced.wait()
        tasks.append(asyncio.create_task(self._worker()))
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
