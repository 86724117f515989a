"""WorkQueue.hold: a key held for work outside the workers is never handled meanwhile, and is handled once after."""
from __future__ import annotations

import asyncio

from dlxc.client.workqueue import WorkQueue


def test_held_key_waits_for_release_and_is_handled_once_after() -> None:
    async def scenario() -> list[str]:
        queue: WorkQueue[str] = WorkQueue()
        handled: list[str] = []

        async def process(key: str) -> None:
            handled.append(key)

        queue.add("a")  # already waiting when the hold starts
        await queue.hold("a")
        runner = asyncio.create_task(queue.run(process, workers=2))
        queue.add("a")
        queue.add("b")
        await asyncio.sleep(0.1)
        during = list(handled)
        queue.release("a")
        await asyncio.sleep(0.1)
        runner.cancel()
        return [*during, "|", *handled]

    assert asyncio.run(scenario()) == ["b", "|", "b", "a"]


def test_hold_waits_for_the_worker_that_has_the_key() -> None:
    async def scenario() -> list[str]:
        queue: WorkQueue[str] = WorkQueue()
        log: list[str] = []

        async def process(key: str) -> None:
            log.append("start")
            await asyncio.sleep(0.2)
            log.append("end")

        runner = asyncio.create_task(queue.run(process))
        queue.add("a")
        await asyncio.sleep(0.05)
        await queue.hold("a")
        log.append("held")
        queue.release("a")
        runner.cancel()
        return log

    assert asyncio.run(scenario()) == ["start", "end", "held"]
