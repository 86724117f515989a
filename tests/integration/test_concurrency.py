"""Optimistic concurrency under real contention: no lost update, no double create."""
from __future__ import annotations

import asyncio

import pytest

from dlxc.client.errors import AlreadyExists, Conflict

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]


@pytest.mark.parametrize("watching", [False, True], ids=["no-watch-cache", "watch-cache-live"])
def test_ten_writers_times_a_hundred_read_modify_writes_lose_nothing(api, watching: bool) -> None:
    # With a watch open, the apiserver's watch cache runs and every write starts from its copy.
    async def watch(c) -> None:
        async for _ in c.watch("containers"):
            pass

    async def go() -> tuple[int, int]:
        async with api.client() as c, api.client() as w:
            watcher = asyncio.create_task(watch(w)) if watching else None
            await asyncio.sleep(0.2)
            await c.create("containers", {"metadata": {"name": "counter", "annotations": {"n": "0"}}, "spec": {"image": "busybox"}})
            successes = 0

            async def writer() -> None:
                nonlocal successes
                for _ in range(100):
                    obj = await c.get("containers", "counter")
                    obj["metadata"]["annotations"]["n"] = str(int(obj["metadata"]["annotations"]["n"]) + 1)
                    try:
                        await c.replace("containers", obj)
                    except Conflict:
                        continue
                    successes += 1

            await asyncio.gather(*(writer() for _ in range(10)))
            final = await c.get("containers", "counter")
            if watcher is not None:
                watcher.cancel()
            return successes, int(final["metadata"]["annotations"]["n"])

    successes, counter = asyncio.run(go())
    assert counter == successes
    assert successes >= 100  # every round of reads has a winner


def test_fifty_concurrent_creates_of_one_name_give_exactly_one_201(api) -> None:
    async def go() -> list[object]:
        async with api.client() as c:
            body = {"metadata": {"name": "race"}, "spec": {"image": "busybox"}}
            return await asyncio.gather(*(c.create("containers", body) for _ in range(50)), return_exceptions=True)

    results = asyncio.run(go())
    created = [r for r in results if isinstance(r, dict)]
    assert len(created) == 1
    assert all(isinstance(r, AlreadyExists) for r in results if not isinstance(r, dict))
