"""What the kubelet writes into a Container's status: times, conditions, exits, and the small rules around them."""
from __future__ import annotations

import os
import time
from datetime import datetime, timezone
from pathlib import Path

from kubelet import restarts
from kubelet.plan import Observed
from schemas import Container
from schemas.base import Obj, now_iso
from schemas.container import ADOPTED_IMAGE
from schemas.wire import ADOPTED_ROOTFS_ANNOTATION

__all__ = [
    "adopted_rootfs",
    "append_line",
    "describe_exit",
    "error_summary",
    "init_started",
    "parse_time",
    "ran_since_last_exit",
    "restarted_after",
    "same_but_status",
    "set_condition",
]


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _boot_time() -> float:
    # /proc/stat's btime is whole seconds, too coarse to order a start against an exit a moment earlier.
    with open("/proc/uptime") as handle:
        return time.time() - float(handle.read().split()[0])


_BOOT_TIME = _boot_time()
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def init_started(pid: int) -> datetime | None:
    """When process `pid` started, to about 10 ms."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return datetime.fromtimestamp(_BOOT_TIME + int(fields[19]) / _CLOCK_TICKS, timezone.utc)


def ran_since_last_exit(status: Obj) -> bool:
    """Whether the container was started after its last recorded exit (so a stop now is a new exit)."""
    started = parse_time(status.get("startedAt"))
    if started is None:
        return False
    last = status.get("lastExit")
    finished = parse_time(last.get("finishedAt")) if last else None
    return finished is None or finished < started


def restarted_after(observed: Observed, requested: str) -> bool:
    """Whether the running init started after the restart request `requested` (an ISO time)."""
    when = parse_time(requested)
    if when is None or observed.state not in ("RUNNING", "FROZEN"):
        return False
    return observed.started is not None and observed.started >= when


def describe_exit(last_exit: Obj) -> str:
    return restarts.ExitInfo(exit_code=last_exit.get("exitCode"), signal=last_exit.get("signal")).describe()


def set_condition(status: Obj, kind: str, value: str, reason: str, message: str) -> None:
    conditions = [c for c in status.get("conditions", []) if c.get("type") != kind]
    old = next((c for c in status.get("conditions", []) if c.get("type") == kind), None)
    since = old["lastTransitionTime"] if old and old.get("status") == value and old.get("lastTransitionTime") else now_iso()
    conditions.append({"type": kind, "status": value, "reason": reason, "message": message, "lastTransitionTime": since})
    status["conditions"] = conditions


def error_summary(exc: Exception, *, lines: int = 3, limit: int = 1000) -> str:
    """The first line of an error and the last few lines of any log it carries, for status.message."""
    text = str(exc).strip().splitlines() or [type(exc).__name__]
    picked = text[:1] + [line for line in text[1:] if "ERROR" in line][-lines:]
    return "\n".join(picked)[:limit]


def adopted_rootfs(container: Container) -> str | None:
    """The rootfs an adopted container keeps (its own directory), or None for an image clone."""
    value = container.metadata.annotations.get(ADOPTED_ROOTFS_ANNOTATION)
    if not value or container.spec.image != ADOPTED_IMAGE:
        return None
    return value


def same_but_status(old: Obj, new: Obj) -> bool:
    def strip(obj: Obj) -> Obj:
        meta = {k: v for k, v in obj.get("metadata", {}).items() if k != "resourceVersion"}
        return {"metadata": meta, "spec": obj.get("spec")}

    return strip(old) == strip(new)


def append_line(path: Path, line: str) -> None:
    with open(path, "a") as handle:
        handle.write(line + "\n")
