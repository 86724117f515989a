"""A followed log in the page: the API's own log route (follow=1), called in-process, its text as server-sent events.

httpx's in-process transport reads a whole response before it returns, which a followed log never
ends; `stream_asgi` calls the API app itself and hands its body on chunk by chunk, and tells the
app the client left when the page's stream is closed (the browser left the tab), so the API's
request to the kubelet ends with it.
"""
from __future__ import annotations

import asyncio
import codecs
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from apiserver.ui.live import PING, sse
from dlxc.tasks import cancel_and_wait

__all__ = ["Streamed", "follow_log", "stream_asgi"]

KEEPALIVE = 15.0


@dataclass
class Streamed:
    status: int
    chunks: asyncio.Queue[bytes | None]
    task: asyncio.Task[None]
    left: asyncio.Event

    async def read_all(self) -> bytes:
        out = b""
        while (chunk := await self.chunks.get()) is not None:
            out += chunk
        return out

    async def close(self) -> None:
        self.left.set()
        await cancel_and_wait(self.task)


async def stream_asgi(app: Any, path: str, *, query: list[tuple[str, str]], token: str) -> Streamed:
    """GET `path` of the ASGI `app` as the bearer of `token`; returns once the response has started."""
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
        "path": path, "raw_path": path.encode(), "root_path": "", "query_string": urlencode(query).encode(),
        "headers": [(b"host", b"apiserver"), (b"authorization", f"Bearer {token}".encode())],
        "server": ("apiserver", 80), "client": ("127.0.0.1", 0),
    }
    started: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    chunks: asyncio.Queue[bytes | None] = asyncio.Queue()
    left = asyncio.Event()
    sent_request = False

    async def receive() -> dict[str, Any]:
        nonlocal sent_request
        if not sent_request:
            sent_request = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await left.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start" and not started.done():
            started.set_result(int(message["status"]))
        elif message["type"] == "http.response.body":
            if message.get("body"):
                chunks.put_nowait(message["body"])
            if not message.get("more_body", False):
                chunks.put_nowait(None)

    async def run() -> None:
        try:
            await app(scope, receive, send)
        except BaseException as exc:
            if not started.done():
                started.set_exception(exc)
            raise
        finally:
            chunks.put_nowait(None)

    task = asyncio.create_task(run())
    try:
        status = await started
    except BaseException:
        task.cancel()
        raise
    return Streamed(status, chunks, task, left)


async def follow_log(app: Any, path: str, *, token: str, tail: int) -> AsyncIterator[bytes]:
    """The log's last `tail` lines, then every new chunk, as `log` events (JSON strings, so no line
    break is lost); a `refused` event with the API's message when it refuses; pings while quiet."""
    got = await stream_asgi(app, path, query=[("follow", "1"), ("tail", str(tail))], token=token)
    try:
        if got.status != 200:
            body = (await got.read_all()).decode(errors="replace")
            try:
                message = json.loads(body).get("message") or body
            except (ValueError, AttributeError):
                message = body.strip() or f"the API answered {got.status}"
            yield sse("refused", json.dumps(message))
            return
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        yield sse("open", "")
        while True:
            try:
                chunk = await asyncio.wait_for(got.chunks.get(), KEEPALIVE)
            except TimeoutError:
                yield PING
                continue
            if chunk is None:
                yield sse("end", "")
                return
            text = decoder.decode(chunk)
            if text:
                yield sse("log", json.dumps(text))
    finally:
        await got.close()
