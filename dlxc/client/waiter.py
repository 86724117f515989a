"""Waiting for an object to reach a condition (`dlxc wait`, `--wait`): parsing what to wait for, checking it, polling."""
from __future__ import annotations

from typing import TYPE_CHECKING

import asyncio
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from dlxc.client.errors import NotFound

if TYPE_CHECKING:
    from dlxc.client.api import Client
    from schemas.base import Obj

__all__ = ["WaitFor", "condition_met", "parse_duration", "parse_for", "state_of", "wait_for"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")


def parse_duration(text: str) -> float:
    """Seconds in '60s', '2m', '1h', '500ms' or a bare number of seconds."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration; use e.g. 30s, 2m or 1h")
    number, unit = float(match.group(1)), match.group(2) or "s"
    return number * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]


@dataclass(frozen=True)
class WaitFor:
    what: str  # phase | condition | delete
    value: str = ""
    status: str = "True"

    def __str__(self) -> str:
        if self.what == "delete":
            return "delete"
        if self.what == "condition":
            return f"condition {self.value}={self.status}"
        return f"phase {self.value}"


def parse_for(text: str) -> WaitFor:
    """'phase=Running', 'delete', 'condition=Ready' or 'condition=Ready=False'."""
    if text == "delete":
        return WaitFor("delete")
    key, sep, rest = text.partition("=")
    if sep and key == "phase" and rest:
        return WaitFor("phase", rest)
    if sep and key == "condition" and rest:
        name, _, status = rest.partition("=")
        return WaitFor("condition", name, status or "True")
    raise ValueError(f"--for {text!r}: use phase=PHASE, condition=TYPE[=STATUS] or delete")


def state_of(obj: Obj | None, wait: WaitFor) -> str:
    """What the object shows now, in the terms of what is awaited."""
    if obj is None:
        return "gone"
    status = obj.get("status") or {}
    if wait.what == "condition":
        cond = next((c for c in status.get("conditions", []) if c.get("type") == wait.value), None)
        return f"{wait.value}={cond.get('status')}" if cond else f"{wait.value} not reported"
    phase = status.get("phase") or "Pending"
    message = status.get("message")
    return f"{phase} ({message})" if message else phase


def condition_met(obj: Obj | None, wait: WaitFor) -> bool:
    if wait.what == "delete":
        return obj is None
    if obj is None:
        return False
    status = obj.get("status") or {}
    if wait.what == "phase":
        return (status.get("phase") or "Pending") == wait.value
    return any(c.get("type") == wait.value and c.get("status") == wait.status for c in status.get("conditions", []))


async def wait_for(
    client: Client,
    plural: str,
    name: str,
    wait: WaitFor,
    *,
    timeout: float,
    on_change: Callable[[str], None] | None = None,
    poll: float = 0.25,
) -> tuple[bool, str]:
    """(met, last state seen); polls, because a wait is short and a poll survives apiserver restarts."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            obj: Obj | None = await client.get(plural, name)
        except NotFound:
            obj = None
        state = state_of(obj, wait)
        if on_change is not None:
            on_change(state)
        if condition_met(obj, wait):
            return True, state
        if obj is None and wait.what != "delete":
            return False, state
        if time.monotonic() >= deadline:
            return False, state
        await asyncio.sleep(poll)
