"""Keep the kubelet's reconcile off one container while a data operation (backup, snapshot) works on it.

A reconcile seeing a frozen container thaws it, and one seeing a container stopped for a
snapshot restore records an exit and starts it: neither may happen halfway. The container's key
is held in the kubelet's work queue (as a worker holds it), and handled afterwards if anything
asked for it meanwhile.
"""
from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

__all__ = ["held"]


@asynccontextmanager
async def held(kubelet: Any, name: str) -> AsyncIterator[None]:
    await kubelet.queue.hold(name)
    try:
        yield
    finally:
        kubelet.queue.release(name)
