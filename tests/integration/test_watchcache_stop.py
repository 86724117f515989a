"""A watch cache stops even when the cancel of its etcd watch was lost while the watch was being made.

aetcd makes each watch under asyncio.wait_for, which on Python 3.11 drops a cancel arriving as the
watch is created. The apiserver, told to stop at that moment (its port taken at start), then waited
forever in its shutdown for a watch that went on running (`dlxc up` waited out its 60 s).
"""
from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest

from apiserver.storage import Store
from apiserver.watchcache import WatchCache

pytestmark = [pytest.mark.timeout(60)]


def test_stop_ends_a_watch_whose_cancel_was_lost_as_it_was_made(etcd: Any) -> None:
    async def go() -> None:
        store = Store([etcd.endpoint], prefix=f"/test-{uuid.uuid4().hex[:8]}")
        await store.connect()
        client = store.etcd
        real = client.watch_prefix
        making = asyncio.Event()

        async def made_despite_a_cancel(*args: Any, **kwargs: Any) -> Any:
            making.set()
            inner = asyncio.ensure_future(real(*args, **kwargs))
            try:
                return await asyncio.shield(inner)
            except asyncio.CancelledError:
                return await inner  # what 3.11's wait_for does when the result is there as the cancel comes

        client.watch_prefix = made_despite_a_cancel  # type: ignore[method-assign]
        cache = WatchCache(store, "leases")
        try:
            await cache.start()
            watching = cache._task
            assert watching is not None
            await asyncio.wait_for(making.wait(), 10)
            began = time.monotonic()
            stopping = asyncio.ensure_future(cache.stop())
            done, _ = await asyncio.wait({stopping}, timeout=15)
            assert done, "stop() waited on for a watch that lost its cancel"
            assert watching.done()
            assert time.monotonic() - began < 3  # the lost cancel is noticed as the watch is made, not a grace period later
        finally:
            await store.close()

    asyncio.run(go())
