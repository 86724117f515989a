"""Node lifecycle: a node whose Lease goes silent is NotReady after the grace, and its containers are moved after the eviction timeout.

A node's Lease is renewed in the apiserver's memory (apiserver/heartbeats.py): it changes in etcd
only when written, and it is *deleted* once the node was silent for the apiservers' expire-after
(5 s), or with the apiserver that kept it alive. So a node whose Lease exists is live, and a node
whose Lease this controller saw deleted has been silent since (DELETE seen - expire-after): that
moment is never before the start of the kubelet's last acknowledged renewal, on this controller's
own monotonic clock, so no two clocks need to agree. Timers (defaults) count from there:

- node grace (5 s): silent this long -> Ready=Unknown, event NodeNotReady; the scheduler's
  NodeReady filter keeps new containers off it. Shorter detects sooner but a GC pause or a slow
  etcd write of 5 heartbeats in a row marks a healthy node NotReady.
- eviction timeout (4 s after NotReady): silent for grace + eviction -> every container bound
  there that allows failover is unbound (events say from where and why) and the scheduler places
  it again. Must be long enough that grace + eviction >= the kubelets' fence timeout (6 s) plus a
  margin (at least 1 s; 3 s by default, for the poll period and the time a fenced kubelet needs to
  kill its containers on a loaded host): that is what makes "never two running copies" hold.
  Power loss to Running elsewhere is about grace + eviction + period + a bind + a create (~10 s).
- period (0.5 s): how often the nodes are checked.

A node without any Lease that this controller never saw deleted (older kubelets; or its Lease
expired while no controller watched) is judged by its Node heartbeats instead,
with the longer `heartbeat_grace` (40 s), and is never evicted: nothing there fences itself, so
moving its containers could run them twice. A freshly started controller gives every node a full
grace first: it has never seen them renew.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel, model_validator

from dlxc.client.api import Client
from dlxc.client.errors import ApiError, Conflict, NotFound
from dlxc.client.informer import Informer
from dlxc.tasks import cancel_and_wait
from schemas.base import Obj, now_iso
from schemas.wire import LXC_FINALIZER

__all__ = ["NodeLifecycleController", "NodeLifecycleSettings", "Verdict", "node_verdict"]

log = logging.getLogger("dlxc.controller")
Verdict = Literal["live", "not-ready", "evict"]
GONE = "lease-gone"


class NodeLifecycleSettings(BaseModel):
    node_grace: float = 5.0
    eviction_timeout: float = 4.0
    fence_timeout: float = 6.0  # what the kubelets were started with (--fence-timeout)
    fence_margin: float = 1.0
    period: float = 0.5
    heartbeat_grace: float = 40.0  # nodes without a Lease: NotReady after this long without a Node heartbeat
    # What the apiservers were started with (--heartbeat-expire-after): a Lease deleted for silence
    # was last renewed at least this long before the DELETE.
    lease_expire_after: float = 5.0

    @model_validator(mode="after")
    def _safe(self) -> NodeLifecycleSettings:
        if self.node_grace + self.eviction_timeout < self.fence_timeout + self.fence_margin:
            raise ValueError(
                f"node grace {self.node_grace:g}s + eviction timeout {self.eviction_timeout:g}s must be at least the "
                f"kubelets' fence timeout {self.fence_timeout:g}s + margin {self.fence_margin:g}s, or a moved container "
                "could start elsewhere before its old copy is stopped"
            )
        return self


def node_verdict(*, silent_for: float, settings: NodeLifecycleSettings) -> Verdict:
    """What a node is, given how long its Lease has been seen silent."""
    if silent_for < settings.node_grace:
        return "live"
    if silent_for < settings.node_grace + settings.eviction_timeout:
        return "not-ready"
    return "evict"


def _ready(node: Obj) -> str | None:
    cond = next((c for c in (node.get("status") or {}).get("conditions", []) if c.get("type") == "Ready"), None)
    return cond.get("status") if cond else None


def _has_node_lost(container: Obj) -> bool:
    return any(c.get("type") == "NodeLost" for c in (container.get("status") or {}).get("conditions", []))


class NodeLifecycleController:
    def __init__(
        self, client: Client, settings: NodeLifecycleSettings | None = None, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.client = client
        self.settings = settings or NodeLifecycleSettings()
        self.clock = clock
        self.started = clock()
        self.seen: dict[str, tuple[str, float]] = {}  # node -> (last liveness signal, when we saw it change)
        self.nodes = Informer(client, "nodes", self._on_node)
        self.leases = Informer(client, "leases", self._on_lease)
        self.containers = Informer(client, "containers", self._ignore)
        self.evicted = 0

    def _saw(self, node: str, signal: str) -> None:
        previous = self.seen.get(node)
        if previous is None or previous[0] != signal:
            self.seen[node] = (signal, self.clock())

    async def _on_lease(self, name: str, old: Obj | None, new: Obj | None) -> None:
        if new is not None:
            self._saw(name, "lease:" + new["metadata"]["resourceVersion"])
        elif old is not None:
            # Deleted for silence (or with its apiserver): silent since expire-after before now.
            self.seen[name] = (GONE, self.clock() - self.settings.lease_expire_after)

    def lease_gone(self, node: str) -> bool:
        return self.seen.get(node, ("", 0.0))[0] == GONE

    async def _on_node(self, name: str, old: Obj | None, new: Obj | None) -> None:
        if new is None:
            self.seen.pop(name, None)
        elif name not in self.leases.cache and not self.lease_gone(name):
            self._saw(name, "beat:" + str((new.get("status") or {}).get("lastHeartbeatTime")))

    async def _ignore(self, name: str, old: Obj | None, new: Obj | None) -> None:
        return None

    def silent_for(self, node: str) -> float:
        if node in self.leases.cache:
            return 0.0  # the apiservers keep it only while it is renewed
        _, since = self.seen.get(node, ("", self.started))
        return self.clock() - max(since, self.started)

    # ---- actions ----

    async def mark_not_ready(self, node: Obj, silent: float) -> None:
        name = node["metadata"]["name"]
        message = f"node lease not renewed for {silent:.1f}s (grace {self.settings.node_grace:g}s)"
        status = dict(node.get("status") or {})
        status["conditions"] = [c for c in status.get("conditions", []) if c.get("type") != "Ready"] + [
            {"type": "Ready", "status": "Unknown", "reason": "NodeStatusUnknown", "message": message, "lastTransitionTime": now_iso()}
        ]
        body = {"metadata": {"name": name, "resourceVersion": node["metadata"]["resourceVersion"]}, "spec": node.get("spec", {}), "status": status}
        await self.client.replace_status("nodes", body)
        log.warning("node %s is NotReady: %s", name, message)
        await self._event(node, reason="NodeNotReady", message=message, type="Warning")

    async def evict(self, node: str, silent: float) -> None:
        why = (
            f"node {node} lost: its lease was not renewed for {silent:.1f}s "
            f"(grace {self.settings.node_grace:g}s + eviction timeout {self.settings.eviction_timeout:g}s)"
        )
        for container in list(self.containers.cache.values()):
            if container["spec"].get("nodeName") != node:
                continue
            name = container["metadata"]["name"]
            try:
                if container["metadata"].get("deletionTimestamp"):
                    await self._release_finalizer(container)
                elif container["spec"].get("failover") == "Never":
                    await self._mark_node_lost(container, why)
                else:
                    await self.client.unbind(name, node, reason="NodeLost", message=f"evicted: {why}")
                    self.evicted += 1
                    log.warning("%s: unbound from %s", name, node)
                    await self._event(container, reason="Evicted", message=f"moved off {why}", type="Warning")
            except (Conflict, NotFound):
                pass  # changed meanwhile; the next pass sees what is true

    async def _release_finalizer(self, container: Obj) -> None:
        """A container deleted while its node is lost: its fenced copy is gone or stopped; let the delete finish."""
        meta = container["metadata"]
        rest = [f for f in meta.get("finalizers", []) if f != LXC_FINALIZER]
        if rest != meta.get("finalizers", []):
            await self.client.patch("containers", meta["name"], {"metadata": {"finalizers": rest, "resourceVersion": meta["resourceVersion"]}})

    async def _mark_node_lost(self, container: Obj, why: str) -> None:
        if _has_node_lost(container):
            return
        status = container.get("status") or {}
        conditions = [c for c in status.get("conditions", []) if c.get("type") != "NodeLost"] + [
            {"type": "NodeLost", "status": "True", "reason": "NodeLost", "message": f"{why}; failover: Never keeps it bound there",
             "lastTransitionTime": now_iso()}
        ]
        await self.client.patch_status("containers", container["metadata"]["name"], {"conditions": conditions},
                                       resource_version=container["metadata"]["resourceVersion"])
        await self._event(container, reason="NodeLost", message=f"{why}; it stays bound (failover: Never)", type="Warning")

    async def _clear_node_lost(self, node: str) -> None:
        for container in list(self.containers.cache.values()):
            if container["spec"].get("nodeName") == node and _has_node_lost(container):
                conditions = [c for c in container["status"].get("conditions", []) if c.get("type") != "NodeLost"]
                await self.client.patch_status("containers", container["metadata"]["name"], {"conditions": conditions},
                                               resource_version=container["metadata"]["resourceVersion"])

    async def _event(self, involved: Obj, *, reason: str, message: str, type: str) -> None:
        try:
            await self.client.record_event(involved, reason=reason, message=message, type=type, component="node-lifecycle-controller")
        except ApiError as exc:
            log.warning("cannot record event %s: %s", reason, exc.message)

    async def run_once(self) -> None:
        for name, node in list(self.nodes.cache.items()):
            silent = self.silent_for(name)
            verdict = node_verdict(silent_for=silent, settings=self.settings)
            if name not in self.leases.cache and not self.lease_gone(name):
                verdict = "live" if silent < self.settings.heartbeat_grace else "not-ready"
            try:
                if verdict == "live":
                    await self._clear_node_lost(name)
                    continue
                if _ready(node) == "True":
                    await self.mark_not_ready(node, silent)
                if verdict == "evict":
                    await self.evict(name, silent)
            except (Conflict, NotFound):
                pass

    async def run(self) -> None:
        tasks = [asyncio.create_task(i.run()) for i in (self.leases, self.nodes, self.containers)]
        try:
            for informer in (self.leases, self.nodes, self.containers):
                await informer.synced.wait()
            self.started = self.clock()
            while True:
                try:
                    await self.run_once()
                except ApiError as exc:
                    log.warning("node lifecycle pass failed: %s", exc.message)
                await asyncio.sleep(self.settings.period)
        finally:
            await cancel_and_wait(*tasks)
