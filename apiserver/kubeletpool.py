"""WebSockets to kubelets' stream servers kept between exec and attach sessions, and one ready ahead.

A WebSocket per session cost a TLS handshake and an HTTP upgrade on both sides, which was most of
the apiserver's and the kubelet's CPU for an `exec -- true` and a few ms of its latency. Instead the
apiserver opens WebSockets to a kubelet's `/sessions` endpoint and runs successive sessions on each,
one at a time (no multiplexing: each session's flow control is its own TCP connection's, as with a
WebSocket per session). A session is a text start message (the subresource, the container and the
query `/exec/NAME` would take), the `v5.channel.k8s.io` binary channels, then the kubelet's text
end marker after the status. A session that ended cleanly gives its WebSocket back; one that ended
any other way (the client left, an error) closes it, which is how the kubelet learns to hang it up.

Per kubelet (pool key: the endpoint's URL and the node name its certificate must carry) up to
`keep` WebSockets stay idle, and when a session takes the last one another is dialed in the
background, so the next session finds its handshake done. Why this is as safe as dialing each
time: each WebSocket was verified at its handshake exactly as a fresh dial is (the cluster CA, the
node's name; the kubelet checked our client certificate), and is only used for the key it was
verified for. While idle, a watcher reads it: it answers the kubelet's heartbeats and sees a kubelet
that closes it (a restart, a stop), so a dead one is not handed out. An idle one closes after
`max_idle` seconds, and none is used past `max_age` seconds from its handshake, so a re-issued
kubelet certificate is checked again within that; `clear()` drops them all (the apiserver's own
certificate or CA changed). Only public aiohttp API: `ClientSession.ws_connect` and the WebSocket.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from dlxc.tasks import cancel_and_wait

__all__ = ["SESSIONS_PATH", "SESSIONS_PROTOCOL", "SESSION_END", "KeptSessions", "KubeletSession", "start_message"]

log = logging.getLogger("dlxc.apiserver.kubeletpool")


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
    """Idle WebSockets to kubelets' `/sessions` by pool key (see the module's docstring); counts what it did."""

    def __init__(self, *, keep: int = 2, max_idle: float = 30.0, max_age: float = 120.0) -> None:
        self.keep, self.max_idle, self.max_age = keep, max_idle, max_age
        self._idle: dict[Any, list[_Idle]] = {}
        self._dialing: set[Any] = set()
        self._tasks: set[asyncio.Task[None]] = set()  # every task started here, until done
        self._dials: set[asyncio.Task[None]] = set()  # of them, the dials ahead
        self.reused = 0  # sessions that ran on a WebSocket dialed before them
        self.warmed = 0  # WebSockets dialed ahead, in the background

    def idle_count(self, key: Any = None) -> int:
        if key is not None:
            return len(self._idle.get(key, ()))
        return sum(len(entries) for entries in self._idle.values())

    def take(self, key: Any) -> _Idle | None:
        """An idle WebSocket for `key` (the most recently used: few stay warm). Its watcher is cancelled,
        not waited for, so the start goes out at once: the session waits for it before its first read."""
        entries = self._idle.get(key)
        now = time.monotonic()
        while entries:
            entry = entries.pop()
            if not entries:
                self._idle.pop(key, None)
            if entry.watcher is not None:
                entry.watcher.cancel()
            if entry.ws.closed or now - entry.born > self.max_age:
                self._spawn(entry.ws.close())
                continue
            self.reused += 1
            return entry
        return None

    def give_back(self, key: Any, ws: aiohttp.ClientWebSocketResponse, born: float) -> bool:
        """Keep `ws` for the next session to the same kubelet; False (and closed) when it is too old, or
        `keep` are idle already (after a burst of concurrent sessions only a few stay open)."""
        remaining = min(self.max_idle, born + self.max_age - time.monotonic())
        if ws.closed or remaining <= 0 or self.idle_count(key) >= self.keep:
            self._spawn(ws.close())
            return False
        entry = _Idle(ws, born)
        entry.watcher = self._spawn(self._watch(key, entry, remaining))
        self._idle.setdefault(key, []).append(entry)
        return True

    def refill(self, key: Any, dial: Callable[[], Awaitable[aiohttp.ClientWebSocketResponse]]) -> None:
        """When none is idle for `key`, dial one in the background (off any session's path) and keep it."""
        if self.idle_count(key) or key in self._dialing:
            return
        self._dialing.add(key)

        async def warm() -> None:
            try:
                ws = await dial()
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                log.debug("no ready connection to the kubelet at %s: %s", key[0], exc)
                return
            finally:
                self._dialing.discard(key)
            self.warmed += 1
            self.give_back(key, ws, time.monotonic())

        self._dials.add(self._spawn(warm()))
        self._dials = {task for task in self._dials if not task.done()}

    def _spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        """A task held until it is done (the loop keeps only a weak reference)."""
        task = asyncio.get_running_loop().create_task(coro)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

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

    async def clear(self, *, closing: bool = False) -> None:
        """Close every idle WebSocket; with `closing` (the apiserver stops) the dials ahead first, and
        wait for the closes under way, so no socket is left to the garbage collector."""
        if closing:
            await cancel_and_wait(*self._dials)
        idle, self._idle = self._idle, {}
        for entries in idle.values():
            for entry in entries:
                await cancel_and_wait(entry.watcher)
                await entry.ws.close()
        if closing:
            await asyncio.gather(*self._tasks, return_exceptions=True)


class KubeletSession:
    """One exec or attach session with a kubelet, as `StreamProxy` splices it: `start()`, then
    `send_bytes` and messages by `async for` until the session ends, then `close()`. On a kept
    WebSocket `start()` sends the start message, the messages stop at the kubelet's end marker, and
    `close()` gives the WebSocket back when the session ended cleanly (else closes it, which hangs
    the session up); on a WebSocket of its own (a kubelet without `/sessions`) the upgrade was the
    start and the messages stop when it closes."""

    def __init__(
        self, ws: aiohttp.ClientWebSocketResponse, *, kept: KeptSessions | None = None, key: Any = None, born: float = 0.0,
        start: str | None = None, watcher: asyncio.Task[None] | None = None,
    ) -> None:
        self.ws, self.kept, self.key, self.born, self._start = ws, kept, key, born, start
        self._watcher = watcher  # the idle watcher, cancelled: done before anything here reads
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
        await self._reader_free()
        message = await self.ws.receive()
        if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
            raise StopAsyncIteration
        if self.kept is not None and message.type == aiohttp.WSMsgType.TEXT:
            # The end marker; any other text is not this protocol, and close() then does not keep the socket.
            self.ended = message.data == SESSION_END
            raise StopAsyncIteration
        return message

    async def _reader_free(self) -> None:
        if self._watcher is not None:
            await asyncio.wait([self._watcher])
            self._watcher = None

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._reader_free()
        if self.kept is not None and self.ended and not self.ws.closed:
            self.kept.give_back(self.key, self.ws, self.born)
            return
        await self.ws.close()
