"""The ContainerCluster controller: a front-end Container and a ContainerSet of nodes per cluster, hosts and context.

Level-triggered like the set controller: a change to a cluster, or to a container or set labelled
dlxc.io/cluster, queues the cluster's name; handling it re-reads the caches and writes only what
differs (see controller.clusterplan). A change of the front-end's image (or cpu, memory, home)
replaces the front-end (deleted, then made again under the same name), as the set rolls its nodes
over on a change of theirs; status.conditions[Updated] says which is under way. Deleting a cluster
deletes its front-end and its set (whose own controller deletes the nodes); the cluster's
finalizer goes once no member is left.
"""
from __future__ import annotations

import asyncio
import logging

from controller.clusterplan import (
    cluster_status,
    frontend_name,
    frontend_object,
    frontend_outdated,
    hosts_lines,
    member_annotations,
    members_started,
    set_name,
    set_object,
)
from controller.requeue import sync_or_requeue
from dlxc.client.api import Client
from dlxc.client.errors import AlreadyExists, ApiError, NotFound
from dlxc.client.informer import Informer
from dlxc.client.workqueue import WorkQueue
from dlxc.tasks import cancel_and_wait
from schemas.base import Obj
from schemas.container import Container
from schemas.containercluster import ContainerClusterStatus
from schemas.containerset import ContainerSet
from schemas.wire import CLUSTER_FINALIZER, CLUSTER_LABEL

__all__ = ["ContainerClusterController"]

log = logging.getLogger("dlxc.controller.containercluster")
COMPONENT = "containercluster-controller"


class ContainerClusterController:
    def __init__(self, client: Client, *, resync: float = 5.0) -> None:
        self.client = client
        self.resync = resync
        self.clusters = Informer(client, "containerclusters", self._on_cluster)
        self.members = Informer(client, "containers", self._on_part, label_selector=CLUSTER_LABEL)
        self.sets = Informer(client, "containersets", self._on_part, label_selector=CLUSTER_LABEL)
        self.queue: WorkQueue[str] = WorkQueue()

    def enqueue(self, name: str) -> None:
        self.queue.add(name)

    async def _on_cluster(self, name: str, old: Obj | None, new: Obj | None) -> None:
        self.enqueue(name)

    async def _on_part(self, name: str, old: Obj | None, new: Obj | None) -> None:
        owner = (((new or old) or {}).get("metadata", {}).get("labels") or {}).get(CLUSTER_LABEL)
        if owner:
            self.enqueue(owner)

    def _parts(self, name: str) -> tuple[dict[str, Obj], Obj | None]:
        members = {n: m for n, m in self.members.cache.items() if (m["metadata"].get("labels") or {}).get(CLUSTER_LABEL) == name}
        return members, self.sets.cache.get(set_name(name))

    async def _delete(self, plural: str, name: str) -> None:
        try:
            await self.client.delete(plural, name)
        except NotFound:
            pass

    async def sync(self, name: str) -> None:
        cluster = self.clusters.cache.get(name)
        members, node_set = self._parts(name)
        if cluster is None or cluster["metadata"].get("deletionTimestamp"):
            if node_set is not None and not node_set["metadata"].get("deletionTimestamp"):
                await self._delete("containersets", set_name(name))
            front = members.get(frontend_name(name))
            if front is not None and not front["metadata"].get("deletionTimestamp"):
                await self._delete("containers", frontend_name(name))
            if cluster is not None:
                meta = cluster["metadata"]
                if not members and node_set is None and CLUSTER_FINALIZER in meta.get("finalizers", []):
                    rest = [f for f in meta["finalizers"] if f != CLUSTER_FINALIZER]
                    await self.client.patch("containerclusters", name, {"metadata": {"finalizers": rest, "resourceVersion": meta["resourceVersion"]}})
                    return
                await self._write_status(cluster, members, complete=False)
            return
        meta = cluster["metadata"]
        if CLUSTER_FINALIZER not in meta.get("finalizers", []):
            cluster = await self.client.patch(
                "containerclusters", name,
                {"metadata": {"finalizers": [*meta.get("finalizers", []), CLUSTER_FINALIZER], "resourceVersion": meta["resourceVersion"]}})
        wanted_front = frontend_object(cluster)
        front = members.get(frontend_name(name))
        # Compared in wire form (defaults filled in), as stored.
        front_change = frontend_outdated(cluster, front, Container.model_validate(wanted_front).to_wire()["spec"])
        if front is None:
            await self._create("containers", wanted_front)
        elif front_change is not None:
            await self._delete("containers", frontend_name(name))
            log.info("%s: replacing the front-end: %s", name, front_change)
            await self._event(cluster, "ReplaceFrontend", f"replacing the front-end: {front_change}")
        wanted_set = set_object(cluster)
        if node_set is None:
            await self._create("containersets", wanted_set)
        elif not node_set["metadata"].get("deletionTimestamp"):
            spec = node_set["spec"]
            count, skip = wanted_set["spec"]["replicas"], wanted_set["spec"]["skipOrdinals"]
            if spec.get("replicas") != count or (spec.get("skipOrdinals") or []) != skip:
                # One patch: the count and the holes change together, so no member is made only to go again.
                await self.client.patch("containersets", set_name(name), {"spec": {"replicas": count, "skipOrdinals": skip}})
                log.info("%s: nodes -> %d (left out: %s)", name, count, skip or "none")
            # Compared in wire form (defaults filled in): a new node image or memory rolls the nodes over.
            template = ContainerSet.model_validate(wanted_set).to_wire()["spec"]["template"]
            if spec.get("template") != template:
                # A whole-object replace: a merge patch could not remove a field the new template leaves out.
                await self.client.replace("containersets", {**node_set, "spec": {**spec, "template": template}})
                log.info("%s: node template changed; the nodes roll over", name)
        lines, complete = hosts_lines(cluster, members)
        started = members_started(cluster, members)
        for member in members.values():
            if member["metadata"].get("deletionTimestamp"):
                continue
            wanted = member_annotations(cluster, member, lines, started)
            current = member["metadata"].get("annotations") or {}
            if any(current.get(k) != v for k, v in wanted.items()):
                try:
                    await self.client.patch("containers", member["metadata"]["name"], {"metadata": {"annotations": wanted}})
                except NotFound:
                    pass
        await self._write_status(cluster, members, complete=complete, front_change=front_change, node_set=node_set)

    async def _event(self, cluster: Obj, reason: str, message: str, *, type: str = "Normal") -> None:
        try:
            await self.client.record_event(cluster, reason=reason, message=message, type=type, component=COMPONENT)
        except ApiError as exc:
            log.warning("cannot record event %s: %s", reason, exc.message)

    async def _create(self, plural: str, obj: Obj) -> None:
        try:
            await self.client.create(plural, obj)
            log.info("created %s/%s", plural, obj["metadata"]["name"])
        except AlreadyExists:
            pass

    async def _write_status(self, cluster: Obj, members: dict[str, Obj], *, complete: bool, front_change: str | None = None,
                            node_set: Obj | None = None) -> None:
        status = ContainerClusterStatus.model_validate(
            cluster_status(cluster, members, complete=complete, front_change=front_change, node_set=node_set)).to_wire()
        old = ContainerClusterStatus.model_validate(cluster.get("status") or {}).to_wire()
        if status != old:
            if status["phase"] == "Degraded" and old.get("phase") != "Degraded":
                await self._event(cluster, "ContextFailed", status["conditions"][0]["message"], type="Warning")
            await self.client.patch_status("containerclusters", cluster["metadata"]["name"], status)

    async def _process(self, name: str) -> None:
        await sync_or_requeue(self.queue, name, self.sync, log)

    async def _resync(self) -> None:
        while True:
            await asyncio.sleep(self.resync)
            names = set(self.clusters.cache) | {
                (o["metadata"].get("labels") or {}).get(CLUSTER_LABEL, "") for o in [*self.members.cache.values(), *self.sets.cache.values()]}
            for name in names - {""}:
                self.enqueue(name)

    async def run(self) -> None:
        informers = [asyncio.create_task(i.run()) for i in (self.clusters, self.members, self.sets)]
        resync = None
        try:
            for informer in (self.clusters, self.members, self.sets):
                await informer.synced.wait()
            resync = asyncio.create_task(self._resync())
            await self.queue.run(self._process)
        finally:
            await cancel_and_wait(*informers, resync)
