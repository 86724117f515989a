"""The kubelet's systemd notifications: READY=1 after the first renewal, WATCHDOG=1 on every lease tick."""
from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from dlxc.client.errors import TemporaryError
from kubelet import sdnotify
from kubelet.lease import LeaseSettings, NodeLease


@pytest.fixture
def sock(tmp_path: Path) -> Iterator[socket.socket]:
    """What systemd listens on: a datagram socket at tmp_path/notify."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(tmp_path / "notify"))
        sock.setblocking(False)
        yield sock


def received(sock: socket.socket) -> list[str]:
    out = []
    while True:
        try:
            out.append(sock.recv(100).decode())
        except BlockingIOError:
            return out


def test_notify_sends_to_the_socket_and_is_silent_without_one(tmp_path: Path, sock: socket.socket) -> None:
    assert sdnotify.notify("WATCHDOG=1", env={"NOTIFY_SOCKET": str(tmp_path / "notify")}) is True
    assert received(sock) == ["WATCHDOG=1"]
    assert sdnotify.notify("WATCHDOG=1", env={}) is False
    assert sdnotify.notify("WATCHDOG=1", env={"NOTIFY_SOCKET": str(tmp_path / "nobody")}) is False


class Leases:
    """The renewal stream at the boundary: renewals succeed, or fail as an unreachable apiserver's do."""

    stalled = False

    def __init__(self, ok: bool) -> None:
        self.ok = ok

    async def renew(self, body: dict) -> dict:
        if not self.ok:
            raise TemporaryError("apiserver unreachable")
        return {"code": 200}

    async def close(self, *, move: bool = False) -> None:
        return None


@pytest.mark.parametrize(("ok", "expected"), [(True, ["READY=1", "WATCHDOG=1", "WATCHDOG=1"]), (False, ["WATCHDOG=1", "WATCHDOG=1"])],
                         ids=["renewing", "apiserver-down"])
def test_every_lease_tick_pings_the_watchdog(
    tmp_path: Path, sock: socket.socket, monkeypatch: pytest.MonkeyPatch, ok: bool, expected: list[str]
) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "notify"))

    async def noop() -> None:
        return None

    lease = NodeLease(None, "n1", LeaseSettings(renew_interval=0.05, fence_timeout=5.0), on_fence=noop, on_recover=noop,  # type: ignore[arg-type]
                      stream=Leases(ok))  # type: ignore[arg-type]

    async def two_ticks() -> None:
        task = asyncio.create_task(lease.run())
        await asyncio.sleep(0.075)
        task.cancel()

    asyncio.run(two_ticks())
    assert received(sock) == expected
