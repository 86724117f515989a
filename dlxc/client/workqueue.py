"""A work queue of keys for controllers: dedupe, one worker per key at a time, per-key backoff, delayed adds.

Like client-go's workqueue. A key added while it waits is queued once; a key added while a worker
handles it is handled once more afterwards, never by two workers at once. `add_rate_limited` adds a
key after a per-key exponential backoff (base doubling up to a cap, with optional jitter) that
`forget` resets once the key succeeds. `add_after` adds a key later; of several delayed adds of one
key the earliest wins.
"""
from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

from dlxc.tasks import cancel_and_wait

__all__ = ["WorkQueue"]

log = logging.getLogger("dlxc.workqueue")

K = TypeVar("K", bound=Hashable)


class WorkQueue(Generic[K]):
    """Keys to handle; `run` drives `workers` workers over them until cancelled."""

    def __init__(self, *, base_delay: float = 1.0, max_delay: float = 30.0, jitter: float = 0.0,
                 rng: random.Random | None = None) -> None:
        if base_delay <= 0 or max_delay <= 0:
            raise ValueError(f"backoff delays must be positive, got base_delay {base_delay} and max_delay {max_delay}")
        if not 0 <= jitter < 1:
            raise ValueError(f"jitter is a fraction in [0, 1), got {jitter}")
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.jitter = jitter
        self._rng = rng or random.Random()
        self._ready: asyncio.Queue[K] = asyncio.Queue()
        self._dirty: set[K] = set()  # waiting in _ready, or to be handled again once its worker is done
        self._processing: set[K] = set()
        self._failures: dict[K, int] = {}
        self._timers: dict[K, asyncio.TimerHandle] = {}
        self._held: set[K] = set()  # keys worked on outside the workers (see hold)

    def __len__(self) -> int:
        """Keys waiting to be handled (not those in a worker's hands, nor delayed ones)."""
        return self._ready.qsize()

    def add(self, key: K) -> None:
        if key in self._dirty:
            return
        self._dirty.add(key)
        if key not in self._processing:
            self._ready.put_nowait(key)

    def add_after(self, key: K, delay: float) -> None:
        """Add `key` in `delay` seconds (now if delay <= 0); an earlier pending delayed add of it is kept."""
        if delay <= 0:
            self.add(key)
            return
        loop = asyncio.get_running_loop()
        due = loop.time() + delay
        pending = self._timers.get(key)
        if pending is not None:
            if pending.when() <= due:
                return
            pending.cancel()
        self._timers[key] = loop.call_at(due, self._fire, key)

    def _fire(self, key: K) -> None:
        self._timers.pop(key, None)
        self.add(key)

    def discard_delayed(self, key: K) -> None:
        """Drop a pending delayed add of `key` (when it is added now for the same reason)."""
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()

    def backoff(self, key: K) -> float:
        """The next backoff delay of `key` (counting this failure): base, doubling up to the cap, jittered.

        The cap always wins, also over a base above it.
        """
        count = self._failures.get(key, 0)
        self._failures[key] = count + 1
        delay = min(self.max_delay, self.base_delay * 2.0 ** count)
        if self.jitter:
            delay *= self._rng.uniform(1 - self.jitter, 1 + self.jitter)
        return delay

    def add_rate_limited(self, key: K) -> float:
        """Add `key` after its backoff; returns the delay."""
        delay = self.backoff(key)
        self.add_after(key, delay)
        return delay

    def forget(self, key: K) -> None:
        """`key` succeeded: its next failure backs off from the base again."""
        self._failures.pop(key, None)

    def failures(self, key: K) -> int:
        return self._failures.get(key, 0)

    def pending_delay(self, key: K) -> float | None:
        """Seconds until the delayed add of `key` fires, or None when none is pending."""
        timer = self._timers.get(key)
        if timer is None:
            return None
        return max(0.0, timer.when() - asyncio.get_running_loop().time())

    async def hold(self, key: K) -> None:
        """Keep the workers off `key` until `release(key)`, for work on it done elsewhere (a backup
        freezing the container, say); first waits for a worker that has it to finish."""
        while key in self._processing:
            await asyncio.sleep(0.05)
        self._processing.add(key)
        self._held.add(key)

    def release(self, key: K) -> None:
        """End a hold: a key added meanwhile is handled now."""
        self._held.discard(key)
        self.done(key)

    async def get(self) -> K:
        """The next key; the caller must call `done(key)` when finished with it."""
        key = await self._ready.get()
        while key in self._held:
            key = await self._ready.get()  # still dirty: release() queues it again
        self._dirty.discard(key)
        self._processing.add(key)
        return key

    def done(self, key: K) -> None:
        self._processing.discard(key)
        if key in self._dirty:
            self._ready.put_nowait(key)

    def shutdown(self) -> None:
        """Cancel every pending delayed add."""
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()

    async def run(self, process: Callable[[K], Awaitable[None]], *, workers: int = 1) -> None:
        """Handle keys with `workers` workers until cancelled; `process` raising is logged, not fatal.

        `process` does its own retry policy (e.g. `add_rate_limited` on a temporary error, `forget`
        on success): only it knows which errors are worth another try.
        """
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")

        async def worker() -> None:
            while True:
                key = await self.get()
                try:
                    await process(key)
                except Exception:
                    log.exception("handling %s failed", key)
                finally:
                    self.done(key)

        tasks = [asyncio.create_task(worker()) for _ in range(workers)]
        try:
            await asyncio.gather(*tasks)
        finally:
            await cancel_and_wait(*tasks)
            self.shutdown()
