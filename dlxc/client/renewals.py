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
"""
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson

from dlxc.client.api import Client
from dlxc.client.errors import TemporaryError, error_from_response
from schemas.base import Obj, now_iso

__all__ = ["STAMP", "VERSION_HEADER", "RenewalStream"]

_END = b""
STALLED = 3  # unanswered renewals after which the stream is given up
VERSION_HEADER = "X-Dlxc-Renewals"  # in the answer's headers: the line versions the apiserver understands
STAMP = b"+\n"  # version 2: "renewed now", the stream's last acknowledged JSON renewal stamped by the apiserver


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

    @property
    def stalled(self) -> bool:
        return self.owed >= STALLED

    async def _body(self, outgoing: asyncio.Queue[bytes]) -> AsyncIterator[bytes]:
        while True:
            line = await outgoing.get()
            if line is _END:
                return
            yield line

    async def _open(self, first: bytes) -> None:
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
        assert self._response is not None
        while b"\n" not in self._pending:
            chunk = await self._response.content.readany()
            if not chunk:
                raise TemporaryError("the apiserver ended the renewal stream")
            self._pending += chunk
        line, self._pending = self._pending.split(b"\n", 1)
        return line

    def _send(self, line: bytes) -> None:
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
        if self._response is None:
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
        except (aiohttp.ClientError, asyncio.TimeoutError, TemporaryError, orjson.JSONDecodeError) as exc:
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
        self.owed = 0
        if request is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(request.__aexit__(None, None, None), 1.0)
        if transport is not None:
            # Closed with renewals still unsent (an apiserver that stopped reading), it would wait for
            # them to go out before closing its socket: for ever. Nothing else uses it (its body never ended).
            transport.abort()
        if move:
            self.client.next_server()
