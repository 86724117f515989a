"""Garbage collection for the processes that hold thousands of long streams: the apiserver and hollow nodes.

Each of thousands of renewal streams allocates a few objects a second that live about one renewal
interval (a timer, a future, a chunk). Under CPython's default thresholds (700 / 10 / 10) young
collections run so often that these objects outlive them, reach the oldest generation, and make full
collections frequent; each full collection walks every object the process holds (every cached
object, every stream), though almost all of them live as long as the process. Measured with 5,000
hollow nodes renewing every second: the collector took half of the hollow process's CPU and a sixth
of the apiserver's.

Two changes, both only in those processes' entry points (never in a library, never in tests):
`tune()` makes a young collection wait for `YOUNG` new objects (a second's worth of renewals dies
before it looks), and `freeze()`, once the process holds its long-lived state (caches loaded, nodes
registered), moves everything alive to the permanent generation, which no collection walks again.
Reference counting still frees frozen objects; only a cycle among them would stay (they are the
process's own state, freed at exit). Cyclic garbage made later is collected as before.
"""
from __future__ import annotations

import gc

__all__ = ["YOUNG", "freeze", "tune"]

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
