"""Ending asyncio tasks for sure.

On Python 3.11 a cancel can be lost: `asyncio.wait_for` returns its inner result when the cancel
arrives in the same loop turn as that result (CPython gh-86296, fixed in 3.12). aetcd creates every
watch under a `wait_for`, so an apiserver stopping just as a watch was made kept that watch running
and waited for it forever. `cancel_and_wait` cancels again whatever is still running after a grace
period (enough for the short, bounded clean-ups our tasks do in their `finally`).
"""
from __future__ import annotations

import asyncio

__all__ = ["AGAIN_AFTER", "cancel_and_wait"]

AGAIN_AFTER = 5.0  # seconds a cancelled task has to end before it is cancelled again


async def cancel_and_wait(*tasks: asyncio.Future[object] | None, again_after: float = AGAIN_AFTER) -> None:
    """Cancel the tasks (None is skipped) and return once each has ended; their results and
    exceptions are consumed. A task still running `again_after` seconds after a cancel is
    cancelled again, until it ends."""
    pending = {task for task in tasks if task is not None and not task.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=again_after)
    for task in tasks:
        if task is not None and not task.cancelled():
            task.exception()  # retrieved: asyncio would log an unretrieved one at collection
