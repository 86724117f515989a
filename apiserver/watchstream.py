"""One HTTP watch as NDJSON lines: ADDED/MODIFIED/DELETED through the watcher's selector, BOOKMARKs, ERROR."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

from apiserver.codec import dumps
from apiserver.selectors import Selector
from apiserver.storage import Store, WatchEvent
from apiserver.watchcache import CachedEvent, WatchCache, WatchEnded
from dlxc.client.errors import ApiError, BadRequest
from schemas import API_VERSION, Kind

__all__ = ["event_line", "translate", "watch_stream"]

log = logging.getLogger("dlxc.apiserver.watch")


def event_line(kind: str, obj: dict[str, Any]) -> bytes:
    return dumps({"type": kind, "object": obj}) + b"\n"


def translate(event: WatchEvent, selector: Selector) -> str | None:
    """A store change as the watcher sees it through its selector: leaving the selection is DELETED."""
    if selector.empty:
        if event.kind == "DELETE":
            return "DELETED"
        return "MODIFIED" if event.has_prev else "ADDED"
    now = event.kind == "PUT" and selector.matches(event.obj)
    before = event.has_prev and selector.matches(event.prev)
    if event.kind == "DELETE":
        return "DELETED" if before else None
    if now:
        return "MODIFIED" if before else "ADDED"
    if before:
        return "DELETED"
    return None


def _bookmark(kind: Kind, revision: int) -> bytes:
    return event_line("BOOKMARK", {"apiVersion": API_VERSION, "kind": kind.name, "metadata": {"resourceVersion": str(revision)}})


async def watch_stream(
    store: Store,
    cache: WatchCache,
    kind: Kind,
    selector: Selector,
    rv: str | None,
    *,
    bookmark_interval: float,
    timeout: float | None = None,
) -> AsyncIterator[bytes]:
    """Every change after rv, in order (the current state first as ADDED when rv is absent or 0);
    with `timeout`, the stream ends cleanly after that many seconds (the client watches again)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout if timeout else None
    try:
        if not rv or rv == "0":
            items, revision = await store.list(kind.plural)
            for obj in items:
                if selector.matches(obj):
                    yield event_line("ADDED", obj)
        else:
            try:
                revision = int(rv)
            except ValueError:
                raise BadRequest(f"resourceVersion {rv!r} is not a number",
                                 details=[{"field": "resourceVersion", "message": "must be a number"}]) from None
        await cache.start()
        watcher = cache.subscribe(revision)
        if watcher is None:
            # Older than the cache's window: this watcher gets its own etcd watch, which says 410
            # when etcd has compacted the revision away.
            async for event in store.watch(kind.plural, since=revision):
                kind_word = translate(event, selector)
                if kind_word is not None:
                    yield CachedEvent(event).line(kind_word)
            return
        sent = revision
        try:
            while True:
                wait = bookmark_interval
                if deadline is not None:
                    wait = min(wait, deadline - loop.time())
                    if wait <= 0:
                        return
                batch = await watcher.next_batch(wait)
                if batch is None and deadline is not None and loop.time() >= deadline:
                    return
                if batch is None:
                    # Every event up to the cache's newest revision has reached this watcher
                    # (offers are synchronous), so a client may resume from there.
                    sent = max(sent, cache.last_revision)
                    yield _bookmark(kind, sent)
                    continue
                lines = []
                for cached in batch:
                    kind_word = translate(cached.event, selector)
                    if kind_word is not None:
                        lines.append(cached.line(kind_word))
                sent = batch[-1].revision
                if lines:
                    yield b"".join(lines)
        finally:
            cache.unsubscribe(watcher)
    except WatchEnded:
        return
    except ApiError as exc:
        yield event_line("ERROR", exc.to_body())
    except Exception:
        log.exception("watch of %s broke", kind.plural)
        yield event_line("ERROR", {"reason": "InternalError", "message": "internal error", "details": [], "code": 500})
