"""The metrics loop: samples every running container, keeps the result for /metrics, the file and status.metrics."""
from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from dlxc.client.informer import Informer
from kubelet import exporter, metrics
from kubelet.settings import KubeletSettings
from kubelet.statusfields import append_line
from schemas.base import now_iso

__all__ = ["MetricsSampler"]

log = logging.getLogger("dlxc.kubelet")


class MetricsSampler:
    def __init__(
        self, runtime: Any, settings: KubeletSettings, *, containers: Informer, enqueue: Callable[..., None],
    ) -> None:
        self.runtime = runtime
        self.settings = settings
        self.containers = containers
        self.enqueue = enqueue
        self.latest: dict[str, tuple[dict[str, float], str]] = {}  # name -> (values with rates, time) for status
        self.samples: dict[str, tuple[float, dict[str, float]]] = {}  # name -> (monotonic time, raw sample)
        self.collector = exporter.ContainerCollector(settings.node_name)

    async def collect(self) -> dict[str, dict[str, float]]:
        """Sample every running container in parallel; keep it for /metrics, the file and status.metrics."""
        pids = await asyncio.to_thread(self.runtime.init_pids)
        names = [n for n in pids if n in self.containers.cache]
        results = await asyncio.gather(*(
            asyncio.to_thread(metrics.collect, pids[n], rootfs_dir=self.settings.lxc_path / n / "delta0") for n in names
        ))
        clock, stamp = time.monotonic(), now_iso()
        snapshot: dict[str, dict[str, float]] = {}
        for name, sample in zip(names, results):
            if not sample:
                continue
            previous = self.samples.get(name)
            rates = metrics.usage_rates(previous[1] if previous else None, sample, clock - previous[0] if previous else 0)
            self.samples[name] = (clock, sample)
            snapshot[name] = {**sample, **rates}
            self.latest[name] = (snapshot[name], stamp)
        for gone in set(self.samples) - set(pids):
            self.samples.pop(gone, None)
            self.latest.pop(gone, None)
        self.collector.samples = snapshot
        if self.settings.metrics_file is not None:
            line = json.dumps({"time": stamp, "node": self.settings.node_name, "containers": snapshot}, sort_keys=True)
            await asyncio.to_thread(append_line, self.settings.metrics_file, line)
        for name in snapshot:
            # Through the work queue, so a status write never races a reconcile of the same container.
            self.enqueue(name, metrics_only=True)
        return snapshot

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.settings.metrics_interval)
            try:
                await self.collect()
            except Exception:
                log.exception("metrics collection failed")
