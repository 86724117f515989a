"""Keep the kubelet's reconcile off one container while a data operation (backup, snapshot) works on it.

A reconcile seeing a frozen container thaws it, and one seeing a container stopped for a
snapshot restore records an exit and starts it: neither may happen halfway. The container's name
is marked busy in the kubelet's work queue (as a running reconcile marks it), and queued again
afterwards if anything asked for it meanwhile.
"""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

__all__ = ["held"]


@asynccontextmanager
async def held(kubelet: Any, name: str) -> AsyncIterator[None]:
    while name in kubelet.busy:
        await asyncio.sleep(0.05)
    kubelet.busy.add(name)
    try:
        yield
    finally:
        kubelet.busy.discard(name)
        if name in kubelet.dirty:
            kubelet.queue.put_nowait(name)
