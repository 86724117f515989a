"""The node's Linux bridge that containers' veth interfaces join, managed with iproute2."""
from __future__ import annotations

import ipaddress
import re
import subprocess
from pathlib import Path

__all__ = ["NetworkError", "bridge_exists", "delete_bridge", "ensure_bridge"]

_IFNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}\Z")


class NetworkError(RuntimeError):
    """An iproute2 command failed; the message carries its stderr."""


def _check_name(name: str) -> str:
    # The name reaches argv and /sys paths; the kernel's limit is 15 bytes.
    if not _IFNAME.match(name):
        raise ValueError(f"{name!r} is not a network interface name (1-15 of letters, digits, '_', '.', '-')")
    return name


def _ip(*args: str, tolerate: tuple[str, ...] = ()) -> None:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if result.returncode != 0 and not any(t in result.stderr for t in tolerate):
        raise NetworkError(f"ip {' '.join(args)}: {result.stderr.strip() or f'exit {result.returncode}'}")


def bridge_exists(name: str) -> bool:
    """Whether a bridge called `name` exists (an interface of another type does not count)."""
    return Path("/sys/class/net", _check_name(name), "bridge").is_dir()


def ensure_bridge(name: str, cidr: ipaddress.IPv4Interface) -> None:
    """Make the bridge `name` exist, hold the address `cidr` (the containers' gateway) and be up."""
    _check_name(name)
    if not isinstance(cidr, ipaddress.IPv4Interface):
        raise ValueError(f"cidr: expected an IPv4 interface such as 10.0.3.1/24, got {cidr!r}")
    if not bridge_exists(name):
        if Path("/sys/class/net", name).exists():
            raise NetworkError(f"interface {name} exists and is not a bridge")
        # Another agent may win the race between the check and the add; its bridge is as good as ours.
        _ip("link", "add", "name", name, "type", "bridge", tolerate=("File exists",))
    # replace, not add: re-running must not fail on an address that is already there.
    _ip("addr", "replace", cidr.with_prefixlen, "dev", name)
    _ip("link", "set", "dev", name, "up")


def delete_bridge(name: str) -> None:
    """Remove the bridge `name` if it exists; the veths of running containers on it go with it."""
    if bridge_exists(name):
        _ip("link", "del", "dev", name, tolerate=("Cannot find device",))
