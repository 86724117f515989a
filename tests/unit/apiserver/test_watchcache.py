from __future__ import annotations

import asyncio

import pytest

from apiserver.storage import WatchEvent
from apiserver.watchcache import WatchCache, WatchEnded, Watcher
from dlxc.client.errors import Gone


def ev(revision: int, name: str = "a", kind: str = "PUT") -> WatchEvent:
    obj = {"metadata": {"name": name, "resourceVersion": str(revision)}}
    return WatchEvent(kind, obj, None, revision)


def cache(**kwargs: int) -> WatchCache:
    return WatchCache(store=None, plural="containers", **kwargs)  # type: ignore[arg-type]


async def drain(watcher: Watcher) -> list[int]:
    got = []
    while True:
        item = await watcher.next(0.01)
        if item is None:
            return got
        got.append(item.revision)


@pytest.mark.parametrize(
    ("since", "expected"),
    [(0, None), (1, None), (2, [3, 4, 5, 6]), (4, [5, 6]), (6, []), (9, [])],
    ids=["long-before-window", "just-before-window", "floor", "middle", "newest", "future"],
)
def test_subscribe_serves_the_window_from_memory(since: int, expected: list[int] | None) -> None:
    async def go() -> None:
        c = cache(capacity=4)
        for revision in range(1, 7):
            c.append(ev(revision))
        assert c.floor == 2
        watcher = c.subscribe(since)
        if expected is None:
            assert watcher is None
        else:
            assert watcher is not None
            assert await drain(watcher) == expected

    asyncio.run(go())


def test_big_events_shorten_the_window_instead_of_growing_memory() -> None:
    c = cache(max_bytes=200)
    for revision in range(1, 11):
        c.append(ev(revision, name="x" * 40))  # 86-87 bytes each once encoded: two fit
    assert c.floor == 8
    assert c.subscribe(7) is None and c.subscribe(8) is not None


def test_live_events_follow_the_backlog_in_order_and_older_ones_are_skipped() -> None:
    async def go() -> None:
        c = cache()
        c.append(ev(1))
        watcher = c.subscribe(2)
        assert watcher is not None
        for revision in (2, 3, 4):
            c.append(ev(revision))
        assert await drain(watcher) == [3, 4]

    asyncio.run(go())


def test_a_slow_watcher_is_dropped_with_gone_and_the_others_keep_everything() -> None:
    async def go() -> None:
        c = cache(queue_size=3)
        slow, fast = c.subscribe(0), c.subscribe(0)
        assert slow is not None and fast is not None
        got = []
        for revision in range(1, 6):
            c.append(ev(revision))
            got += await drain(fast)
        assert got == [1, 2, 3, 4, 5]
        assert c.watcher_count == 1
        with pytest.raises(Gone, match="fell more than 3 events behind"):
            await slow.next(1)

    asyncio.run(go())


def test_reset_keeps_watchers_that_are_past_the_lost_revisions() -> None:
    async def go() -> None:
        c = cache()
        behind, ahead = c.subscribe(3), c.subscribe(8)
        assert behind is not None and ahead is not None
        c.reset(5, Gone("compacted"))
        assert c.floor == 5
        assert behind.dropped is not None and ahead.dropped is None
        assert c.subscribe(4) is None and c.subscribe(5) is not None

    asyncio.run(go())


def test_end_all_ends_streams_without_an_error() -> None:
    async def go() -> None:
        c = cache()
        watcher = c.subscribe(0)
        assert watcher is not None
        c.end_all()
        with pytest.raises(WatchEnded):
            await watcher.next(1)
        assert c.watcher_count == 0

    asyncio.run(go())


def test_each_event_is_encoded_once() -> None:
    async def go() -> None:
        c = cache()
        first, second = c.subscribe(0), c.subscribe(0)
        assert first is not None and second is not None
        c.append(ev(1))
        a, b = await first.next(1), await second.next(1)
        assert a is not None and b is not None
        assert a.encoded is b.encoded
        assert a.encoded == b'{"metadata":{"name":"a","resourceVersion":"1"}}'

    asyncio.run(go())


def test_latest_follows_puts_and_deletes_and_hands_out_copies() -> None:
    c = cache()
    assert c.latest("a") is None
    c.append(ev(1, "a"))
    c.append(ev(2, "b"))
    c.append(ev(3, "a"))
    got = c.latest("a")
    assert got == {"metadata": {"name": "a", "resourceVersion": "3"}}
    got["metadata"]["name"] = "changed"
    assert c.latest("a") == {"metadata": {"name": "a", "resourceVersion": "3"}}
    c.append(ev(4, "a", kind="DELETE"))
    assert c.latest("a") is None
    assert c.latest("b") == {"metadata": {"name": "b", "resourceVersion": "2"}}


def test_reset_forgets_the_latest_copies() -> None:
    # Events lost to compaction may include deletes: a copy kept across a reset could outlive its object.
    c = cache()
    c.append(ev(1, "a"))
    c.reset(5, Gone("compacted"))
    assert c.latest("a") is None


def test_next_batch_hands_over_the_whole_backlog_in_order() -> None:
    async def go() -> None:
        c = cache(capacity=10)
        watcher = c.subscribe(0)
        assert await watcher.next_batch(0.01) is None
        for revision in (1, 2, 3):
            c.append(ev(revision))
        batch = await watcher.next_batch(0.01)
        assert [e.revision for e in batch] == [1, 2, 3]
        assert await watcher.next_batch(0.01) is None

    asyncio.run(go())
