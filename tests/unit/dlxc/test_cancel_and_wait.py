"""cancel_and_wait ends a task even when Python 3.11's wait_for lost the first cancel."""
from __future__ import annotations

import asyncio
import logging
import time

import pytest

from dlxc.tasks import cancel_and_wait


async def _swallows_one_cancel(made: asyncio.Event, ready: asyncio.Event) -> None:
    # A cancel that arrives in the loop turn that finishes wait_for's inner await is lost on 3.11
    # (aetcd's watch create is such a wait_for); the loop after it then runs on.
    made.set()
    try:
        await asyncio.wait_for(ready.wait(), 10)
    except asyncio.CancelledError:
        # Python 3.12's wait_for keeps the cancel; lose it here the way 3.11 does, so the test
        # checks the same thing on both.
        pass
    while True:
        await asyncio.sleep(3600)


def test_a_task_that_lost_its_cancel_is_cancelled_again_and_ended() -> None:
    async def go() -> tuple[bool, bool, float]:
        made, ready = asyncio.Event(), asyncio.Event()
        task = asyncio.create_task(_swallows_one_cancel(made, ready))
        await made.wait()
        ready.set()
        task.cancel()
        _, still = await asyncio.wait({task}, timeout=0.3)
        lost = task in still  # what `task.cancel(); await task` would then wait for: forever
        began = time.monotonic()
        await asyncio.wait_for(cancel_and_wait(task, again_after=0.2), 5)
        return lost, task.cancelled(), time.monotonic() - began

    lost, cancelled, took = asyncio.run(go())
    assert lost, "the first cancel was meant to be lost"
    assert cancelled
    assert took < 2


def test_a_task_that_ends_on_its_cancel_is_not_waited_for_longer() -> None:
    async def go() -> float:
        task = asyncio.create_task(asyncio.sleep(3600))
        await asyncio.sleep(0)
        began = time.monotonic()
        await cancel_and_wait(task, None, again_after=30)
        assert task.cancelled()
        return time.monotonic() - began

    assert asyncio.run(go()) < 1


def test_a_task_cleaning_up_gets_its_grace_period() -> None:
    """The clean-up in a task's finally (a key deleted, a stream closed) is not cut short by the next cancel."""
    async def go() -> list[str]:
        done: list[str] = []

        async def cleans_up() -> None:
            try:
                await asyncio.sleep(3600)
            finally:
                await asyncio.sleep(0.3)
                done.append("cleaned")

        task = asyncio.create_task(cleans_up())
        await asyncio.sleep(0)
        await cancel_and_wait(task, again_after=2)
        return done

    assert asyncio.run(go()) == ["cleaned"]


def test_results_and_errors_are_consumed(caplog: pytest.LogCaptureFixture) -> None:
    async def go() -> None:
        async def fails() -> None:
            raise RuntimeError("boom")

        failed = asyncio.create_task(fails())
        finished = asyncio.create_task(asyncio.sleep(0))
        await asyncio.sleep(0.01)
        await cancel_and_wait(failed, finished)

    with caplog.at_level(logging.ERROR, logger="asyncio"):
        asyncio.run(go())
        import gc

        gc.collect()
    assert [r for r in caplog.records if "never retrieved" in r.getMessage()] == []
