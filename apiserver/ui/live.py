"""Server-sent events from the watch cache: one cache watcher per kind a page shows, merged into one stream.

Nothing here polls: a page's stream waits on the same in-memory watchers the API's watch requests use,
so its cost is one queue per kind per open page, whatever the size of the cluster.
"""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping

from apiserver.storage import WatchEvent
from apiserver.watchcache import WatchCache, WatchEnded, Watcher
from dlxc.client.errors import ApiError
from dlxc.tasks import cancel_and_wait

__all__ = ["Stale", "changes", "sse"]

KEEPALIVE = 15.0  # seconds; proxies close idle streams


class Stale(Exception):
    """The page is older than the watch cache's window: it must load again."""


def sse(event: str, data: str) -> bytes:
    """One server-sent event; every line of data gets its own `data:` field."""
    lines = data.splitlines() or [""]
    return (f"event: {event}\n" + "".join(f"data: {line}\n" for line in lines) + "\n").encode()


PING = b": ping\n\n"


async def changes(
    caches: Mapping[str, WatchCache], since: Mapping[str, int], *, keepalive: float = KEEPALIVE, settle: float = 0.0,
    nudge: asyncio.Event | None = None,
) -> AsyncIterator[list[tuple[str, WatchEvent]]]:
    """Batches of (plural, event) after each kind's `since` revision; an empty batch every `keepalive`
    seconds of quiet. With `settle`, changes arriving within that many seconds of the first are sent
    as one batch (pages that re-render a summary do it once per burst, not once per event). Setting
    `nudge` makes an empty batch too (and clears it): for what a page shows that is in no watch."""
    watchers: dict[str, Watcher] = {}
    queue: asyncio.Queue[tuple[str, list[WatchEvent]] | BaseException] = asyncio.Queue()

    async def pump(plural: str, watcher: Watcher) -> None:
        try:
            while True:
                batch = await watcher.next_batch(3600)
                if batch:
                    queue.put_nowait((plural, [cached.event for cached in batch]))
        except (ApiError, WatchEnded) as exc:
            queue.put_nowait(exc)

    async def poke(event: asyncio.Event) -> None:
        while True:
            await event.wait()
            event.clear()
            queue.put_nowait(("", []))

    tasks = []
    try:
        for plural, cache in caches.items():
            await cache.start()
            watcher = cache.subscribe(since[plural])
            if watcher is None:
                raise Stale(plural)
            watchers[plural] = watcher
        tasks = [asyncio.create_task(pump(p, w)) for p, w in watchers.items()]
        if nudge is not None:
            tasks.append(asyncio.create_task(poke(nudge)))
        while True:
            try:
                first = await asyncio.wait_for(queue.get(), keepalive)
            except TimeoutError:
                yield []
                continue
            items = [first]
            if settle:
                await asyncio.sleep(settle)
            while not queue.empty():
                items.append(queue.get_nowait())
            out: list[tuple[str, WatchEvent]] = []
            for item in items:
                if isinstance(item, WatchEnded):
                    return
                if isinstance(item, BaseException):
                    raise Stale(str(item))
                out += [(item[0], event) for event in item[1]]
            yield out
    finally:
        # Unsubscribed first: a page closed in the browser cancels this again and again (anyio), so
        # whatever comes after the first await here may never run, and a watcher left subscribed
        # stays in its cache for good on a quiet kind.
        for plural, watcher in watchers.items():
            caches[plural].unsubscribe(watcher)
        await cancel_and_wait(*tasks)
