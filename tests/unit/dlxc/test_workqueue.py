"""The shared work queue: dedupe, one worker per key, per-key backoff with a cap, delayed adds; bounded runs."""
from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable

import pytest

from dlxc.client.workqueue import WorkQueue


def run(coro: Callable[[], Awaitable[None]], *, timeout: float = 5.0) -> None:
    asyncio.run(asyncio.wait_for(coro(), timeout))


async def drain(queue: WorkQueue[str]) -> list[str]:
    """The keys `get` hands out while any is ready, each marked done at once."""
    got = []
    while len(queue):
        key = await queue.get()
        got.append(key)
        queue.done(key)
    return got


@pytest.mark.parametrize(
    ("adds", "expected"),
    [
        (["a"], ["a"]),
        (["a", "a", "a"], ["a"]),
        (["a", "b", "a", "c", "b"], ["a", "b", "c"]),
        ([], []),
    ],
    ids=["one", "dedupe", "order-of-first-add", "empty"],
)
def test_adds_are_deduplicated_in_first_add_order(adds: list[str], expected: list[str]) -> None:
    async def scenario() -> None:
        queue: WorkQueue[str] = WorkQueue()
        for key in adds:
            queue.add(key)
        assert await drain(queue) == expected

    run(scenario)


def test_a_key_added_while_in_flight_is_handled_once_more_after() -> None:
    async def scenario() -> None:
        queue: WorkQueue[str] = WorkQueue()
        queue.add("a")
        key = await queue.get()
        queue.add("a")
        queue.add("a")
        assert len(queue) == 0  # not handed to another worker while in flight
        queue.done(key)
        assert await drain(queue) == ["a"]

    run(scenario)


def test_workers_never_handle_one_key_concurrently_but_handle_keys_in_parallel() -> None:
    async def scenario() -> None:
        queue: WorkQueue[str] = WorkQueue()
        active: set[str] = set()
        overlaps, parallel, handled = [], [], []

        async def process(key: str) -> None:
            if key in active:
                overlaps.append(key)
            active.add(key)
            parallel.append(len(active))
            await asyncio.sleep(0.02)
            handled.append(key)
            active.discard(key)

        task = asyncio.create_task(queue.run(process, workers=4))
        for key in ["a", "b", "c"]:
            queue.add(key)
        await asyncio.sleep(0.005)
        queue.add("a")  # in flight: once more, after
        await asyncio.sleep(0.1)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert overlaps == []
        assert max(parallel) == 3
        assert sorted(handled) == ["a", "a", "b", "c"]

    run(scenario)


@pytest.mark.parametrize(
    ("base", "cap", "failures", "delays"),
    [
        (1.0, 30.0, 7, [1, 2, 4, 8, 16, 30, 30]),
        (0.5, 2.0, 4, [0.5, 1, 2, 2]),
        (10.0, 10.0, 2, [10, 10]),
        (60.0, 30.0, 2, [30, 30]),  # the cap wins over a larger base (as the scheduler's config allows)
    ],
    ids=["kubelet-and-scheduler", "small-cap", "flat", "base-above-cap"],
)
def test_backoff_doubles_per_key_up_to_the_cap(base: float, cap: float, failures: int, delays: list[float]) -> None:
    queue: WorkQueue[str] = WorkQueue(base_delay=base, max_delay=cap)
    assert [queue.backoff("a") for _ in range(failures)] == delays
    assert queue.backoff("b") == min(base, cap)  # per key
    queue.forget("a")
    assert queue.failures("a") == 0 and queue.backoff("a") == min(base, cap)


def test_jitter_stays_within_its_fraction() -> None:
    queue: WorkQueue[str] = WorkQueue(base_delay=1.0, max_delay=30.0, jitter=0.2, rng=random.Random(1))
    for count in range(8):
        delay = queue.backoff("a")
        nominal = min(30.0, 2.0 ** count)
        assert 0.8 * nominal <= delay <= 1.2 * nominal


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"base_delay": 0}, "backoff delays must be positive, got base_delay 0 and max_delay 30.0"),
        ({"max_delay": -1}, "backoff delays must be positive, got base_delay 1.0 and max_delay -1"),
        ({"jitter": 1.5}, "jitter is a fraction in [0, 1), got 1.5"),
    ],
    ids=["zero-base", "negative-cap", "jitter"],
)
def test_bad_settings_are_refused(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError) as err:
        WorkQueue(**kwargs)  # type: ignore[arg-type]
    assert str(err.value) == message


def test_add_after_fires_later_and_the_earliest_delayed_add_wins() -> None:
    async def scenario() -> None:
        queue: WorkQueue[str] = WorkQueue()
        queue.add_after("a", 0.2)
        queue.add_after("a", 0.05)  # earlier: replaces
        queue.add_after("a", 0.5)  # later: ignored
        pending = queue.pending_delay("a")
        assert pending is not None and pending <= 0.05
        assert len(queue) == 0
        await asyncio.sleep(0.08)
        assert queue.pending_delay("a") is None
        assert await drain(queue) == ["a"]
        await asyncio.sleep(0.25)
        assert len(queue) == 0  # the replaced timer never fires

    run(scenario)


def test_add_after_zero_adds_now_and_discard_delayed_cancels() -> None:
    async def scenario() -> None:
        queue: WorkQueue[str] = WorkQueue()
        queue.add_after("a", 0)
        assert await drain(queue) == ["a"]
        queue.add_after("b", 0.03)
        queue.discard_delayed("b")
        await asyncio.sleep(0.06)
        assert len(queue) == 0

    run(scenario)


def test_add_rate_limited_retries_after_the_backoff() -> None:
    async def scenario() -> None:
        queue: WorkQueue[str] = WorkQueue(base_delay=0.03, max_delay=0.1)
        assert queue.add_rate_limited("a") == 0.03
        assert queue.add_rate_limited("a") == 0.06
        assert queue.failures("a") == 2
        pending = queue.pending_delay("a")
        assert pending is not None and pending <= 0.03  # the earlier pending add is kept
        await asyncio.sleep(0.06)
        assert await drain(queue) == ["a"]

    run(scenario)


def test_a_failing_handler_is_logged_and_the_worker_goes_on() -> None:
    async def scenario() -> None:
        queue: WorkQueue[str] = WorkQueue()
        handled: list[str] = []

        async def process(key: str) -> None:
            handled.append(key)
            if key == "bad":
                raise RuntimeError("boom")

        task = asyncio.create_task(queue.run(process, workers=1))
        queue.add("bad")
        queue.add("good")
        await asyncio.sleep(0.02)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert handled == ["bad", "good"]

    run(scenario)


def test_run_cancels_pending_delayed_adds_when_it_stops() -> None:
    async def scenario() -> None:
        queue: WorkQueue[str] = WorkQueue()

        async def process(key: str) -> None:
            return None

        task = asyncio.create_task(queue.run(process, workers=1))
        queue.add_after("a", 0.05)
        await asyncio.sleep(0)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert queue.pending_delay("a") is None
        await asyncio.sleep(0.08)
        assert len(queue) == 0

    run(scenario)


def test_run_needs_a_worker() -> None:
    async def scenario() -> None:
        queue: WorkQueue[str] = WorkQueue()

        async def process(key: str) -> None:
            return None

        with pytest.raises(ValueError, match="workers must be at least 1, got 0"):
            await queue.run(process, workers=0)

    run(scenario)
