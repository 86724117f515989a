"""systemd's notify protocol, the few lines of it the kubelet needs: READY=1 and WATCHDOG=1 to $NOTIFY_SOCKET.

Why: a kubelet that hangs while its host and containers live cannot fence them; under the
dlxc-agent unit's `WatchdogSec=` (below the fence timeout) systemd kills and restarts a kubelet
that stopped pinging. Without $NOTIFY_SOCKET (not under systemd) every call does nothing.
"""
from __future__ import annotations

import os
import socket
from collections.abc import Mapping

__all__ = ["enabled", "notify"]


def enabled(*, env: Mapping[str, str] | None = None) -> bool:
    """Whether there is a $NOTIFY_SOCKET to notify (systemd sets it before the process starts)."""
    return bool((env if env is not None else os.environ).get("NOTIFY_SOCKET"))


def notify(message: str, *, env: Mapping[str, str] | None = None) -> bool:
    """Send one datagram such as "WATCHDOG=1" to $NOTIFY_SOCKET; whether there was one to send to."""
    address = (env if env is not None else os.environ).get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):  # an abstract socket
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(address)
            sock.sendall(message.encode())
        except OSError:
            return False
    return True
