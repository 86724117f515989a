"""The node agent: registers its Node, heartbeats, and reconciles the containers bound to it."""
from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dlxc.client.api import Client
from dlxc.client.errors import ApiError
from dlxc.client.informer import Informer
from dlxc.client.workqueue import WorkQueue
from dlxc.tasks import cancel_and_wait
from kubelet import exporter
from kubelet.allocator import Allocator
from kubelet.apiservers import KNOWN_FILE, KnownServers, refresh_apiservers
from kubelet.backups import BackupAgent
from kubelet.certrenewal import CertRenewal
from kubelet.clusternet import ClusterNet
from kubelet.drift import DriftPoller
from kubelet.hostfeatures import HostFeatures
from kubelet.imagegc import ImageGC
from kubelet.lease import NodeLease
from kubelet.nodestatus import NodeStatus
from kubelet.plan import Destroy
from kubelet.ports import Runtime
from kubelet.reconcile import Reconciler
from kubelet.restores import Restorer
from kubelet.sampler import MetricsSampler
from kubelet.settings import KubeletSettings
from kubelet.snapshots import SnapshotAgent
from kubelet.stale import StaleGuard
from kubelet.statusfields import same_but_status
from kubelet.stops import StopRecords, current_boot_id
from schemas.base import Obj

__all__ = ["Kubelet", "KubeletSettings"]

log = logging.getLogger("dlxc.kubelet")


class Kubelet:
    def __init__(
        self, client: Client, runtime: Runtime, images: Any, network: Any, settings: KubeletSettings, *, idmap: Any,
        host: HostFeatures | None = None,
    ) -> None:
        self.client = client
        self.runtime = runtime  # kubelet.runtime.LxcRuntime: the only caller of liblxc
        self.settings = settings
        self.idmap = idmap  # how unprivileged containers' ids map onto this host (restores shift onto it)
        self.network = network  # the kubelet.network module
        self.host = host or HostFeatures()  # idmapped mounts, lxcfs: see kubelet.hostfeatures
        self.containers = Informer(
            client, "containers", self._on_container, field_selector=f"spec.nodeName={settings.node_name}"
        )
        # One worker per container at a time, many containers in parallel; a failed reconcile (an
        # apiserver outage, say) is retried after 1 s doubling to 30 s, per container.
        self.queue: WorkQueue[str] = WorkQueue(base_delay=1.0, max_delay=30.0, jitter=0.2)
        self.allocator = Allocator(settings.subnet)
        self.stops = StopRecords(settings.lxc_path)
        # Fault tolerance hooks: the node Lease with self-fencing, and the stale-copy guard.
        self.lease = NodeLease(
            client, settings.node_name, settings.lease,
            on_fence=lambda: self.guard.fence(), on_recover=lambda: self.guard.recover(), on_reconnect=self._reconnected,
        )
        self.image_gc = ImageGC(runtime, images, unused_for=settings.image_gc_after)
        self.node = NodeStatus(client, settings, containers=self.containers, runtime=runtime, images=images, resync=self.resync)
        self.sampler = MetricsSampler(runtime, settings, containers=self.containers)
        self.drift = DriftPoller(settings.lxc_path, interval=settings.state_poll_interval, enqueue=self.enqueue)
        self.guard = StaleGuard(
            client, runtime, node_name=settings.node_name, lxc_path=settings.lxc_path, lease=self.lease, stops=self.stops,
            bound=lambda: self.containers.cache, destroy=lambda name: self.reconciler.execute(Destroy(name)),
            heartbeat=self.node.heartbeat, resync=self.resync,
        )
        self.clusternet = ClusterNet(client, settings)  # the cluster network: VXLAN peers and /etc/hosts names
        self.reconciler = Reconciler(
            client, runtime, settings, images=images, network=network, idmap=idmap, allocator=self.allocator,
            host=self.host, drift=self.drift, stops=self.stops, cached=lambda name: self.containers.cache.get(name),
            may_start=self.guard.may_start,
            cgroup_version=2 if Path("/sys/fs/cgroup/cgroup.controllers").exists() else 1, clusternet=self.clusternet,
            restored_rootfs=lambda container: self.restores.rootfs(container),
        )
        self.backups = BackupAgent(self)  # Backups of containers bound here (kubelet/backups.py)
        self.restores = Restorer(self)  # rootfs from a backup instead of the image (kubelet/restores.py)
        self.snapshots = SnapshotAgent(self)  # snapshots asked for in annotations (kubelet/snapshots.py)

    # ---- work queue ----

    def enqueue(self, name: str) -> None:
        """Queue a reconcile of `name`."""
        self.queue.add(name)

    async def _on_container(self, name: str, old: Obj | None, new: Obj | None) -> None:
        if (old is None) != (new is None):
            self.node.count_changed.set()  # the Node's container count is stale: post it soon, not at the next interval
        if old is not None and new is not None and same_but_status(old, new):
            return  # our own status write coming back (or another writer's): nothing to reconcile
        self.enqueue(name)

    async def _process(self, name: str) -> None:
        try:
            result = await self.reconciler.reconcile(name)
        except Exception as exc:
            delay = self.queue.backoff(name)
            if isinstance(exc, ApiError):
                log.warning("reconcile %s: %s; retrying in %.1fs", name, exc.message, delay)
            else:
                log.exception("reconcile %s failed; retrying in %.1fs", name, delay)
            self.queue.add_after(name, delay)
            return
        self.queue.forget(name)
        if result.requeue_after is not None:
            self.queue.add_after(name, result.requeue_after)

    async def _reconnected(self) -> None:
        # The apiserver is back before any fence: compare everything now, not at the next resync.
        log.info("apiserver reachable again; resyncing")
        await self.resync()

    # ---- loops ----

    async def _resync_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.resync_interval)
            await self.resync()

    async def resync(self) -> None:
        names = set(self.containers.cache) | set(await asyncio.to_thread(self.runtime.names))
        for name in names:
            self.enqueue(name)

    def _going_down(self, name: str) -> bool:
        """The container is to be stopped or deleted (exec sessions ending then say so)."""
        obj = self.containers.cache.get(name)
        return obj is None or obj["metadata"].get("deletionTimestamp") is not None or obj["spec"].get("state") == "Stopped"

    def _note_boot(self) -> None:
        """A host reboot stopped whatever it found stopped now: that is no exit of those containers."""
        stopped = [n for n, state in self.runtime.states().items() if state == "STOPPED" and self.runtime.managed(n)]
        if self.stops.note_boot(current_boot_id(), stopped):
            log.info("the host rebooted since the last run; %d stopped containers are started again, not counted as exits", len(stopped))

    async def run(self, *, ready: Callable[[], None] | None = None) -> None:
        # Every LXC call, image build and metrics read is a blocking call in a thread; the default
        # pool (cores + 4) would let a long image build or a metrics sweep hold up the heartbeat.
        asyncio.get_running_loop().set_default_executor(
            concurrent.futures.ThreadPoolExecutor(max_workers=max(32, self.settings.workers * 2), thread_name_prefix="kubelet"))
        self.settings.lxc_path.mkdir(parents=True, exist_ok=True)
        # Before the first request: the apiserver configured may be gone, and the others learnt before not.
        known = KnownServers(self.settings.lxc_path / KNOWN_FILE, self.client.servers)
        if self.settings.apiserver_refresh_interval > 0:
            self.client.add_servers(await asyncio.to_thread(known.load))
        await asyncio.to_thread(self.network.ensure_bridge, self.settings.bridge, self.settings.subnet)
        await asyncio.to_thread(self.clusternet.resolve_address, self.client.servers[0])
        await asyncio.to_thread(self.allocator.recover, self.runtime)
        await asyncio.to_thread(self._note_boot)
        tasks: list[asyncio.Task[Any]] = []
        streams = None
        try:
            if self.settings.stream_cert_file:
                from kubelet.streams import StreamServer, wait_children_by_pidfd

                wait_children_by_pidfd(asyncio.get_running_loop())  # an exec's lxc-attach without a waiter thread
                streams = StreamServer(self.runtime, self.settings, apiserver=self.client.server, going_down=self._going_down,
                                       stats=self.sampler if self.settings.metrics_interval > 0 else None)
                self.node.stream_endpoint = await streams.start()
                if self.settings.stream_key_file and self.settings.cert_check_interval > 0:
                    renewal = CertRenewal(self.client, self.settings.node_name, cert_file=self.settings.stream_cert_file,
                                          key_file=self.settings.stream_key_file, interval=self.settings.cert_check_interval,
                                          renewed=streams.reload_certificate)
                    tasks.append(asyncio.create_task(renewal.run()))
            while True:
                try:
                    await self.node.register()
                    break
                except ApiError as exc:
                    log.warning("cannot register node: %s; retrying", exc.message)
                    await asyncio.sleep(1.0)
            tasks.append(asyncio.create_task(self.lease.run()))
            if self.settings.apiserver_refresh_interval > 0:
                tasks.append(asyncio.create_task(refresh_apiservers(self.client, interval=self.settings.apiserver_refresh_interval, known=known)))
            self.restores.bind_loop()
            tasks.append(asyncio.create_task(self.backups.run()))
            tasks.append(asyncio.create_task(self.snapshots.run()))
            tasks.append(asyncio.create_task(self.containers.run()))
            tasks.append(asyncio.create_task(self.clusternet.run()))
            await self.containers.synced.wait()
            # The cluster network's bridge before any reconcile renders a container onto it; made
            # while the Lease already renews, as a restarted kubelet must renew it first.
            await asyncio.to_thread(self.clusternet.ensure_devices, self.client.servers[0])
            self.clusternet.changed.set()  # sync the FDB now that there is a device for it
            await self.guard.remove_stale_copies_first()  # before any reconcile can start a stale copy
            tasks.append(asyncio.create_task(self.queue.run(self._process, workers=self.settings.workers)))
            tasks += [
                asyncio.create_task(self.node.run()),
                asyncio.create_task(self._resync_loop()),
                asyncio.create_task(self.drift.run()),
            ]
            if self.settings.metrics_interval > 0:
                tasks.append(asyncio.create_task(self.sampler.run()))
            if self.settings.image_gc_after > 0:
                tasks.append(asyncio.create_task(self.image_gc.run()))
            if self.settings.metrics_port:
                exporter.serve(self.sampler.collector, host=self.settings.metrics_host, port=self.settings.metrics_port)
            await self.resync()  # orphans: LXC containers whose objects are gone
            if ready:
                ready()
            await asyncio.gather(*tasks)
        finally:
            await cancel_and_wait(*tasks)
            if streams is not None:
                await streams.stop()  # open sessions end with the kubelet: nothing keeps running
            await self.reconciler.events.close()
