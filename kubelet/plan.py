"""Working out what to do for one container: plan(desired, observed) -> actions, with no side effects."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from kubelet.lxcconfig import order_live_keys

__all__ = [
    "Action",
    "Create",
    "Desired",
    "Destroy",
    "Observed",
    "Reconfigure",
    "Restart",
    "SetCgroup",
    "Start",
    "Stop",
    "Unfreeze",
    "changed_keys",
    "plan",
]

Items = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Desired:
    """The container as its spec says it should be, with its LXC config already rendered."""

    name: str
    items: Items
    running: bool
    live_keys: frozenset[str]  # keys whose change can be applied to a running container's cgroups
    restart: bool = False  # a restart was asked for (dlxc restart): a running container goes down and up once


@dataclass(frozen=True)
class Observed:
    """The container as LXC has it."""

    name: str
    state: str  # RUNNING, STOPPED, FROZEN, ...
    items: Items
    init_pid: int = -1
    started: datetime | None = None  # when the running init started


@dataclass(frozen=True)
class Action:
    name: str


@dataclass(frozen=True)
class Create(Action):
    items: Items


@dataclass(frozen=True)
class Destroy(Action):
    pass


@dataclass(frozen=True)
class Reconfigure(Action):
    """Rewrite the config file; takes effect at the next start unless applied live too."""

    items: Items


@dataclass(frozen=True)
class SetCgroup(Action):
    key: str  # e.g. memory.limit_in_bytes (the part after lxc.cgroup. / lxc.cgroup2.)
    value: str


@dataclass(frozen=True)
class Start(Action):
    pass


@dataclass(frozen=True)
class Stop(Action):
    pass


@dataclass(frozen=True)
class Restart(Action):
    pass


@dataclass(frozen=True)
class Unfreeze(Action):
    pass


_ROOTFS = "lxc.rootfs.path"


def _as_dict(items: Items) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    for key, value in items:
        result.setdefault(key, []).append(value)
    return result


def changed_keys(desired: Items, observed: Items) -> set[str]:
    want, have = _as_dict(desired), _as_dict(observed)
    return {key for key in want.keys() | have.keys() if want.get(key) != have.get(key)}


def _cgroup_item(key: str) -> str:
    return key.split(".", 2)[2]  # lxc.cgroup.memory.limit_in_bytes -> memory.limit_in_bytes


def plan(desired: Desired | None, observed: Observed | None) -> list[Action]:
    """The actions that take observed to desired; [] when they already agree. Each is safe to repeat."""
    if desired is None:
        return [Destroy(observed.name)] if observed is not None else []
    name = desired.name
    if observed is None:
        return [Create(name, desired.items)] + ([Start(name)] if desired.running else [])

    actions: list[Action] = []
    running = observed.state in ("RUNNING", "FROZEN")
    changed = changed_keys(desired.items, observed.items)
    if _ROOTFS in changed:
        # Only an image change moves the rootfs; the old one is rebuilt from the new image.
        return [Destroy(name), Create(name, desired.items)] + ([Start(name)] if desired.running else [])
    if observed.state == "FROZEN":
        actions.append(Unfreeze(name))
    needs_restart = False
    if changed:
        actions.append(Reconfigure(name, desired.items))
        if running:
            live = {key for key in changed if key in desired.live_keys}
            wanted = dict(desired.items)
            for key in order_live_keys(live, observed.items, desired.items):
                if key in wanted:
                    actions.append(SetCgroup(name, _cgroup_item(key), wanted[key]))
                else:
                    needs_restart = True  # a limit was removed; only a restart drops it cleanly
            needs_restart = needs_restart or bool(changed - live)
    if desired.running:
        if not running:
            actions.append(Start(name))
        elif needs_restart or desired.restart:
            actions.append(Restart(name))
    elif running:
        actions.append(Stop(name))
    return actions
