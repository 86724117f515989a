"""Restart policy and crash-loop backoff for containers that stop on their own, as pure functions."""
from __future__ import annotations

import re
import signal
from dataclasses import dataclass
from datetime import datetime

__all__ = [
    "SIGINT",
    "Backoff",
    "ExitInfo",
    "parse_exit",
    "next_backoff",
    "restart_wanted",
    "restart_due",
]

# liblxc sees init end on SIGINT when the container halts or powers off from inside (the kernel
# kills a pid namespace's init with SIGINT on reboot(POWER_OFF)); that is a clean shutdown.
SIGINT = 2

_SIGNAL = re.compile(r"Child <\d+> ended on signal [^(]*\((\d+)\)")
_ERROR = re.compile(r"Child <\d+> ended on error \((\d+)\)")


@dataclass(frozen=True)
class ExitInfo:
    """How init ended: at most one of exit_code and signal is set; neither when the log said nothing."""

    exit_code: int | None = None
    signal: int | None = None

    @property
    def reason(self) -> str:
        if self.signal is not None:
            return "Completed" if self.signal == SIGINT else "Signaled"
        if self.exit_code is not None:
            return "Completed" if self.exit_code == 0 else "Error"
        # liblxc logs nothing for a zero exit status.
        return "Completed"

    @property
    def failed(self) -> bool:
        return self.reason != "Completed"

    def describe(self) -> str:
        if self.signal is not None:
            # Read after "it": "it was killed by signal 9 (SIGKILL)", "it exited with code 1".
            return "halted" if self.signal == SIGINT else f"was killed by signal {self.signal}{_signal_name(self.signal)}"
        if self.exit_code:
            return f"exited with code {self.exit_code}"
        return "exited with code 0"


def _signal_name(number: int) -> str:
    try:
        return f" ({signal.Signals(number).name})"
    except ValueError:
        return ""


def parse_exit(log_text: str) -> ExitInfo:
    """How init ended, from the container's lxc.log written at INFO level (the last run only)."""
    info = ExitInfo()
    for line in log_text.splitlines():
        if m := _SIGNAL.search(line):
            info = ExitInfo(signal=int(m.group(1)))
        elif m := _ERROR.search(line):
            info = ExitInfo(exit_code=int(m.group(1)))
    return info


@dataclass(frozen=True)
class Backoff:
    """Crash-loop backoff: no delay after the first exit, then base, doubling up to cap.

    A run that lasted `reset_after` seconds or more starts the count again (Kubernetes resets after
    twice the cap: ten minutes for the default five).
    """

    base: float = 10.0
    cap: float = 300.0

    @property
    def reset_after(self) -> float:
        return 2 * self.cap


def next_backoff(previous: float | None, ran_for: float | None, backoff: Backoff) -> float:
    """The delay before restarting after this exit, given the delay used after the previous one."""
    if previous is None or (ran_for is not None and ran_for >= backoff.reset_after):
        return 0.0
    if previous <= 0:
        return backoff.base
    return min(backoff.cap, previous * 2)


def restart_wanted(policy: str, exit: ExitInfo) -> bool:
    """Whether `policy` (Always, OnFailure, Never) restarts a container that ended as `exit` did."""
    if policy == "Always":
        return True
    if policy == "OnFailure":
        return exit.failed
    if policy == "Never":
        return False
    raise ValueError(f"unknown restartPolicy {policy!r}; expected Always, OnFailure or Never")


def restart_due(finished_at: datetime, backoff_seconds: float, now: datetime) -> float:
    """Seconds left before a restart is due (0 when it is due now)."""
    return max(0.0, backoff_seconds - (now - finished_at).total_seconds())
