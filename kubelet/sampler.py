"""The metrics loop: samples every running container and the node, keeps the result in memory for
/metrics, the file and the apiserver's metrics requests (kubelet/statsroutes.py). Nothing goes to etcd."""
from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

import psutil

from dlxc.client.informer import Informer
from kubelet import exporter, metrics
from kubelet.settings import KubeletSettings
from kubelet.statusfields import append_line
from kubelet.usage import UsageHistory, history_length
from schemas.base import now_iso

__all__ = ["MetricsSampler"]

log = logging.getLogger("dlxc.kubelet")

SWEEP_THREADS = 4  # threads that read the containers' usage in one collection
HISTORY_WINDOW = 3600.0  # seconds of per-container CPU and memory kept for the dashboard's charts


class MetricsSampler:
    def __init__(self, runtime: Any, settings: KubeletSettings, *, containers: Informer) -> None:
        self.runtime = runtime
        self.settings = settings
        self.containers = containers
        self.samples: dict[str, tuple[float, int, dict[str, float]]] = {}  # name -> (monotonic time, init pid, raw sample)
        self.history = UsageHistory(window=HISTORY_WINDOW, length=history_length(HISTORY_WINDOW, settings.metrics_interval))
        self.node_usage: tuple[float, dict[str, float]] | None = None  # (unix time, usage) of the whole node
        self._cpu: tuple[float, float] | None = None  # (monotonic time, busy cpu seconds) at the last node sample
        self.collector = exporter.ContainerCollector(settings.node_name)

    async def collect(self) -> dict[str, dict[str, float]]:
        """Sample every running container in parallel, and the node; keep it for /metrics, the file and the apiserver."""
        pids = await asyncio.to_thread(self.runtime.init_pids)
        names = [n for n in pids if n in self.containers.cache]
        # A few threads each sweep a slice, not a thread hand-off per container: the reads are quick and
        # hold the GIL between system calls, so more threads only add wake-ups; a few keep a slow disk
        # (a large rootfs to add up) from holding up the rest.
        slices = [names[i::SWEEP_THREADS] for i in range(min(SWEEP_THREADS, len(names)))]
        swept = await asyncio.gather(*(asyncio.to_thread(self._sweep, part, pids) for part in slices))
        results_by_name = {name: sample for part in swept for name, sample in part}
        results = [results_by_name[n] for n in names]
        clock, wall = time.monotonic(), time.time()
        snapshot: dict[str, dict[str, float]] = {}
        for name, sample in zip(names, results):
            if not sample:
                continue
            previous = self.samples.get(name)
            if previous is not None and previous[1] != pids[name]:
                previous = None  # restarted since: a new cgroup, whose counters start again
            rates = metrics.usage_rates(previous[2] if previous else None, sample, clock - previous[0] if previous else 0)
            self.samples[name] = (clock, pids[name], sample)
            snapshot[name] = {**sample, **rates}
            self.history.record(name, wall, snapshot[name])
        gone = (set(self.samples) | set(self.history.latest)) - set(pids)
        for name in gone:
            self.samples.pop(name, None)
        self.history.forget(gone)
        self.node_usage = (wall, await asyncio.to_thread(self._node_usage, clock, len(snapshot)))
        self.collector.samples = snapshot
        if self.settings.metrics_file is not None:
            line = json.dumps({"time": now_iso(), "node": self.settings.node_name, "containers": snapshot}, sort_keys=True)
            await asyncio.to_thread(append_line, self.settings.metrics_file, line)
        return snapshot

    def _sweep(self, names: list[str], pids: dict[str, int]) -> list[tuple[str, dict[str, float]]]:
        return [(n, metrics.collect(pids[n], rootfs_dir=self.settings.lxc_path / n / "delta0")) for n in names]

    def _node_usage(self, clock: float, running: int) -> dict[str, float]:
        times = psutil.cpu_times()
        busy = sum(times) - times.idle - getattr(times, "iowait", 0.0)
        previous, self._cpu = self._cpu, (clock, busy)
        memory = psutil.virtual_memory()
        usage = {
            "memory.bytes": float(memory.total - memory.available),
            "memory.capacity_bytes": float(memory.total),
            "cpu.capacity_cores": float(psutil.cpu_count() or 1),
            "containers.running": float(running),
        }
        if previous is not None and clock > previous[0]:
            usage["cpu.cores"] = round(max(0.0, busy - previous[1]) / (clock - previous[0]), 4)
        try:
            disk = psutil.disk_usage(str(self.settings.lxc_path))
            usage["disk.bytes"], usage["disk.capacity_bytes"] = float(disk.used), float(disk.total)
        except OSError:
            pass
        return usage

    async def run(self) -> None:
        while True:
            try:
                await self.collect()
            except Exception:
                log.exception("metrics collection failed")
            await asyncio.sleep(self.settings.metrics_interval)
