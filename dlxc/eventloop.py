"""The event loop of the control plane's busiest processes: uvloop, unless DLXC_EVENT_LOOP=asyncio.

The apiserver, the scheduler and hollow nodes spend a large part of their CPU in the loop itself
(socket reads and writes, callbacks, timers); uvloop does that work in C. The kubelet and the
controller keep the standard loop: they are not busy, and the kubelet's subprocesses and liblxc
threads are tested on it.
"""
from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine
from typing import Any, Literal

__all__ = ["ENV", "LOOPS", "loop_name", "run"]

ENV = "DLXC_EVENT_LOOP"
LOOPS = ("uvloop", "asyncio")


def loop_name() -> Literal["uvloop", "asyncio"]:
    """The loop asked for by DLXC_EVENT_LOOP (default uvloop); anything else is an error naming the variable."""
    value = os.environ.get(ENV, "").strip().lower() or "uvloop"
    if value not in LOOPS:
        raise ValueError(f"{ENV}={value!r} is not an event loop: use one of {', '.join(LOOPS)}")
    return value  # type: ignore[return-value]


def run(main: Coroutine[Any, Any, None]) -> None:
    """asyncio.run(main) on the loop DLXC_EVENT_LOOP names."""
    if loop_name() == "uvloop":
        import uvloop

        uvloop.run(main)
    else:
        asyncio.run(main)
