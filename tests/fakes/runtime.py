"""An in-memory LXC runtime (kubelet.ports.Runtime) that records calls and can be told to fail, crash or drift.

For unit tests of the kubelet's reconcile logic only: the e2e tests run real LXC. A crash writes
the container's log line the way liblxc does at INFO level, so the kubelet reads the exit through
the same parser as on a real node.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

Item = tuple[str, str]

HALT_SIGNAL = 2  # how liblxc sees init end after a clean halt (lxc-stop, poweroff)


class FakeLxcError(RuntimeError):
    """What the fake raises when told to fail (as LxcRuntime raises LxcError)."""


@dataclass(frozen=True)
class Found:
    name: str
    state: str
    init_pid: int | None
    items: tuple[Item, ...]
    started: datetime | None


@dataclass
class FakeContainer:
    items: list[Item]
    state: str = "STOPPED"
    init_pid: int | None = None
    started: datetime | None = None
    log: str = ""
    managed: bool = True


def exit_line(*, pid: int = 4242, exit_code: int | None = None, signal: int | None = None) -> str:
    """The INFO line liblxc writes when init ends; nothing for a zero exit code (as liblxc)."""
    prefix = "lxc-start web 20261130 INFO     error - error.c:lxc_error_set_and_log:34 - "
    if signal is not None:
        return f"{prefix}Child <{pid}> ended on signal Sig({signal})\n"
    if exit_code:
        return f"{prefix}Child <{pid}> ended on error ({exit_code})\n"
    return ""


@dataclass
class FakeRuntime:
    containers: dict[str, FakeContainer] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)  # (method, name) of every action
    failures: dict[str, Exception] = field(default_factory=dict)  # method -> error raised on its next call
    clock: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    stubborn: set[str] = field(default_factory=set)  # containers whose init ignores the halt signal
    _next_pid: int = 1000

    # ---- telling it what happens ----

    def fail_next(self, method: str, message: str = "injected failure") -> None:
        self.failures[method] = FakeLxcError(message)

    def crash(self, name: str, *, exit_code: int | None = None, signal: int | None = None) -> None:
        """Init ends on its own, as the real exit_log would then report it."""
        c = self.containers[name]
        c.state, c.init_pid, c.started = "STOPPED", None, None
        c.log = exit_line(exit_code=exit_code, signal=signal)

    def drift(self, name: str, key: str, value: str | None) -> None:
        """Someone edits the config behind dlxc's back (value None: removes the key)."""
        c = self.containers[name]
        c.items = [(k, v) for k, v in c.items if k != key] + ([(key, value)] if value is not None else [])

    def add_foreign(self, name: str, items: list[Item], *, state: str = "RUNNING") -> None:
        """A container dlxc did not make (no dlxc config header)."""
        self.containers[name] = FakeContainer(items=list(items), managed=False)
        if state == "RUNNING":
            self._boot(self.containers[name])

    def actions(self, name: str | None = None) -> list[str]:
        return [method for method, n in self.calls if name is None or n == name]

    def _boot(self, c: FakeContainer) -> None:
        self._next_pid += 1
        # Start times move on with the real clock (the kubelet orders them against its own now).
        self.clock = max(datetime.now(timezone.utc), self.clock + timedelta(milliseconds=1))
        c.state, c.init_pid, c.started, c.log = "RUNNING", self._next_pid, self.clock, ""

    def _call(self, method: str, name: str) -> None:
        self.calls.append((method, name))
        error = self.failures.pop(method, None)
        if error is not None:
            raise error

    # ---- kubelet.ports.Runtime ----

    def names(self) -> list[str]:
        return sorted(self.containers)

    def states(self) -> dict[str, str]:
        return {name: c.state for name, c in sorted(self.containers.items())}

    def inspect(self, name: str) -> Found | None:
        c = self.containers.get(name)
        if c is None:
            return None
        return Found(name, c.state, c.init_pid, tuple(c.items), c.started)

    def config_items(self, name: str) -> list[Item] | None:
        c = self.containers.get(name)
        return list(c.items) if c is not None else None

    def managed(self, name: str) -> bool:
        c = self.containers.get(name)
        return c is not None and c.managed

    def exit_log(self, name: str) -> str:
        c = self.containers.get(name)
        return c.log if c else ""

    def create(self, name: str, items: list[Item]) -> None:
        self._call("create", name)
        if name in self.containers:
            self.containers[name].items = list(items)
        else:
            self.containers[name] = FakeContainer(items=list(items))

    def write_config(self, name: str, items: list[Item]) -> None:
        self._call("write_config", name)
        if name not in self.containers:
            raise FakeLxcError(f"container {name} does not exist; create it first")
        self.containers[name].items = list(items)
        self.containers[name].managed = True

    def set_cgroup(self, name: str, key: str, value: str) -> None:
        self._call("set_cgroup", name)
        if self.containers[name].state != "RUNNING":
            raise FakeLxcError(f"container {name} is not running; cgroup {key} cannot be set")

    def start(self, name: str, *, timeout: float = 30.0) -> None:
        self._call("start", name)
        c = self.containers.get(name)
        if c is None:
            raise FakeLxcError(f"container {name} does not exist; create it first")
        if c.state != "RUNNING":
            self._boot(c)

    def stop(self, name: str, *, timeout: float = 10.0) -> bool:
        self._call("stop", name)
        c = self.containers.get(name)
        if c is None or c.state not in ("RUNNING", "FROZEN"):
            return False
        killed = name in self.stubborn or timeout <= 0
        c.state, c.init_pid, c.started = "STOPPED", None, None
        c.log = exit_line(signal=9 if killed else HALT_SIGNAL)  # a clean halt looks like signal 2 in the log
        return killed

    def unfreeze(self, name: str) -> None:
        self._call("unfreeze", name)
        c = self.containers[name]
        if c.state == "FROZEN":
            c.state = "RUNNING"

    def destroy(self, name: str, *, timeout: float = 10.0) -> None:
        self._call("destroy", name)
        self.stop(name)
        self.calls.pop()  # the stop inside destroy is not a separate action
        self.containers.pop(name, None)
