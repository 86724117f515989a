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
import json
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp.client_proto import ResponseHandler

__all__ = ["SESSIONS_PATH", "SESSIONS_PROTOCOL", "SESSION_END", "KeptSessions", "KubeletSession", "WarmConnector", "start_message"]

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


# ---- successive sessions over one kept WebSocket ----

# Must match kubelet.streams (the kubelet does not import the apiserver).
SESSIONS_PATH = "/sessions"
SESSIONS_PROTOCOL = "sessions.dlxc.io"
SESSION_END = '{"op":"end"}'


def start_message(subresource: str, name: str, params: list[tuple[str, str]]) -> str:
    """What starts one session on a kept WebSocket: the subresource, the container and the query the
    per-session endpoint (`/SUBRESOURCE/NAME?...`) would have had."""
    return json.dumps({"op": "start", "subresource": subresource, "name": name, "query": [list(pair) for pair in params]})


@dataclass(eq=False)
class _Idle:
    ws: aiohttp.ClientWebSocketResponse
    born: float
    watcher: asyncio.Task[None] | None = None


class KeptSessions:
    """WebSockets to kubelets' `/sessions` endpoint kept open between sessions, one session at a time each.

    A WebSocket per session costs a TLS handshake and an HTTP upgrade on both sides (most of the
    apiserver's and the kubelet's CPU for an `exec -- true`). Here a session that ended cleanly (the
    kubelet sent its end marker after the status) gives its WebSocket back; the next session to the
    same kubelet (same address and node name) takes it and only sends a start message. Concurrent
    sessions take different WebSockets: there is no multiplexing, so each session's flow control is
    its own TCP connection's, as before. A session that ends any other way (the client left, an
    error) closes its WebSocket, which is how the kubelet learns to hang it up.

    At most `keep` stay idle per kubelet; the rest close as their sessions end, so a burst of
    concurrent sessions leaves no pile of open connections. While idle, a watcher reads the WebSocket: it answers the kubelet's heartbeat pings and sees a
    kubelet that closes it (a restart, a stop), so a dead one is not handed out. An idle WebSocket
    is closed after `max_idle` seconds, and none is reused past `max_age` seconds from its
    handshake, so a re-issued kubelet certificate is checked again within that; `clear()` drops
    them all (the apiserver's own client certificate or CA changed)."""

    def __init__(self, *, keep: int = 2, max_idle: float = 30.0, max_age: float = 120.0) -> None:
        self.keep, self.max_idle, self.max_age = keep, max_idle, max_age
        self._idle: dict[Any, list[_Idle]] = {}
        self.reused = 0  # sessions that ran on a kept WebSocket

    def idle_count(self, key: Any = None) -> int:
        if key is not None:
            return len(self._idle.get(key, ()))
        return sum(len(entries) for entries in self._idle.values())

    async def take(self, key: Any) -> tuple[aiohttp.ClientWebSocketResponse, float] | None:
        """An idle WebSocket for `key` (the most recently used: few stay warm), with its handshake time."""
        entries = self._idle.get(key)
        now = time.monotonic()
        while entries:
            entry = entries.pop()
            if not entries:
                self._idle.pop(key, None)
            if entry.watcher is not None:
                entry.watcher.cancel()
                await asyncio.wait([entry.watcher])  # no other reader may be left on it
            if entry.ws.closed or now - entry.born > self.max_age:
                await entry.ws.close()
                continue
            self.reused += 1
            return entry.ws, entry.born
        return None

    def give_back(self, key: Any, ws: aiohttp.ClientWebSocketResponse, born: float) -> bool:
        """Keep `ws` for the next session to the same kubelet; False (and closed) when it is too old, or
        `keep` are idle already (after a burst of concurrent sessions only a few stay open)."""
        remaining = min(self.max_idle, born + self.max_age - time.monotonic())
        if ws.closed or remaining <= 0 or self.idle_count(key) >= self.keep:
            asyncio.get_running_loop().create_task(ws.close())
            return False
        entry = _Idle(ws, born)
        entry.watcher = asyncio.get_running_loop().create_task(self._watch(key, entry, remaining), name="kept-kubelet-session")
        self._idle.setdefault(key, []).append(entry)
        return True

    async def _watch(self, key: Any, entry: _Idle, remaining: float) -> None:
        """Until the session that takes it cancels this: anything the kubelet sends while idle is a
        close (or a protocol error); either way, and at the end of `remaining`, it is closed and dropped."""
        try:
            message = await entry.ws.receive(timeout=remaining)
            if message.type not in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING):
                log.warning("a kubelet sent %s on an idle kept session; closing it", message.type.name)
        except TimeoutError:
            pass
        entries = self._idle.get(key)
        if entries and entry in entries:
            entries.remove(entry)
            if not entries:
                self._idle.pop(key, None)
        await entry.ws.close()

    async def clear(self) -> None:
        """Close every idle WebSocket."""
        idle, self._idle = self._idle, {}
        for entries in idle.values():
            for entry in entries:
                if entry.watcher is not None:
                    entry.watcher.cancel()
                    await asyncio.wait([entry.watcher])
                await entry.ws.close()


class KubeletSession:
    """One exec or attach session with a kubelet, as `StreamProxy` splices it: `start()`, then
    `send_bytes` and messages by `async for` until the session ends, then `close()`. On a kept
    WebSocket `start()` sends the start message, the messages stop at the kubelet's end marker, and
    `close()` gives the WebSocket back when the session ended cleanly (else closes it, which hangs
    the session up); on a WebSocket of its own (a kubelet without `/sessions`) the upgrade was the
    start and the messages stop when it closes."""

    def __init__(
        self, ws: aiohttp.ClientWebSocketResponse, *, kept: KeptSessions | None = None, key: Any = None, born: float = 0.0,
        start: str | None = None,
    ) -> None:
        self.ws, self.kept, self.key, self.born, self._start = ws, kept, key, born, start
        self.ended = False  # the kubelet's end marker arrived: nothing of this session is left in flight from it
        self._closed = False

    async def start(self) -> None:
        """Run the session. On a kept WebSocket that broke while idle this fails (ConnectionError)
        before the kubelet could have read the start: the caller may take another."""
        if self._start is not None:
            try:
                await self.ws.send_str(self._start)
            except (aiohttp.ClientError, RuntimeError) as exc:
                await self.ws.close()
                raise ConnectionResetError(f"the kept connection to the kubelet broke: {exc}") from None
            self._start = None

    async def send_bytes(self, data: bytes) -> None:
        await self.ws.send_bytes(data)

    async def send_str(self, data: str) -> None:
        # On a kept WebSocket text is the control channel (start, end): a client's text frame is not
        # part of the v5 protocol (every channel is binary) and is never passed on there.
        if self.kept is None:
            await self.ws.send_str(data)

    def __aiter__(self) -> KubeletSession:
        return self

    async def __anext__(self) -> aiohttp.WSMessage:
        if self.ended:
            raise StopAsyncIteration
        message = await self.ws.receive()
        if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
            raise StopAsyncIteration
        if self.kept is not None and message.type == aiohttp.WSMsgType.TEXT:
            # The end marker; any other text is not this protocol, and close() then does not keep the socket.
            self.ended = message.data == SESSION_END
            raise StopAsyncIteration
        return message

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self.kept is not None and self.ended and not self.ws.closed:
            self.kept.give_back(self.key, self.ws, self.born)
            return
        await self.ws.close()
