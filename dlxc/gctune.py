"""Garbage collection for the busy processes: the apiserver, hollow nodes and the scheduler.

Each of thousands of renewal streams allocates a few objects a second that live about one renewal
interval (a timer, a future, a chunk). Under CPython's default thresholds (700 / 10 / 10) young
collections run so often that these objects outlive them, reach the oldest generation, and make full
collections frequent; each full collection walks every object the process holds (every cached
object, every stream), though almost all of them live as long as the process. Measured with 5,000
hollow nodes renewing every second: the collector took half of the hollow process's CPU and a sixth
of the apiserver's.

The scheduler holds every Node and Container of the cluster in its informers' caches (at 5,000 nodes,
a few hundred thousand objects) and makes short-lived ones per decision and per watch event; every
full collection walked all of the caches again.

Two changes, both only in those processes' entry points (never in a library, never in tests):
`tune()` makes a young collection wait for `YOUNG` new objects (a second's worth of renewals dies
before it looks), and `freeze()`, once the process holds its long-lived state (caches loaded, nodes
registered), moves everything alive to the permanent generation, which no collection walks again.
Reference counting still frees frozen objects; only a cycle among them would stay (they are the
process's own state, freed at exit). Cyclic garbage made later is collected as before.
"""
from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Awaitable, Callable

from dlxc.tasks import cancel_and_wait

__all__ = ["YOUNG", "freeze", "freeze_when", "tune"]

YOUNG = 50_000  # new container objects between two young collections (CPython's default: 700)


def tune(young: int = YOUNG) -> None:
    """Young collections every `young` allocations; the older generations keep their ratios."""
    _, middle, old = gc.get_threshold()
    gc.set_threshold(young, middle, old)


def freeze() -> int:
    """Collect once, then exempt everything alive from every later collection; how many objects that is."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


async def freeze_when(main: Awaitable[None], ready: Callable[[], Awaitable[None]], *, log: logging.Logger) -> None:
    """Run `main`; once `ready()` returns (the long-lived state is loaded) while it runs, freeze."""
    running = asyncio.ensure_future(main)
    settled = asyncio.ensure_future(ready())
    try:
        await asyncio.wait([running, settled], return_when=asyncio.FIRST_COMPLETED)
        if settled.done() and not settled.cancelled() and settled.exception() is None:
            log.info("%d objects exempted from garbage collection", freeze())
        await running
    finally:
        # Cancelled from outside (leadership lost, a signal): `main` ends its own way, as if awaited alone.
        await cancel_and_wait(settled, running)
