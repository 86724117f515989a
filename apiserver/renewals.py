"""The renewal stream's server side: `POST .../leases/NAME/renewals`, one answer line per renewal line.

The body is NDJSON that never ends (see dlxc.client.renewals), one renewal per line, of two kinds:

- a JSON merge patch of the Lease, as a PATCH would carry (version 1, what every kubelet sends first);
- `+` (version 2): "renewed now", the last JSON line of this stream again with renewTime stamped
  by this apiserver. The answer says `X-Dlxc-Renewals: 2` in its headers so a kubelet knows it may
  send `+`; a kubelet that does not look (an older one) keeps sending JSON, answered as before.

At 5,000 nodes renewing every second the per-line cost is the whole cost, so a `+` of a node's
own Lease is a dictionary lookup and two clock readings (apiserver.heartbeats; renewTime is
formatted only when someone reads the Lease), the lines that came in one read are answered with
one write, and the route skips FastAPI's middleware stack (apiserver.app.ApiApp, as the plain
object routes do). Each answer is `{"code": 200, "resourceVersion": ...}` or an API error body.

Version 3: the kubelet asks for `Upgrade: dlxc-renewals/3` on a request without a body. Once the
request is authorized, this apiserver answers `101 Switching Protocols` itself and takes the
connection over from the HTTP server with a plain asyncio protocol (`Upgraded`): the same lines
in and out, with no HTTP framing left, and a `+` is answered inside `data_received` (no ASGI
receive()/send(), no task switch, no chunk framing: one read, one write). Lines that need an etcd
write go to a task, and the answers stay in order. An older apiserver ignores the Upgrade header
(uvicorn warns "Unsupported upgrade request.") and answers 200 to the empty request; the kubelet
then opens a version 2 stream. An older kubelet never asks and gets version 2 as before.
"""
from __future__ import annotations

import asyncio
import contextvars
import logging
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from apiserver.codec import dumps, loads
from apiserver.heartbeats import Heartbeats
from apiserver.registry import Registry
from dlxc.client.errors import ApiError, BadRequest
from schemas import Kind
from schemas.base import Obj, now_iso

__all__ = ["STAMP", "SWITCHED", "UPGRADE", "VERSION", "VERSION_HEADER", "RenewalStream", "Upgraded", "split_lines", "wants_upgrade"]

VERSION = b"2"  # what this apiserver understands on an HTTP stream: JSON lines (1) and `+` (2)
VERSION_HEADER = b"x-dlxc-renewals"
STAMP = b"+"  # a renewal line stamped by the apiserver
UPGRADE = b"dlxc-renewals/3"  # the Upgrade token of version 3: the same lines on the bare connection
SWITCHED = b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: %s\r\n%s: 3\r\n\r\n" % (UPGRADE, VERSION_HEADER)
log = logging.getLogger("dlxc.apiserver.renewals")

MAX_PENDING = 1 << 16  # bytes of an unfinished line an upgraded stream holds before it gives up on the peer


class _QuietUpgrades(logging.Filter):
    """uvicorn warns of every Upgrade other than websocket, after the route has taken the connection over."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != "Unsupported upgrade request."


def _quiet_upgrade_warnings() -> None:
    uvicorn_log = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _QuietUpgrades) for f in uvicorn_log.filters):
        uvicorn_log.addFilter(_QuietUpgrades())


def wants_upgrade(scope: Any) -> bool:
    """Whether the request asks for version 3: `Connection: Upgrade` and `Upgrade: dlxc-renewals/3`."""
    connection = upgrade = b""
    for key, value in scope.get("headers") or ():
        if key == b"connection":
            connection = value.lower()
        elif key == b"upgrade":
            upgrade = value.strip().lower()
    return upgrade == UPGRADE and b"upgrade" in [token.strip() for token in connection.split(b",")]


def _transport(send: Any) -> Any:
    """The connection under an ASGI send() of uvicorn's HTTP protocols (its cycle holds it), or None
    under any other server: then version 3 is not offered and the stream stays HTTP."""
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    return transport if transport is not None and hasattr(transport, "set_protocol") else None


def split_lines(pending: bytes, chunk: bytes) -> tuple[list[bytes], bytes]:
    """The complete lines of pending + chunk (blank ones dropped, \\r\\n too), and the rest after the last newline."""
    data = pending + chunk
    if b"\n" not in data:
        return [], data
    *lines, rest = data.split(b"\n")
    return [line.strip() for line in lines if line.strip()], rest


def ok_answer(obj: Obj) -> bytes:
    return b'{"code":200,"resourceVersion":"%s"}\n' % obj["metadata"]["resourceVersion"].encode()


class RenewalStream:
    """The route's ASGI app: authorized once, as a PATCH of the Lease; then every line answered in order."""

    def __init__(self, registry: Registry, heartbeats: Heartbeats, check: Any, kind: Kind) -> None:
        self.registry = registry
        self.heartbeats = heartbeats
        self.check = check
        self.kind = kind

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        name = scope["path_params"]["name"]
        try:
            await self.check(Request(scope, receive), "patch", self.kind, name, None)
        except ApiError as exc:
            await JSONResponse(exc.to_body(), status_code=exc.status)(scope, receive, send)
            return
        transport = _transport(send) if wants_upgrade(scope) else None
        if transport is not None and not transport.is_closing():
            await self.upgraded(transport, name)
            return
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/x-ndjson"), (VERSION_HEADER, VERSION)]})
        line_state = _Stream(name)
        pending = b""
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the kubelet went away
            lines, pending = split_lines(pending, message.get("body", b""))
            if lines:
                answers = [await self.answer(line_state, line) for line in lines]
                await send({"type": "http.response.body", "body": answers[0] if len(answers) == 1 else b"".join(answers), "more_body": True})
            if not message.get("more_body", False):
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return

    async def upgraded(self, transport: Any, name: str) -> None:
        """Version 3: answer 101 and serve the lines on the bare connection until it closes. The HTTP
        server's protocol is told when it closes (its bookkeeping of connections and tasks stays true)."""
        _quiet_upgrade_warnings()
        http = transport.get_protocol()
        done = asyncio.get_running_loop().create_future()
        transport.write(SWITCHED)
        # The request's context (its lease fence, if any) for the lines that need a write, as on HTTP.
        transport.set_protocol(Upgraded(self, _Stream(name), transport, http=http, done=done, context=contextvars.copy_context()))
        try:
            await done
        finally:
            if not transport.is_closing():
                transport.close()  # the server is stopping: its graceful timeout cancelled this

    def answer_now(self, stream: _Stream, line: bytes) -> bytes | None:
        """The answer to a `+` that needs no write (the node's Lease is renewed from memory), or None."""
        if line != STAMP or stream.template is None:
            return None
        try:
            return self.heartbeats.stamp(stream.name, stream.template)
        except ApiError as exc:
            return dumps(exc.to_body()) + b"\n"

    async def answer(self, stream: _Stream, line: bytes) -> bytes:
        """The answer line to one renewal line."""
        try:
            if line == STAMP:
                if stream.template is None:
                    raise BadRequest("a `+` renewal repeats the stream's last JSON renewal: send one first",
                                     details=[{"field": "body", "message": "`+` before any JSON renewal line"}])
                ok = self.heartbeats.stamp(stream.name, stream.template)
                if ok is not None:
                    return ok
                patch = {**stream.template, "spec": {**stream.template["spec"], "renewTime": now_iso()}}
            else:
                try:
                    patch = loads(line)
                except ValueError:
                    patch = None
                if not isinstance(patch, dict):
                    raise BadRequest("a renewal must be one JSON object per line, or `+`",
                                     details=[{"field": "body", "message": "must be NDJSON objects or `+`"}])
                stream.template = patch if isinstance(patch.get("spec"), dict) else None
                renewed = self.heartbeats.renew(stream.name, patch)
                if renewed is not None:
                    return ok_answer(renewed)
            with self.heartbeats.writing("leases", stream.name, patch) as attached:
                written = await self.registry.patch(stream.name, patch)
            if attached:
                self.heartbeats.wrote(written)
            return ok_answer(written)
        except ApiError as exc:
            return dumps(exc.to_body()) + b"\n"


class _Stream:
    """One open renewal stream: whose Lease, and the JSON renewal a `+` repeats."""

    __slots__ = ("name", "template")

    def __init__(self, name: str) -> None:
        self.name = name
        self.template: Obj | None = None


class Upgraded(asyncio.Protocol):
    """A version 3 stream: the connection after `101`, lines in, one answer line each, in order.

    A `+` renewed from memory is answered in `data_received`; the answers of one read go out in one
    write. A line that needs the registry (the first, JSON one; a `+` of a Lease not held here) is
    answered by a task, and every line after it waits in `backlog` until that task has answered it.
    """

    def __init__(self, stream: RenewalStream, state: _Stream, transport: Any, *, http: Any, done: asyncio.Future[None],
                 context: contextvars.Context) -> None:
        self.stream = stream
        self.state = state
        self.transport = transport
        self.http = http
        self.done = done
        self.context = context
        self.pending = b""
        self.backlog: list[bytes] | None = None  # lines waiting for the task that answers a write
        self.task: asyncio.Task[None] | None = None

    def data_received(self, data: bytes) -> None:
        lines, self.pending = split_lines(self.pending, data)
        if len(self.pending) > MAX_PENDING:
            self.transport.write(dumps(BadRequest("a renewal line is longer than 64 KiB").to_body()) + b"\n")
            self.transport.close()
            return
        if not lines:
            return
        if self.backlog is not None:
            self.backlog += lines
            return
        answers = []
        for index, line in enumerate(lines):
            answer = self.stream.answer_now(self.state, line)
            if answer is None:
                self.backlog = lines[index:]
                self.task = self.done.get_loop().create_task(self._answer_backlog(), context=self.context)
                break
            answers.append(answer)
        if answers:
            self.transport.write(answers[0] if len(answers) == 1 else b"".join(answers))

    async def _answer_backlog(self) -> None:
        backlog = self.backlog
        assert backlog is not None
        try:
            while backlog:
                line = backlog.pop(0)
                answer = self.stream.answer_now(self.state, line) or await self.stream.answer(self.state, line)
                if not self.transport.is_closing():
                    self.transport.write(answer)
        except Exception:
            # As an HTTP stream's app failing would: the connection ends, the kubelet opens another.
            log.exception("renewal stream of %s failed", self.state.name)
            self.transport.close()
        finally:
            self.backlog = None

    def eof_received(self) -> bool | None:
        return None  # close

    def connection_lost(self, exc: Exception | None) -> None:
        if self.task is not None:
            self.task.cancel()
        if not self.done.done():
            self.done.set_result(None)
        self.http.connection_lost(exc)
