"""The watch cache: one etcd watch per kind feeds every HTTP watcher from a ring buffer of recent events.

A watcher that asks for `resourceVersion=N` inside the buffer's window is served from memory;
older than the window, it is served by its own etcd watch (which answers 410 when N is compacted
away). A watcher that falls more than `queue_size` events behind is dropped with 410 instead of
holding up the others or growing without bound.

The cache also keeps the newest copy of every object it has seen change, for writes to start from
instead of reading etcd first (`latest`); a copy may lag etcd, so writers use it only as a guess.
"""
from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from apiserver.codec import loads
from apiserver.storage import Compacted, Store, WatchEvent
from dlxc.client.errors import ApiError, Gone, TemporaryError
from dlxc.tasks import cancel_and_wait

__all__ = ["CachedEvent", "WatchCache", "WatchEnded", "Watcher"]

log = logging.getLogger("dlxc.apiserver.watchcache")


class WatchEnded(Exception):
    """The server is shutting down: end the stream cleanly, so the client resumes where it was."""


@dataclass
class CachedEvent:
    """A store event with its object encoded once, however many watchers it goes to."""

    event: WatchEvent
    _encoded: bytes | None = field(default=None, repr=False)
    _lines: dict[str, bytes] = field(default_factory=dict, repr=False)

    @property
    def revision(self) -> int:
        return self.event.revision

    @property
    def encoded(self) -> bytes:
        if self._encoded is None:
            self._encoded = self.event.encoded
        return self._encoded

    def line(self, kind: str) -> bytes:
        """The NDJSON line of this event as `kind` (ADDED, MODIFIED or DELETED), built once."""
        line = self._lines.get(kind)
        if line is None:
            line = self._lines[kind] = b'{"type":"' + kind.encode() + b'","object":' + self.encoded + b"}\n"
        return line


class Watcher:
    """One HTTP watcher's queue of events not yet sent; `dropped` says why it was cut off."""

    def __init__(self, since: int, limit: int) -> None:
        self.since = since
        self.position = since  # every event up to here has been queued (or was not wanted)
        self.limit = limit
        self.pending: deque[CachedEvent] = deque()
        self.dropped: ApiError | None = None
        self.ended = False
        self._wake = asyncio.Event()

    def offer(self, event: CachedEvent) -> bool:
        """Queue an event; False (and dropped) when the watcher is too far behind."""
        if event.revision <= self.since:
            return True
        if len(self.pending) >= self.limit:
            self.drop(Gone(f"the watch fell more than {self.limit} events behind; list again and watch from there"))
            return False
        self.pending.append(event)
        self.position = event.revision
        self._wake.set()
        return True

    def drop(self, error: ApiError) -> None:
        self.dropped = error
        self.pending.clear()
        self._wake.set()

    def end(self) -> None:
        self.ended = True
        self._wake.set()

    async def next(self, timeout: float) -> CachedEvent | None:
        """The next event, or None after `timeout` seconds without one; raises the drop reason."""
        while not self.pending and self.dropped is None and not self.ended:
            self._wake.clear()
            try:
                # asyncio.timeout, not wait_for: no extra task per wait, which counts at 1,000 watchers.
                async with asyncio.timeout(timeout):
                    await self._wake.wait()
            except TimeoutError:
                return None
        if self.dropped is not None:
            raise self.dropped
        if self.ended:
            raise WatchEnded()
        return self.pending.popleft()

    async def next_batch(self, timeout: float) -> list[CachedEvent] | None:
        """Every event queued by now (at least one), or None after `timeout` seconds without one.

        A busy watcher gets its backlog as one write instead of one per event: under load, the
        per-chunk cost of the HTTP stack, not the bytes, is what a watch costs the apiserver.
        """
        first = await self.next(timeout)
        if first is None:
            return None
        batch = [first, *self.pending]
        self.pending.clear()
        return batch


class WatchCache:
    """Recent events of one kind, from a single etcd watch, fanned out to every subscriber."""

    def __init__(
        self,
        store: Store,
        plural: str,
        *,
        capacity: int = 10_000,
        max_bytes: int = 64 * 1024 * 1024,
        queue_size: int = 1_000,
    ) -> None:
        self.store = store
        self.plural = plural
        self.capacity = capacity
        self.max_bytes = max_bytes  # big objects shorten the window instead of growing memory
        self.queue_size = queue_size
        self._events: deque[CachedEvent] = deque()
        self._bytes = 0
        self._floor = 0  # the buffer holds every event with revision > floor
        self._last = 0  # the newest revision every subscriber has been offered
        self._watchers: set[Watcher] = set()
        # name -> the newest object seen, encoded: written at its resourceVersion, maybe since changed.
        self._latest: dict[str, bytes] = {}
        self._task: asyncio.Task[None] | None = None
        self._started = asyncio.Event()
        self.listeners: list[Callable[[WatchEvent], None]] = []  # told of every event, in order

    @property
    def floor(self) -> int:
        return self._floor

    @property
    def last_revision(self) -> int:
        return self._last

    @property
    def running(self) -> bool:
        """Whether the etcd watch feeds this cache now (so `latest` follows etcd, a little behind)."""
        return self._task is not None and not self._task.done() and self._started.is_set()

    @property
    def watcher_count(self) -> int:
        return len(self._watchers)

    def latest(self, name: str) -> dict[str, Any] | None:
        """A fresh copy of the newest version of `name` this cache has seen, if any; etcd may be ahead
        (or the object gone), so it is only a starting guess for a compare-and-swap."""
        encoded = self._latest.get(name)
        return loads(encoded) if encoded is not None else None

    async def start(self, *, timeout: float = 10.0) -> None:
        """Start the one etcd watch, if not yet running; returns once the window is known."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"watchcache-{self.plural}")
        try:
            await asyncio.wait_for(self._started.wait(), timeout)
        except asyncio.TimeoutError:
            raise TemporaryError(f"the {self.plural} watch cache cannot reach etcd; retry", delay=1.0) from None

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None
        self._latest.clear()
        for watcher in list(self._watchers):
            watcher.drop(Gone("the apiserver is shutting down; watch again"))
        self._watchers.clear()

    def end_all(self) -> None:
        """End every watch stream without an error (the server is going away; clients resume elsewhere)."""
        for watcher in list(self._watchers):
            watcher.end()
        self._watchers.clear()

    def subscribe(self, since: int) -> Watcher | None:
        """A watcher of every event after `since`, or None when `since` is older than the window."""
        if since < self._floor:
            return None
        watcher = Watcher(since, self.queue_size)
        for cached in self._events:
            if cached.revision > since and not watcher.offer(cached):
                break
        self._watchers.add(watcher)
        return watcher

    def unsubscribe(self, watcher: Watcher) -> None:
        self._watchers.discard(watcher)

    def append(self, event: WatchEvent) -> None:
        """Record an event and offer it to every watcher (synchronously, so none can miss it)."""
        cached = CachedEvent(event)
        name = event.name
        if event.kind == "PUT":
            self._latest[name] = cached.encoded
        else:
            self._latest.pop(name, None)
        self._events.append(cached)
        self._bytes += len(cached.encoded)
        while len(self._events) > 1 and (len(self._events) > self.capacity or self._bytes > self.max_bytes):
            evicted = self._events.popleft()
            self._bytes -= len(evicted.encoded)
            self._floor = evicted.revision
        self._last = max(self._last, event.revision)
        for listener in self.listeners:
            listener(event)
        for watcher in list(self._watchers):
            if not watcher.offer(cached):
                self._watchers.discard(watcher)

    def reset(self, floor: int, error: ApiError) -> None:
        """Events up to `floor` are gone for good: forget them, and drop the watchers still waiting for one.
        The latest copies go too: a delete among the lost events would leave its object behind."""
        self._latest.clear()
        while self._events and self._events[0].revision <= floor:
            self._bytes -= len(self._events.popleft().encoded)
        self._floor = max(self._floor, floor)
        self._last = max(self._last, floor)
        for watcher in list(self._watchers):
            if watcher.position < floor:
                watcher.drop(error)
                self._watchers.discard(watcher)

    async def _run(self) -> None:
        """Watch etcd forever, from a little before now so that clients resuming after a restart
        find their resourceVersion in memory; on compaction or a broken watch, start over."""
        start: int | None = None
        while True:
            try:
                if start is None:
                    current = await self.store.revision()
                    start = max(1, current - self.capacity)
                    self._floor = self._last = start - 1
                self._started.set()
                async for event in self.store.watch(self.plural, since=start - 1):
                    self.append(event)
                    start = event.revision + 1
            except Compacted as exc:
                log.warning("%s watch cache: %s; starting over at %d", self.plural, exc.message, exc.revision)
                start = exc.revision
                self.reset(start - 1, Gone(exc.message))
                continue
            except ApiError as exc:
                log.warning("%s watch cache: %s; retrying", self.plural, exc.message)
            except asyncio.CancelledError:
                raise
            except Exception:  # keep serving; the loop re-watches from the last revision it saw
                log.exception("%s watch cache broke; re-watching", self.plural)
            await asyncio.sleep(0.5)
