"""The Node object: registration and its status (capacity, a coarse usage summary, images, unmanaged containers), written when due."""
from __future__ import annotations

import asyncio
import logging
import platform
import socket
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import Any

import psutil

from dlxc import __version__
from dlxc.client.api import Client
from dlxc.client.errors import ApiError, Conflict, NotFound
from dlxc.client.informer import Informer
from kubelet.settings import KubeletSettings
from kubelet.usage import status_due
from schemas.base import Obj, iso_time, now_iso

__all__ = ["NodeStatus"]

log = logging.getLogger("dlxc.kubelet")


class NodeStatus:
    def __init__(
        self, client: Client, settings: KubeletSettings, *, containers: Informer, runtime: Any, images: Any,
        resync: Callable[[], Awaitable[None]],
    ) -> None:
        self.client = client
        self.settings = settings
        self.containers = containers
        self.runtime = runtime
        self.images = images
        self.resync = resync
        self.count_changed = asyncio.Event()
        self._scanned: tuple[float, list[Obj]] | None = None
        self.stream_endpoint = ""  # host:port of the stream server, once it listens
        # Busy and total CPU seconds of the host when the status was last posted: the summary's cpu
        # is the average since then, steady enough that a loaded host does not post at every look.
        self._cpu_mark: tuple[float, float] | None = None

    def status(self) -> Obj:
        cpu = psutil.cpu_count() or 1
        memory = psutil.virtual_memory()
        disk = psutil.disk_usage(str(self.settings.lxc_path))
        capacity = {"cpu": cpu, "memory": memory.total, "disk": disk.total, "containers": self.settings.max_containers}
        allocatable = {**capacity, "cpu": cpu * self.settings.cpu_overcommit}
        addresses = sorted({socket.gethostname()})
        return {
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "KubeletReady",
                    "message": "kubelet is posting ready status",
                    "lastTransitionTime": now_iso(),
                }
            ],
            "capacity": capacity,
            "allocatable": allocatable,
            "usage": {
                "cpu": round(self._cpu_since_post() * cpu, 3),
                "memory": memory.total - memory.available,
                "disk": disk.used,
                "containers": len(self.containers.cache),
            },
            "containerCount": len(self.containers.cache),
            "lastHeartbeatTime": now_iso(),
            "addresses": addresses,
            "version": f"dlxc/{__version__} {platform.system().lower()}",
            "lxcPath": str(self.settings.lxc_path),
            "bridge": self.settings.bridge,
            "subnet": str(self.settings.subnet.network),
            "tunnelAddress": str(self.settings.advertise_address or ""),
            "unmanagedContainers": self._scan(),
            "images": self._image_list(),
            "streamEndpoint": self.stream_endpoint,
        }

    @staticmethod
    def _cpu_times() -> tuple[float, float]:
        times = psutil.cpu_times()
        total = sum(times)
        return total - times.idle - getattr(times, "iowait", 0.0), total

    def _cpu_since_post(self) -> float:
        """The share of the host's CPU busy since the last post (0..1)."""
        busy, total = self._cpu_times()
        if self._cpu_mark is None or total <= self._cpu_mark[1]:
            return 0.0
        return max(0.0, min(1.0, (busy - self._cpu_mark[0]) / (total - self._cpu_mark[1])))

    def _image_list(self) -> list[Obj]:
        by_image: dict[str, int] = {}
        for obj in list(self.containers.cache.values()):
            ref = obj.get("spec", {}).get("image", "")
            by_image[ref] = by_image.get(ref, 0) + 1
        return [
            {"name": image["name"], "idMap": image["idMap"], "size": image["size"],
             "containers": by_image.get(str(image["name"]), 0),
             "lastUsed": iso_time(datetime.fromtimestamp(float(image["lastUsed"]), timezone.utc))}
            for image in self.images.list()
        ]

    def _scan(self) -> list[Obj]:
        # Listing every lxcpath asks liblxc about each container: every few heartbeats is enough.
        now = time.monotonic()
        if self._scanned is not None and now - self._scanned[0] < self.settings.scan_interval:
            return self._scanned[1]
        self._scanned = (now, self._scan_now())
        return self._scanned[1]

    def _scan_now(self) -> list[Obj]:
        paths = [self.settings.lxc_path, *[p for p in self.settings.scan_paths if p != self.settings.lxc_path]]
        try:
            return self.runtime.scan_unmanaged(paths)
        except Exception:
            log.exception("scanning for unmanaged containers failed")
            return []

    async def register(self) -> None:
        status = await asyncio.to_thread(self.status)
        body = {
            "metadata": {"name": self.settings.node_name, "labels": self.settings.labels},
            "spec": {},
            "status": status,
        }
        try:
            await self.client.create("nodes", body)
            self._cpu_mark = self._cpu_times()
        except Conflict:
            node = await self.client.get("nodes", self.settings.node_name)
            await self._post_status(node, status)

    async def _post_status(self, node: Obj, status: Obj) -> None:
        self._cpu_mark = self._cpu_times()
        old_ready = next((c for c in node.get("status", {}).get("conditions", []) if c["type"] == "Ready"), None)
        if old_ready and old_ready.get("status") == "True":
            status["conditions"][0]["lastTransitionTime"] = old_ready.get("lastTransitionTime")
        await self.client.replace_status(
            "nodes", {"metadata": {"name": node["metadata"]["name"]}, "spec": node.get("spec", {}), "status": status}
        )

    async def heartbeat(self, *, force: bool = True) -> bool:
        """Post the status (unless `force` is off and kubelet.usage.status_due finds nothing worth a
        write: an idle node writes its Node every status_max_age only). Whether it wrote."""
        status = await asyncio.to_thread(self.status)
        try:
            node = await self.client.get("nodes", self.settings.node_name)
        except NotFound:
            await self.register()
            return True
        if not force:
            why = status_due(node.get("status"), status, now=time.time(), max_age=self.settings.status_max_age)
            if why is None:
                return False
            log.info("posting the node status: %s", why)
        await self._post_status(node, status)
        return True

    async def run(self) -> None:
        """Look at the status every status interval, or about a second after the container count changed;
        post it when it is due (see heartbeat)."""
        failing = False
        while True:
            try:
                await asyncio.wait_for(self.count_changed.wait(), self.settings.status_interval)
                await asyncio.sleep(1.0)  # gather a burst of binds into one Node write
            except asyncio.TimeoutError:
                pass
            self.count_changed.clear()
            try:
                await self.heartbeat(force=failing)
            except ApiError as exc:
                if not failing:
                    log.warning("heartbeat failed: %s; containers keep running, retrying", exc.message)
                failing = True
                continue
            if failing:
                # The apiserver is back: compare everything now instead of waiting for the next resync.
                log.info("apiserver reachable again; resyncing")
                failing = False
                await self.resync()
