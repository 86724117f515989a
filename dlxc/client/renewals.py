"""A node Lease renewed over one long request: a line sent per renewal, a line back per answer.

A renewal as its own HTTP request costs the apiserver (and a process of hollow nodes) far more
than the renewal itself; at 5,000 nodes renewing every second that was more than the machine had.
Here the kubelet opens `POST .../leases/NAME/renewals` once, with a chunked body that never ends,
and writes the same merge patch a PATCH would carry as one NDJSON line per renewal; the apiserver
answers each line, in order, with one line: `{"code": 200, "resourceVersion": ...}` or an API error
body. A renewal that gets no answer in time has failed, but the stream stays: its late answer is
skipped when it comes (answers are in order). Only a stream owing `STALLED` answers is closed, and
the next renewal opens a new one on the next apiserver: a hiccup of a second must not make
thousands of kubelets reconnect at once, which would make the next hiccup longer.

Version 2 (the answer's `X-Dlxc-Renewals: 2` header; apiserver.renewals): once a JSON renewal was
acknowledged on the stream, a renewal that differs from it only by renewTime is sent as the line
`+`, and the apiserver stamps renewTime itself; an apiserver that does not say so gets JSON lines
only. The lines after the first are written to the connection as chunks directly (not through
aiohttp's body writer, a task switch and a queue per renewal), and an answer equal to the last
good one is not decoded again: at thousands of nodes per process every step per renewal counts.

Version 3 (apiserver.renewals): the stream is opened with `Upgrade: dlxc-renewals/3` on a request
without a body, on a connection of its own (`_Connection`, a plain asyncio protocol, not aiohttp's
machinery: its parser, stream reader and body writer per renewal were most of this side's cost).
After `101 Switching Protocols` the same lines go both ways with no HTTP framing: a renewal is one
write of `+\n`, its answer one read. An apiserver that answers anything else below 400 (an older
one: it ignores the Upgrade header) gets a version 2 stream on aiohttp instead, as before.
"""
from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson

from dlxc.client.api import Client
from dlxc.client.errors import TemporaryError, error_from_response
from schemas.base import Obj, now_iso

__all__ = ["STAMP", "UPGRADE", "VERSION_HEADER", "RenewalStream"]

_END = b""
STALLED = 3  # unanswered renewals after which the stream is given up
VERSION_HEADER = "X-Dlxc-Renewals"  # in the answer's headers: the line versions the apiserver understands
STAMP = b"+\n"  # version 2: "renewed now", the stream's last acknowledged JSON renewal stamped by the apiserver
UPGRADE = "dlxc-renewals/3"  # version 3: the same lines on the bare connection, after 101
MAX_HEAD = 1 << 16  # bytes of an answer's status line and headers (and of an error body) read at most


class _Connection(asyncio.Protocol):
    """A version 3 stream's connection: the answer's head, then lines. `wait()` until there is news."""

    def __init__(self, loop: asyncio.AbstractEventLoop, owner: set[asyncio.BaseTransport]) -> None:
        self.loop = loop
        self.owner = owner  # the client's set of such connections, closed with it
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.closed: BaseException | None = None  # why the connection ended, once it has
        self.waiter: asyncio.Future[None] | None = None
        self.lost: asyncio.Future[None] = loop.create_future()  # done when the connection has ended

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.owner.add(transport)

    def data_received(self, data: bytes) -> None:
        self.buffer = self.buffer + data if self.buffer else data
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def eof_received(self) -> bool | None:
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.owner.discard(self.transport)  # type: ignore[arg-type]
        self.closed = exc or ConnectionResetError("the apiserver closed the connection")
        if not self.lost.done():
            self.lost.set_result(None)
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def wait(self) -> None:
        """Until more bytes came or the connection ended (then raise why)."""
        if self.closed is not None:
            raise self.closed
        self.waiter = self.loop.create_future()
        try:
            await self.waiter
        finally:
            self.waiter = None
        if self.closed is not None and b"\n" not in self.buffer:
            raise self.closed

    async def head(self) -> tuple[int, dict[str, str]]:
        """The answer's status code and headers (lower-case names); the bytes after them stay in buffer."""
        while b"\r\n\r\n" not in self.buffer:
            if len(self.buffer) > MAX_HEAD:
                raise ValueError("the answer's headers are too long")
            await self.wait()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        status, *fields = head.decode("latin-1").split("\r\n")
        headers = {}
        for field in fields:
            key, _, value = field.partition(":")
            headers[key.strip().lower()] = value.strip()
        return int(status.split(" ", 2)[1]), headers

    async def body(self, headers: dict[str, str]) -> bytes:
        """An error answer's body (Content-Length; up to the connection's end otherwise)."""
        length = int(headers.get("content-length", MAX_HEAD))
        with contextlib.suppress(ConnectionError):
            while len(self.buffer) < min(length, MAX_HEAD):
                await self.wait()
        return self.buffer[:length]

    async def close(self) -> None:
        """Close, and wait for it a second at most (a TLS close waits for the peer's answer): then cut."""
        if self.transport is None:
            return
        self.owner.discard(self.transport)
        self.transport.close()
        try:
            await asyncio.wait_for(asyncio.shield(self.lost), 1.0)
        except asyncio.TimeoutError:
            self.transport.abort()


def _json_line(spec: Obj) -> bytes:
    """A renewal as version 1 sends it: the merge patch of spec, renewTime the kubelet's now."""
    return orjson.dumps({"spec": {**spec, "renewTime": now_iso()}}) + b"\n"


class RenewalStream:
    def __init__(self, client: Client, name: str) -> None:
        self.client = client
        self.name = name
        self._outgoing: asyncio.Queue[bytes] | None = None
        self._response: aiohttp.ClientResponse | None = None
        self._request: Any = None
        self._pending = b""
        self.owed = 0  # renewals sent whose answers have not been read yet
        self._transport: asyncio.Transport | None = None  # the connection, for lines after the first
        self._stamps = False  # the apiserver understands `+`
        self._shape: Obj | None = None  # the spec of the last acknowledged JSON renewal
        self._good = b""  # the last good answer line, and what it decoded to
        self._good_answer: Obj = {}
        self._connection: _Connection | None = None  # a version 3 stream's (no aiohttp then)

    @property
    def stalled(self) -> bool:
        return self.owed >= STALLED

    async def _body(self, outgoing: asyncio.Queue[bytes]) -> AsyncIterator[bytes]:
        while True:
            line = await outgoing.get()
            if line is _END:
                return
            yield line

    def _request_head(self, server: str) -> bytes:
        url = urlsplit(server)
        path = f"{url.path.rstrip('/')}{self.client.path('leases', self.name)}/renewals"
        fields = {"Host": url.netloc, **self.client.headers, "Connection": "Upgrade", "Upgrade": UPGRADE, "Content-Length": "0"}
        return (f"POST {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields.items()) + "\r\n").encode("latin-1")

    async def _upgrade(self) -> bool:
        """Open a version 3 stream; False when the apiserver does not upgrade (an older one)."""
        server = self.client.server
        url = urlsplit(server)
        context: ssl.SSLContext | None = None
        if url.scheme == "https":
            context = self.client.ssl if isinstance(self.client.ssl, ssl.SSLContext) else ssl.create_default_context()
        loop = asyncio.get_running_loop()
        connection: _Connection | None = None
        try:
            _, connection = await asyncio.wait_for(loop.create_connection(
                lambda: _Connection(loop, self.client.upgraded), url.hostname, url.port or (443 if context else 80), ssl=context,
                server_hostname=url.hostname if context else None,
            ), 5.0)
            assert connection.transport is not None
            connection.transport.write(self._request_head(server))
            status, headers = await connection.head()
            if status == 101 and headers.get("upgrade", "").lower() == UPGRADE:
                self._connection, connection = connection, None
                return True
            if status < 400:
                return False
            body = await connection.body(headers)
        except (OSError, ValueError, asyncio.TimeoutError, ssl.SSLError) as exc:
            self.client.next_server()
            raise TemporaryError(f"cannot open the renewal stream at {server}: {exc or type(exc).__name__}") from exc
        finally:
            if connection is not None and connection.transport is not None:
                self.client.upgraded.discard(connection.transport)
                connection.transport.abort()  # not upgraded: nothing more to say on it
        try:
            answer = orjson.loads(body) if body else None
        except orjson.JSONDecodeError:
            answer = None
        raise error_from_response(status, answer)

    async def _open(self, first: bytes) -> None:
        self._pending = b""
        self.owed = 0
        self._shape = None
        self._good = b""
        if await self._upgrade():
            self._stamps = True
            self._connection.transport.write(first)  # type: ignore[union-attr]
            return
        # aiohttp sends the request's headers with the first chunk of its body: the first renewal
        # must be queued before the answer's headers can come.
        self._outgoing = asyncio.Queue()
        self._outgoing.put_nowait(first)
        server = self.client.server
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=5.0, sock_read=None)
        self._request = self.client.streams().post(
            f"{server}{self.client.path('leases', self.name)}/renewals", data=self._body(self._outgoing),
            headers={"Content-Type": "application/x-ndjson"}, timeout=timeout,
        )
        try:
            response = await self._request.__aenter__()
        except asyncio.CancelledError:
            self._request = self._outgoing = None  # timed out while connecting: start afresh next time
            raise
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            self._request = self._outgoing = None
            self.client.next_server()
            raise TemporaryError(f"cannot open the renewal stream at {server}: {exc or type(exc).__name__}") from exc
        if response.status >= 400:
            body = await response.read()
            await self.close()
            raise error_from_response(response.status, orjson.loads(body) if body else None)
        self._response = response
        self._pending = b""
        self.owed = 0
        connection = response.connection
        self._transport = connection.transport if connection is not None else None  # uvloop's is no asyncio.Transport subclass
        self._stamps = response.headers.get(VERSION_HEADER, "").strip() == "2"
        self._shape = None
        self._good = b""

    async def _answer(self) -> bytes:
        connection = self._connection
        if connection is not None:
            while b"\n" not in connection.buffer:
                await connection.wait()
            line, connection.buffer = connection.buffer.split(b"\n", 1)
            return line
        assert self._response is not None
        while b"\n" not in self._pending:
            chunk = await self._response.content.readany()
            if not chunk:
                raise TemporaryError("the apiserver ended the renewal stream")
            self._pending += chunk
        line, self._pending = self._pending.split(b"\n", 1)
        return line

    def _send(self, line: bytes) -> None:
        if self._connection is not None:
            if self._connection.transport is not None:
                self._connection.transport.write(line)
            return
        transport = self._transport
        if transport is not None and not transport.is_closing():
            transport.write(b"%x\r\n%s\r\n" % (len(line), line))  # one chunk of the chunked body
        else:
            assert self._outgoing is not None
            self._outgoing.put_nowait(line)

    async def renew(self, spec: Obj) -> Obj:
        """Renew the Lease with `spec` (holder, duration; renewTime is now) and wait for the answer:
        {"code": 200, ...}, or raise the API error. `+` when it is the spec last acknowledged."""
        sent: Obj | None = None  # a JSON renewal's spec: what a `+` repeats once it is acknowledged
        if self._response is None and self._connection is None:
            sent = dict(spec)
            await self._open(_json_line(spec))
        elif self._stamps and spec == self._shape:
            self._send(STAMP)
        else:
            sent = dict(spec)
            # The apiserver repeats this line from now on, even if its answer never comes: no `+`
            # until it is acknowledged.
            self._shape = None
            self._send(_json_line(spec))
        self.owed += 1
        try:
            while True:  # the answers of earlier renewals that timed out come first
                raw = await self._answer()
                self.owed -= 1
                if self.owed == 0:
                    break
            answer = self._good_answer if raw == self._good else orjson.loads(raw)
        except (aiohttp.ClientError, asyncio.TimeoutError, TemporaryError, orjson.JSONDecodeError, OSError) as exc:
            await self.close()
            raise TemporaryError(f"renewal stream broke: {exc or type(exc).__name__}") from exc
        if answer.get("code", 500) >= 400:
            self._shape = None  # JSON again, until one is acknowledged
            raise error_from_response(answer["code"], answer)
        if sent is not None:
            self._shape = sent
        self._good, self._good_answer = raw, answer
        return answer

    async def close(self, *, move: bool = False) -> None:
        """End the stream (the next renewal opens a new one; with move, on the next apiserver)."""
        if self._outgoing is not None:
            self._outgoing.put_nowait(_END)
        request, self._request, self._response, self._outgoing = self._request, None, None, None
        transport, self._transport = self._transport, None
        connection, self._connection = self._connection, None
        stalled, self.owed = self.stalled, 0
        if request is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(request.__aexit__(None, None, None), 1.0)
        if transport is not None:
            # Closed with renewals still unsent (an apiserver that stopped reading), it would wait for
            # them to go out before closing its socket: for ever. Nothing else uses it (its body never ended).
            transport.abort()
        if connection is not None:
            if stalled and connection.transport is not None:
                # No answers for several renewals: a TLS close would wait for the apiserver's answer too.
                self.client.upgraded.discard(connection.transport)
                connection.transport.abort()
            else:
                await connection.close()
        if move:
            self.client.next_server()
