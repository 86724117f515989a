"""Connections to kubelets' stream servers kept ready: a session's dial is then one HTTP round trip, not a handshake.

A WebSocket (exec, attach) consumes its connection for good, so aiohttp's keep-alive pool, which
serves plain requests (logs, archives, metrics), never has one ready for the next exec. The
`WarmConnector` keeps, per pool key (address, port, TLS context and the node name the kubelet's
certificate must carry), up to `spares` connections whose mutual-TLS handshake is already done:
a new connection takes one and a replacement is dialed in the background, off the session's path.

Why this is as safe as dialing each time: a spare was verified at its handshake exactly as a fresh
dial is (the cluster CA, the node's name; the kubelet checked our client certificate), and the key
includes the context and the node name, so a spare is only ever used for the node it was verified
as. A spare lives at most `max_idle` seconds, so a kubelet whose certificate was re-issued is dialed
anew soon even if it keeps old connections open; a kubelet that restarts closes its sockets, and a
closed spare is never handed out. A spare that dies between the check and its use fails the
request without the kubelet having read it; aiohttp retries an idempotent request (the upgrade is
a GET) once on a new connection (RFC 9112 §9.3.1), which is the redial.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp.client_proto import ResponseHandler

__all__ = ["WarmConnector"]

log = logging.getLogger("dlxc.apiserver.kubeletpool")


class WarmConnector(aiohttp.TCPConnector):
    """A TCPConnector that keeps `spares` handshaken connections per key; counts dials and reuses."""

    def __init__(self, *, spares: int = 1, max_idle: float = 30.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.spares = spares
        self.max_idle = max_idle
        self._spare: dict[Any, deque[tuple[ResponseHandler, float]]] = {}
        self._refilling: dict[Any, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.dialed = 0  # connections dialed on a session's path (no spare was ready)
        self.warmed = 0  # connections dialed ahead, as spares
        self.reused = 0  # spares handed to a session

    def spare_count(self, key: Any = None) -> int:
        """Spares ready now, for one key or all."""
        if key is not None:
            return len(self._spare.get(key, ()))
        return sum(len(queue) for queue in self._spare.values())

    def drop_spares(self) -> None:
        """Close every spare (the apiserver's own certificate or CA changed; they were made with the old one)."""
        for queue in self._spare.values():
            while queue:
                queue.popleft()[0].close()
        self._spare.clear()

    async def _create_connection(self, req: Any, traces: list[Any], timeout: aiohttp.ClientTimeout) -> ResponseHandler:
        key = req.connection_key
        proto = self._take(key)
        if proto is None:
            self.dialed += 1
            proto = await super()._create_connection(req, traces, timeout)
        else:
            self.reused += 1
        self._refill(key, lambda: super(WarmConnector, self)._create_connection(req, [], timeout))
        return proto

    def _take(self, key: Any) -> ResponseHandler | None:
        queue = self._spare.get(key)
        now = time.monotonic()
        while queue:
            proto, born = queue.popleft()
            if proto.is_connected() and now - born <= self.max_idle:
                return proto
            proto.close()  # the kubelet went away (restart), or it is too old to trust
        return None

    def _refill(self, key: Any, dial: Callable[[], Awaitable[ResponseHandler]]) -> None:
        if self.spares <= 0 or self._closed:
            return
        if self.spare_count(key) + self._refilling.get(key, 0) >= self.spares:
            return
        self._refilling[key] = self._refilling.get(key, 0) + 1

        async def warm() -> None:
            try:
                proto = await dial()
            except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
                log.debug("no spare connection to %s:%s: %s", key.host, key.port, exc)
                return
            finally:
                self._refilling[key] -= 1
                if not self._refilling[key]:
                    del self._refilling[key]
            if self._closed:
                proto.close()
                return
            self.warmed += 1
            self._spare.setdefault(key, deque()).append((proto, time.monotonic()))
            # Closed when it is too old to use, so an idle cluster holds no connection open.
            asyncio.get_running_loop().call_later(self.max_idle, self._expire, key, proto)

        task = asyncio.create_task(warm(), name=f"kubelet-spare-{key.host}:{key.port}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _expire(self, key: Any, proto: ResponseHandler) -> None:
        queue = self._spare.get(key)
        if queue is None:
            return
        for entry in list(queue):
            if entry[0] is proto:
                queue.remove(entry)
                proto.close()
        if not queue:
            self._spare.pop(key, None)

    def _close(self, *args: Any, **kwargs: Any) -> Any:
        # aiohttp's own close path (its signature changed across 3.x: passed through as is).
        for task in self._tasks:
            task.cancel()
        self.drop_spares()
        return super()._close(*args, **kwargs)
