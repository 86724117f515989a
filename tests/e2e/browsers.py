"""Debian's chromium under Playwright for the browser tests (and `bench/ui.py --browser-netns`), in a
network namespace of its own.

Chromium watches the machine's addresses and links (netlink) and fails every connection it is making
when one changes, with net::ERR_NETWORK_CHANGED. Other tests of the same run make bridges, veths
and namespaces all the time, so a page load could fail for nothing the test did (seen in CI). In a
namespace of its own chromium sees only its own loopback, which never changes. An nftables rule
there sends every connection to 127.0.0.1 to one port, where `LoopbackForwarder` (threads of this
process) accepts it, reads where it was going (SO_ORIGINAL_DST) and connects to the same port on
the machine's loopback. Transparent: pages keep their http(s)://127.0.0.1:PORT addresses, TLS and
WebSockets pass through as bytes, and nothing leaves loopback.
"""
from __future__ import annotations

import contextlib
import ctypes
import secrets
import socket
import struct
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["CHROMIUM", "LoopbackForwarder", "chromium"]

CHROMIUM = Path("/usr/bin/chromium")
CLONE_NEWNET = 0x40000000
SO_ORIGINAL_DST = 80  # linux/netfilter_ipv4.h: where a redirected connection was going


def _setns(fd: int) -> None:
    if ctypes.CDLL(None, use_errno=True).setns(fd, CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "setns(CLONE_NEWNET) failed")


def listen_in(netns: str) -> socket.socket:
    """A TCP socket listening on 127.0.0.1 of the named namespace: only this thread enters it, for the
    socket() call (a socket stays in the namespace it was made in), and comes straight back."""
    with open("/proc/thread-self/ns/net") as home, open(f"/run/netns/{netns}") as there:
        _setns(there.fileno())
        try:
            return socket.create_server(("127.0.0.1", 0))
        finally:
            _setns(home.fileno())


def _pump(source: socket.socket, sink: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)


class LoopbackForwarder:
    """Connections redirected to `listener` (in chromium's namespace) go on to the same port of this
    process's loopback, byte for byte."""

    def __init__(self, listener: socket.socket) -> None:
        self.listener = listener
        self.port: int = listener.getsockname()[1]
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, name="browser-forwarder", daemon=True).start()

    def close(self) -> None:
        self.listener.close()
        with self._lock:
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:  # closed
                return
            threading.Thread(target=self._forward, args=(client,), daemon=True).start()

    def _forward(self, client: socket.socket) -> None:
        with client:
            _, port, address = struct.unpack("!HH4s8x", client.getsockopt(socket.SOL_IP, SO_ORIGINAL_DST, 16))
            if socket.inet_ntoa(address) != "127.0.0.1":  # the rule redirects nothing else: traffic stays home
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", port), timeout=10)
            except OSError:
                return  # as a refused connection would
            with upstream:
                upstream.settimeout(None)
                with self._lock:
                    self._open.update((client, upstream))
                try:
                    back = threading.Thread(target=_pump, args=(upstream, client), daemon=True)
                    back.start()
                    _pump(client, upstream)
                    back.join()
                finally:
                    with self._lock:
                        self._open.difference_update((client, upstream))


def _redirect_rules(port: int) -> str:
    return f"""table ip browser {{
    chain out {{
        type nat hook output priority -100; policy accept;
        ip daddr 127.0.0.1 tcp dport != {port} redirect to :{port}
    }}
}}
"""


@contextlib.contextmanager
def chromium(playwright: Any) -> Iterator[Any]:
    """A headless chromium (Debian's package; never `playwright install`) in a namespace of its own
    whose loopback leads to the machine's; the namespace, forwarder and browser are gone after."""
    if not CHROMIUM.exists():
        raise FileNotFoundError(f"{CHROMIUM} is missing: `make deps` installs Debian's chromium package")
    netns = f"dtbrowser-{secrets.token_hex(4)}"  # random: xdist workers run browsers at once
    subprocess.run(["ip", "netns", "add", netns], check=True)
    forwarder = None
    try:
        subprocess.run(["ip", "-n", netns, "link", "set", "lo", "up"], check=True)
        forwarder = LoopbackForwarder(listen_in(netns))
        subprocess.run(["ip", "netns", "exec", netns, "nft", "-f", "-"], input=_redirect_rules(forwarder.port),
                       text=True, check=True)
        with tempfile.TemporaryDirectory(prefix="dlxc-browser-") as tmp:
            wrapper = Path(tmp, "chromium")
            wrapper.write_text(f'#!/bin/sh\nexec ip netns exec {netns} {CHROMIUM} "$@"\n')
            wrapper.chmod(0o755)
            browser = playwright.chromium.launch(executable_path=str(wrapper), args=["--no-sandbox"], headless=True)
            try:
                yield browser
            finally:
                browser.close()
    finally:
        if forwarder is not None:
            forwarder.close()
        subprocess.run(["ip", "netns", "del", netns], check=False)
