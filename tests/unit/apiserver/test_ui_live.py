from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from apiserver.storage import WatchEvent
from apiserver.ui.live import Stale, changes, sse
from apiserver.watchcache import WatchCache


class QuietStore:
    """Just enough of a Store for a watch cache fed by hand: etcd never says anything."""

    async def revision(self) -> int:
        return 1

    async def watch(self, plural: str, *, since: int) -> AsyncIterator[WatchEvent]:
        await asyncio.Event().wait()
        yield  # type: ignore[misc]


def ev(revision: int, name: str, kind: str = "PUT") -> WatchEvent:
    return WatchEvent(kind, {"metadata": {"name": name}}, None, revision)


def caches(*plurals: str) -> dict[str, WatchCache]:
    return {p: WatchCache(QuietStore(), p, capacity=4) for p in plurals}  # type: ignore[arg-type]


def test_sse_puts_every_line_in_its_own_data_field() -> None:
    assert sse("rows", "<tr>\n<td>a</td>\n</tr>") == b"event: rows\ndata: <tr>\ndata: <td>a</td>\ndata: </tr>\n\n"
    assert sse("reload", "") == b"event: reload\ndata: \n\n"


def test_changes_merge_kinds_in_arrival_order_and_say_when_it_is_quiet() -> None:
    async def go() -> None:
        cs = caches("containers", "events")
        stream = changes(cs, {"containers": 0, "events": 0}, keepalive=0.3)
        first = asyncio.ensure_future(stream.__anext__())
        await asyncio.sleep(0.01)
        cs["containers"].append(ev(2, "a"))
        assert [(p, e.revision) for p, e in await first] == [("containers", 2)]
        cs["events"].append(ev(3, "e1"))
        assert [(p, e.revision) for p, e in await stream.__anext__()] == [("events", 3)]
        assert await stream.__anext__() == []  # keepalive
        await stream.aclose()
        assert all(c.watcher_count == 0 for c in cs.values())

    asyncio.run(go())


def test_settle_sends_a_burst_as_one_batch() -> None:
    async def go() -> None:
        cs = caches("containers", "nodes")
        stream = changes(cs, {"containers": 0, "nodes": 0}, settle=0.05)
        nxt = asyncio.ensure_future(stream.__anext__())
        await asyncio.sleep(0.01)
        cs["containers"].append(ev(2, "a"))
        await asyncio.sleep(0.01)
        cs["nodes"].append(ev(3, "n"))
        cs["containers"].append(ev(4, "b"))
        assert sorted((p, e.revision) for p, e in await nxt) == [("containers", 2), ("containers", 4), ("nodes", 3)]
        await stream.aclose()

    asyncio.run(go())


def test_a_page_older_than_the_window_is_stale() -> None:
    async def go() -> None:
        cs = caches("containers")
        await cs["containers"].start()
        for revision in range(2, 12):
            cs["containers"].append(ev(revision, "a"))
        with pytest.raises(Stale):
            await changes(cs, {"containers": 1}).__anext__()
        for cache in cs.values():
            await cache.stop()

    asyncio.run(go())


def test_a_nudge_is_an_empty_batch_at_once_not_after_the_keepalive() -> None:
    async def go() -> None:
        cs = caches("nodes")
        nudge = asyncio.Event()
        stream = changes(cs, {"nodes": 0}, keepalive=60, nudge=nudge)
        nxt = asyncio.ensure_future(stream.__anext__())
        await asyncio.sleep(0.01)
        nudge.set()
        assert await asyncio.wait_for(nxt, 2) == []
        assert not nudge.is_set()  # taken: the next nudge makes the next batch
        cs["nodes"].append(ev(2, "n"))
        assert [(p, e.revision) for p, e in await asyncio.wait_for(stream.__anext__(), 2)] == [("nodes", 2)]
        await stream.aclose()

    asyncio.run(go())


def test_a_page_closed_under_repeated_cancels_leaves_no_watcher() -> None:
    """A browser leaving a live page: anyio cancels the response's task again on every loop turn, so
    the stream's clean-up must unsubscribe before its first await (a watcher left behind stays in its
    cache for good on a quiet kind)."""
    async def go() -> None:
        cs = caches("containers", "events")

        async def page() -> None:
            async for _ in changes(cs, {"containers": 0, "events": 0}, keepalive=30):
                pass

        task = asyncio.create_task(page())
        while not all(c.watcher_count == 1 for c in cs.values()):
            await asyncio.sleep(0.01)
        for _ in range(50):  # as anyio's cancel scope does until the task has ended
            if task.done():
                break
            task.cancel()
            await asyncio.sleep(0)
        await asyncio.gather(task, return_exceptions=True)
        assert [c.watcher_count for c in cs.values()] == [0, 0]

    asyncio.run(go())
