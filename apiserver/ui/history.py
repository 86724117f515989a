"""The last hour of each container's CPU and memory, from the samples kubelets write to status.metrics.

Kubelets keep no history; each status write carries the newest sample (status.metrics, metricsTime).
This apiserver records the samples it sees go by on its containers watch, from the first dashboard
request on, and forgets them after an hour: a chart covers at most the time this apiserver has watched.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from datetime import datetime

from apiserver.storage import Store
from apiserver.ui.live import changes
from apiserver.watchcache import WatchCache
from schemas.base import Obj

__all__ = ["MetricsHistory", "Sample"]

log = logging.getLogger("dlxc.apiserver.ui")

Sample = tuple[float, float | None, float | None]  # unix time, cpu cores, memory bytes


def sample_of(obj: Obj) -> Sample | None:
    status = obj.get("status") or {}
    metrics = status.get("metrics") or {}
    stamp = status.get("metricsTime")
    if not metrics or not isinstance(stamp, str):
        return None
    try:
        when = datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
    cpu, memory = metrics.get("cpu.cores"), metrics.get("memory.bytes")
    return (when, float(cpu) if isinstance(cpu, (int, float)) else None, float(memory) if isinstance(memory, (int, float)) else None)


class MetricsHistory:
    def __init__(self, store: Store, cache: WatchCache, *, window: float = 3600.0, per_container: int = 3600) -> None:
        self.store = store
        self.cache = cache
        self.window = window
        self.per_container = per_container
        self._samples: dict[str, deque[Sample]] = {}
        self._task: asyncio.Task[None] | None = None

    def record(self, name: str, obj: Obj | None) -> None:
        if obj is None:
            self._samples.pop(name, None)
            return
        sample = sample_of(obj)
        if sample is None:
            return
        samples = self._samples.setdefault(name, deque(maxlen=self.per_container))
        if not samples or sample[0] > samples[-1][0]:
            samples.append(sample)

    def series(self, name: str, *, now: float) -> list[Sample]:
        return [s for s in self._samples.get(name, ()) if s[0] >= now - self.window]

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="dashboard-metrics-history")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                items, revision = await self.store.list("containers")
                for obj in items:
                    self.record(obj["metadata"]["name"], obj)
                async for batch in changes({"containers": self.cache}, {"containers": revision}, keepalive=3600):
                    for _, event in batch:
                        self.record(event.obj["metadata"]["name"], event.obj if event.kind == "PUT" else None)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the window moved on or etcd hiccuped: list again
                log.info("metrics history restarts: %s", exc)
            await asyncio.sleep(1.0)
