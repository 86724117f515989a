"""Detached component processes of one host: start them, record their pids, tell whether they live, stop them.

Shared by `dlxc up` (a whole cluster on one host) and `dlxc init` / `dlxc join` (one host of many).
Each process gets its own session, so it outlives the command that started it and a stop takes its
whole process group. Logs: a dlxc component writes LOG_DIR/NAME.log itself through a size-rotated
handler (DLXC_LOG_FILE, see dlxc.cli.components), and what it prints outside logging (a crash at
start) goes to LOG_DIR/NAME.out; a program that cannot rotate its own log (etcd 3.4) writes
LOG_DIR/NAME.log through its output, which is rotated here at each start once it is too big.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

__all__ = ["LOG_BACKUPS", "LOG_MAX_BYTES", "Recorded", "Supervisor", "alive", "boot_id", "rotate", "start_time", "stop_order", "terminate", "wait_http"]

# Size-based rotation of every component log: 10 MiB, five old files kept (NAME.log.1 .. .5).
LOG_MAX_BYTES = 10 * 1024 * 1024
LOG_BACKUPS = 5


def stop_order(names: list[str]) -> list[str]:
    """Kubelets first, then controller, scheduler, apiserver, and the etcd members last."""
    rank = {"kubelet": 0, "controller": 1, "scheduler": 2, "apiserver": 3, "etcd": 4}
    return sorted(names, key=lambda n: (rank.get(n.split("-")[0], 0), n))


@dataclass(frozen=True)
class Recorded:
    """A process as spawned: its pid, and what tells it from a later process given the same pid
    (pids wrap, 32,768 by default, and pids.json outlives a crash or a reboot): the time it
    started, in clock ticks after boot (set at fork, so known as Popen returns), and the boot."""

    pid: int
    start: int | None = None
    boot: str | None = None

    def to_json(self) -> dict[str, object]:
        return {"pid": self.pid, "start": self.start, "boot": self.boot}

    @classmethod
    def from_json(cls, value: object) -> Recorded:
        if isinstance(value, int):  # written before start times were kept
            return cls(value)
        assert isinstance(value, dict)
        return cls(int(value["pid"]), value.get("start"), value.get("boot"))


def boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None


def _stat(pid: int) -> list[str]:
    """/proc/PID/stat after the command name: [state, ppid, ..., starttime (index 19), ...]."""
    return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()


def start_time(pid: int) -> int | None:
    try:
        return int(_stat(pid)[19])
    except (OSError, ValueError, IndexError):
        return None


def alive(pid: int, *, start: int | None = None, boot: str | None = None) -> bool:
    """Whether the process lives (with `start` and `boot`: that very process, not a later one with its pid)."""
    if boot is not None and boot != boot_id():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        # A zombie does not count, nor a kernel thread that took the pid over (no command line, child of kthreadd).
        # A process in the middle of its exec has no command line for a moment either: it counts (it did not, so a
        # wait for a component just spawned took it for dead).
        stat = _stat(pid)
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return False
    state, ppid = stat[:2]
    if state in ("Z", "X"):
        return False
    if start is not None and stat[19:20] != [str(start)]:
        return False  # the pid was handed to another process since
    return bool(cmdline) or ppid not in ("0", "2")


def rotate(path: Path, *, max_bytes: int = LOG_MAX_BYTES, backups: int = LOG_BACKUPS) -> bool:
    """PATH.1 .. PATH.N shifted up and PATH moved to PATH.1 when PATH is bigger than max_bytes."""
    try:
        if path.stat().st_size <= max_bytes:
            return False
    except FileNotFoundError:
        return False
    for index in range(backups - 1, 0, -1):
        older = path.with_name(f"{path.name}.{index}")
        if older.exists():
            older.replace(path.with_name(f"{path.name}.{index + 1}"))
    path.replace(path.with_name(f"{path.name}.1"))
    return True


def terminate(pid: int, *, grace: float = 10.0, start: int | None = None, boot: str | None = None) -> None:
    """SIGTERM the process group of pid, SIGKILL it after `grace` seconds (with `start` and `boot`:
    only while pid is still that process)."""
    if not alive(pid, start=start, boot=boot):
        return
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and alive(pid, start=start, boot=boot):
        time.sleep(0.05)
    if alive(pid, start=start, boot=boot):
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def wait_http(
    url: str, *, timeout: float, what: str, logs: Path, verify: object = True, abandon: Callable[[], str | None] = lambda: None,
) -> None:
    """Until URL answers 200; `abandon` says why to stop waiting early (a RuntimeError naming it), or None."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (reason := abandon()) is not None:
            raise RuntimeError(f"{what} did not come up: {reason}")
        try:
            if httpx.get(url, timeout=1.0, verify=verify).status_code == 200:  # type: ignore[arg-type]
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not come up within {timeout:.0f}s; see {logs}")


@dataclass
class Supervisor:
    """The processes recorded in pid_file, logging under log_dir, started in cwd."""

    pid_file: Path
    log_dir: Path
    cwd: Path

    def records(self) -> dict[str, Recorded]:
        try:
            raw = json.loads(self.pid_file.read_text())
            return {name: Recorded.from_json(value) for name, value in raw.items()}
        except (FileNotFoundError, ValueError, KeyError, TypeError, AssertionError):
            return {}

    def pids(self) -> dict[str, int]:
        return {name: record.pid for name, record in self.records().items()}

    def running(self) -> dict[str, int]:
        """The recorded processes that still live (not a later process that was given a recorded pid)."""
        return {name: r.pid for name, r in self.records().items() if alive(r.pid, start=r.start, boot=r.boot)}

    def _write(self, records: dict[str, Recorded]) -> None:
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        self.pid_file.write_text(json.dumps({name: record.to_json() for name, record in records.items()}))

    def spawn(self, name: str, args: list[str], env: dict[str, str], *, self_logging: bool = True) -> int:
        """Start args detached as NAME; `self_logging`: a dlxc component that rotates NAME.log itself."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        out = self.log_dir / f"{name}.out" if self_logging else self.log_dir / f"{name}.log"
        rotate(out)
        with out.open("ab") as sink:
            proc = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                env={**os.environ, **({"DLXC_LOG_FILE": str(self.log_dir / f"{name}.log")} if self_logging else {}), **env},
                start_new_session=True,  # outlives the command that started it; a stop takes its group
                cwd=self.cwd,
            )
        records = self.records()
        records[name] = Recorded(proc.pid, start_time(proc.pid), boot_id())
        self._write(records)
        return proc.pid

    def stop(self, names: list[str] | None = None) -> list[str]:
        """Stop the named processes (default: all), in stop_order; returns those that were running."""
        records = self.records()
        chosen = list(records) if names is None else [n for n in names if n in records]
        stopped = []
        for name in stop_order(chosen):
            r = records[name]
            if alive(r.pid, start=r.start, boot=r.boot):
                terminate(r.pid, start=r.start, boot=r.boot)
                stopped.append(name)
        if names is None:
            self.pid_file.unlink(missing_ok=True)
        else:
            self._write({k: v for k, v in records.items() if k not in chosen})
        return stopped
