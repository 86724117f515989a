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
"""
from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from apiserver.codec import dumps, loads
from apiserver.heartbeats import Heartbeats
from apiserver.registry import Registry
from dlxc.client.errors import ApiError, BadRequest
from schemas import Kind
from schemas.base import Obj, now_iso

__all__ = ["STAMP", "VERSION", "VERSION_HEADER", "RenewalStream", "split_lines"]

VERSION = b"2"  # what this apiserver understands: JSON lines (1) and `+` (2)
VERSION_HEADER = b"x-dlxc-renewals"
STAMP = b"+"  # a renewal line stamped by the apiserver


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
