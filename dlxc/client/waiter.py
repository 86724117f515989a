"""Waiting for an object to reach a condition (`dlxc wait`, `--wait`): parsing what to wait for, checking it, polling."""
from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, get_args

from dlxc.client.errors import NotFound
from schemas.container import ContainerStatus
from schemas.wire import RESTART_ANNOTATION

if TYPE_CHECKING:
    from dlxc.client.api import Client
    from schemas.base import Obj

__all__ = [
    "PHASES", "WaitFor", "WaitOutcome", "condition_met", "parse_duration", "parse_for", "stale_status", "state_of",
    "terminal_failure",
    "wait_for",
]

PHASES: tuple[str, ...] = get_args(ContainerStatus.model_fields["phase"].annotation)

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
        phase = next((p for p in PHASES if p.lower() == rest.lower()), None)
        if phase is None:
            raise ValueError(f"--for {text!r}: no such phase {rest!r}; use one of {', '.join(PHASES)}")
        return WaitFor("phase", phase)
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
    # Kinds without a phase (sets, clusters) show Terminating while their finalizers run.
    phase = status.get("phase") or ("Terminating" if (obj.get("metadata") or {}).get("deletionTimestamp") else "Pending")
    message = status.get("message")
    return f"{phase} ({message})" if message else phase


def stale_status(obj: Obj) -> bool:
    """A Container's status written before its latest spec (the kubelet has not reported on that yet)."""
    if obj.get("kind", "Container") != "Container":
        return False
    observed = (obj.get("status") or {}).get("observedGeneration")
    generation = (obj.get("metadata") or {}).get("generation")
    return observed is not None and generation is not None and observed < generation


def condition_met(obj: Obj | None, wait: WaitFor) -> bool:
    """Whether the object shows what is awaited; a Container's status from before its latest spec does not count
    (`apply --wait` right after a change would otherwise take the old Running for the new spec's)."""
    if wait.what == "delete":
        return obj is None
    if obj is None or stale_status(obj):
        return False
    status = obj.get("status") or {}
    if wait.what == "phase":
        return (status.get("phase") or "Pending") == wait.value
    return any(c.get("type") == wait.value and c.get("status") == wait.status for c in status.get("conditions", []))


def terminal_failure(obj: Obj | None, wait: WaitFor) -> str:
    """Why waiting on is pointless ('' when it is not): a container that failed or halted for good.

    A crash loop in back-off (CrashLoopBackOff=True) restarts by itself, and a status the kubelet
    wrote before the latest spec or start request is stale, so neither ends a wait.
    """
    if obj is None or wait.what == "delete" or obj.get("kind", "Container") != "Container":
        return ""
    status, spec, meta = obj.get("status") or {}, obj.get("spec") or {}, obj.get("metadata") or {}
    phase = status.get("phase") or "Pending"
    if wait.what == "phase" and wait.value == phase:
        return ""
    if stale_status(obj):
        return ""
    requested = (meta.get("annotations") or {}).get(RESTART_ANNOTATION)
    if requested and requested != status.get("observedRestartAt"):
        return ""
    message = status.get("message") or ""
    if phase == "Failed":
        backoff = any(c.get("type") == "CrashLoopBackOff" and c.get("status") == "True" for c in status.get("conditions", []))
        return "" if backoff else f"Failed: {message}" if message else "Failed"
    last_exit = status.get("lastExit")
    if phase == "Stopped" and spec.get("state", "Running") == "Running" and last_exit:
        policy = spec.get("restartPolicy", "Always")
        if policy == "Never" or (policy == "OnFailure" and last_exit.get("reason") == "Completed"):
            return f"Stopped: {message}" if message else "Stopped"
    return ""


@dataclass(frozen=True)
class WaitOutcome:
    """How a wait ended; unpacks as (met, state) like the plain tuple it replaced."""

    met: bool
    state: str
    failure: str = ""  # a terminal failure that ended the wait early

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter((self.met, self.state))


async def wait_for(
    client: Client,
    plural: str,
    name: str,
    wait: WaitFor,
    *,
    timeout: float,
    on_change: Callable[[str], None] | None = None,
    poll: float = 0.25,
) -> WaitOutcome:
    """(met, last state seen); polls, because a wait is short and a poll survives apiserver restarts.

    A terminal failure (see terminal_failure) ends the wait at once, unmet, with its reason.
    """
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
            return WaitOutcome(True, state)
        if obj is None and wait.what != "delete":
            return WaitOutcome(False, state)
        failure = terminal_failure(obj, wait)
        if failure:
            return WaitOutcome(False, state, failure)
        if time.monotonic() >= deadline:
            return WaitOutcome(False, state)
        await asyncio.sleep(poll)
