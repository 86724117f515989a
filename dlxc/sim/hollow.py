"""Hollow kubelets: many fake nodes in one process, for scale work on the control plane only.

A hollow node registers a Node with a made-up capacity, renews its node Lease exactly as the real
kubelet does (the same `NodeLease`, the same `LeaseSettings` defaults: a renewal every second), posts
its Node status every `heartbeat_interval`, and reports every container
bound to it as Running, without creating anything. It runs no LXC at all (it never imports liblxc)
and it must never stand in for the real kubelet in a test of the kubelet: it exists so the
scheduler and the apiserver can be measured against thousands of nodes on one machine.

All hollow nodes of a process share one container watch (a real kubelet watches only its own
containers; thousands of filtered watches would measure the apiserver's watch fan-out instead).
With `stats` (`dlxc hollow-nodes --serve-usage`) they also serve made-up usage the way kubelets
do, all from one TLS server of the process (dlxc/sim/statsserver.py), which every Node names as its
`streamEndpoint`; without it they publish no endpoint and the apiserver asks them nothing.
"""
from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass, field

from dlxc import __version__
from dlxc.client.api import Client
from dlxc.client.errors import AlreadyExists, ApiError, Conflict, NotFound
from dlxc.client.informer import Informer
from dlxc.client.workqueue import WorkQueue
from dlxc.sim.statsserver import HollowStats
from dlxc.tasks import cancel_and_wait
from kubelet.lease import NodeLease, Wheel
from kubelet.settings import KubeletSettings, LeaseSettings
from kubelet.usage import status_due
from schemas.base import Obj, now_iso
from schemas.wire import HOLLOW_LABEL

__all__ = ["SIZES", "HollowNode", "HollowNodes", "mixed_nodes"]

log = logging.getLogger("dlxc.hollow")
GI = 2**30

# (name, cpu cores, memory bytes, disk bytes, max containers, share of nodes)
SIZES: tuple[tuple[str, float, int, int, int, float], ...] = (
    ("small", 2, 4 * GI, 50 * GI, 20, 0.5),
    ("medium", 8, 32 * GI, 200 * GI, 60, 0.35),
    ("large", 32, 128 * GI, 1000 * GI, 110, 0.15),
)


@dataclass(frozen=True)
class HollowNode:
    name: str
    cpu: float
    memory: int
    disk: int
    containers: int
    labels: dict[str, str] = field(default_factory=dict)


def mixed_nodes(count: int, *, prefix: str = "hollow", seed: int = 0) -> list[HollowNode]:
    """`count` nodes of mixed sizes (half small, a third medium, the rest large), the same for a seed."""
    rng = random.Random(seed)
    weights = [share for *_, share in SIZES]
    nodes = []
    for i in range(count):
        size, cpu, memory, disk, slots, _ = rng.choices(SIZES, weights=weights)[0]
        zone = f"zone-{i % 3}"
        nodes.append(HollowNode(f"{prefix}-{i:05d}", cpu, memory, disk, slots,
                                {HOLLOW_LABEL: "true", "size": size, "zone": zone}))
    return nodes


def reported(obj: Obj) -> bool:
    """Reported Running for its latest spec, as a kubelet's status would say (observedGeneration included:
    `apply --wait` after a change waits for it)."""
    status = obj.get("status") or {}
    return status.get("phase") == "Running" and status.get("observedGeneration") == obj["metadata"].get("generation")


class HollowNodes:
    """Registers the nodes, heartbeats each every `heartbeat_interval` (spread out), reports containers Running."""

    def __init__(
        self,
        client: Client,
        nodes: list[HollowNode],
        *,
        heartbeat_interval: float = 10.0,
        concurrency: int = 16,
        lease: LeaseSettings | None = None,
        status_max_age: float = KubeletSettings.model_fields["status_max_age"].default,
        stats: HollowStats | None = None,
    ) -> None:
        self.client = client
        self.nodes = {n.name: n for n in nodes}
        self.heartbeat_interval = heartbeat_interval  # how often each node looks at its status, as --status-interval
        self.status_max_age = status_max_age
        self.posted: dict[str, Obj] = {}  # the status each node last posted
        self.concurrency = concurrency
        self.started = now_iso()
        self.containers = Informer(client, "containers", self._on_container)
        self.queue: WorkQueue[str] = WorkQueue()
        self.per_node: dict[str, set[str]] = {name: set() for name in self.nodes}
        self.registered = asyncio.Event()
        self.stats = stats
        self.stream_endpoint = ""  # host:port of `stats` once it listens
        self.reported = 0
        wheel = Wheel()  # the nodes' renewal timers due in the same millisecond share one loop timer
        self.leases = {
            name: NodeLease(client, name, lease or LeaseSettings(), on_fence=self._nothing_runs, on_recover=self._nothing_runs, wheel=wheel)
            for name in self.nodes
        }

    @staticmethod
    async def _nothing_runs() -> None:
        """A hollow node runs no containers: fencing and recovery have nothing to stop or clean."""

    async def _renew_leases(self) -> None:
        """Every node's NodeLease loop. The first renewal of each (it creates the Lease and opens its
        stream) goes at most `concurrency` at a time, as registration does: real kubelets do not all
        start in the same second, and 5,000 connections and creates at once only time each other out."""
        slots = asyncio.Semaphore(self.concurrency)

        async def one(lease: NodeLease) -> None:
            async with slots:
                while not lease.renewed.is_set():
                    await lease.tick()
            await lease.run()

        await asyncio.gather(*(one(lease) for lease in self.leases.values()))

    def status_of(self, node: HollowNode) -> Obj:
        capacity = {"cpu": node.cpu, "memory": node.memory, "disk": node.disk, "containers": node.containers}
        running = len(self.per_node[node.name])
        return {
            "conditions": [{
                "type": "Ready", "status": "True", "reason": "HollowKubeletReady",
                "message": "hollow kubelet is posting ready status", "lastTransitionTime": self.started,
            }],
            "capacity": capacity,
            "allocatable": capacity,
            "usage": {"containers": running},
            "containerCount": running,
            "lastHeartbeatTime": now_iso(),
            "addresses": [self.stream_endpoint.rsplit(":", 1)[0].strip("[]")] if self.stream_endpoint else [],
            "version": f"dlxc/{__version__} hollow",
            **({"streamEndpoint": self.stream_endpoint} if self.stream_endpoint else {}),
        }

    def running_on(self, node: str) -> tuple[list[tuple[str, Obj]], tuple[float, int, int]]:
        """What `stats` serves for a node: its Running containers with their specs, and its capacity."""
        running = []
        for name in sorted(self.per_node.get(node, ())):
            obj = self.containers.cache.get(name)
            if obj is not None and (obj.get("status") or {}).get("phase") == "Running":
                running.append((name, obj.get("spec") or {}))
        spec = self.nodes[node]
        return running, (spec.cpu, spec.memory, spec.disk)

    async def register(self, node: HollowNode) -> None:
        body = {"metadata": {"name": node.name, "labels": node.labels}, "spec": {}, "status": self.status_of(node)}
        try:
            await self.client.create("nodes", body)
            self.posted[node.name] = body["status"]
        except AlreadyExists:
            await self.heartbeat(node)

    async def heartbeat(self, node: HollowNode, *, force: bool = True) -> None:
        """Post the Node's status; unless forced, only when a real kubelet would (kubelet.usage.status_due:
        something changed, or the last post is `status_max_age` old), judged against the last post
        kept here instead of a read."""
        status = self.status_of(node)
        if not force and status_due(self.posted.get(node.name), status, now=time.time(), max_age=self.status_max_age) is None:
            return
        # The status subresource takes only the status, so no read first: one request per post.
        try:
            await self.client.replace_status("nodes", {"metadata": {"name": node.name}, "spec": {}, "status": status})
            self.posted[node.name] = status
        except NotFound:
            await self.register(node)

    async def register_all(self) -> None:
        names = list(self.nodes)
        sem = asyncio.Semaphore(self.concurrency)

        async def one(name: str) -> None:
            async with sem:
                await self.register(self.nodes[name])

        await asyncio.gather(*(one(name) for name in names))
        self.registered.set()

    async def settled(self) -> None:
        """Once every node is registered and has renewed its Lease (its stream is open): the process
        holds its long-lived state (the moment for dlxc.gctune.freeze)."""
        await self.registered.wait()
        for lease in self.leases.values():
            await lease.renewed.wait()

    async def _beat(self, name: str, slots: asyncio.Semaphore) -> None:
        try:
            await self.heartbeat(self.nodes[name], force=False)
        except ApiError as exc:
            log.warning("heartbeat of %s failed: %s", name, exc.message)
        finally:
            slots.release()

    async def _heartbeat_loop(self) -> None:
        """Each node beats once per interval; the beats are spread evenly, several in flight, so the load is flat."""
        names = list(self.nodes)
        gap = self.heartbeat_interval / max(1, len(names))
        slots = asyncio.Semaphore(self.concurrency)
        beats: set[asyncio.Task[None]] = set()
        clock = asyncio.get_running_loop()
        due = clock.time()
        try:
            while True:
                for name in names:
                    await slots.acquire()
                    task = asyncio.create_task(self._beat(name, slots))
                    beats.add(task)
                    task.add_done_callback(beats.discard)
                    due = max(due + gap, clock.time() - self.heartbeat_interval)  # never a burst to catch up
                    await asyncio.sleep(max(0.0, due - clock.time()))
        finally:
            for task in beats:
                task.cancel()

    async def _on_container(self, name: str, old: Obj | None, new: Obj | None) -> None:
        old_node = (old or {}).get("spec", {}).get("nodeName")
        new_node = (new or {}).get("spec", {}).get("nodeName")
        if old_node in self.per_node and old_node != new_node:
            self.per_node[old_node].discard(name)
        if new is None or new_node not in self.per_node:
            return
        self.per_node[new_node].add(name)
        if new["metadata"].get("deletionTimestamp") or reported(new):
            return
        self.queue.add(name)

    async def report(self, name: str) -> None:
        """Say the container runs, against the version read, so a newer write is never undone."""
        obj = self.containers.cache.get(name)
        if obj is None or obj["spec"].get("nodeName") not in self.per_node:
            return
        status = dict(obj.get("status") or {})
        if reported(obj) or obj["metadata"].get("deletionTimestamp"):
            return
        status.update({
            "phase": "Running", "nodeName": obj["spec"]["nodeName"], "message": "",
            "startedAt": now_iso(), "observedGeneration": obj["metadata"].get("generation"),
        })
        body = {"metadata": {"name": name, "resourceVersion": obj["metadata"]["resourceVersion"]},
                "spec": obj["spec"], "status": status}
        try:
            await self.client.replace_status("containers", body)
            self.reported += 1
        except Conflict:
            pass  # changed meanwhile: the watch brings the new version back to the queue
        except NotFound:
            pass

    async def _process(self, name: str) -> None:
        try:
            await self.report(name)
        except ApiError as exc:
            log.warning("reporting %s failed: %s", name, exc.message)

    async def run(self) -> None:
        if self.stats is not None:
            self.stream_endpoint = await self.stats.start(self.nodes, self.running_on)
            log.info("serving usage of %d hollow nodes on %s", len(self.nodes), self.stream_endpoint)
        await self.register_all()
        log.info("%d hollow nodes registered", len(self.nodes))
        tasks = [asyncio.create_task(self.containers.run()), asyncio.create_task(self._heartbeat_loop()),
                 asyncio.create_task(self._renew_leases())]
        tasks.append(asyncio.create_task(self.queue.run(self._process, workers=self.concurrency)))
        try:
            await asyncio.gather(*tasks)
        finally:
            await cancel_and_wait(*tasks)
            if self.stats is not None:
                await self.stats.stop()
