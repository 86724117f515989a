"""apiserver.ui.follow: the logs tab's stream of an in-process, never-ending API response, and its end when the tab is left."""
from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from apiserver.ui.follow import follow_log


def log_app(ended: asyncio.Event, seen: list[tuple[str, str]]) -> Starlette:
    """A log route that sends two chunks (a line split inside a UTF-8 character) then waits, like a followed log."""

    async def log(request: Request) -> Response:
        seen.append((request.headers.get("authorization", ""), str(request.query_params)))
        if request.headers.get("authorization") != "Bearer good":
            return JSONResponse({"message": "viewer may not get containers/x/log"}, status_code=403)

        async def body() -> AsyncIterator[bytes]:
            try:
                yield "first line\nsecond ".encode() + "é".encode()[:1]
                yield "é".encode()[1:] + b"\n"
                await asyncio.Event().wait()
            finally:
                ended.set()

        return StreamingResponse(body(), media_type="text/plain")

    return Starlette(routes=[Route("/apis/v1/containers/x/log", log)])


def events(raw: list[bytes]) -> list[tuple[str, str]]:
    out = []
    for chunk in raw:
        text = chunk.decode()
        if text.startswith(":"):
            continue
        lines = text.strip("\n").split("\n")
        out.append((lines[0].removeprefix("event: "), "\n".join(line.removeprefix("data: ") for line in lines[1:])))
    return out


def test_the_log_streams_as_it_comes_and_ends_upstream_when_the_page_leaves() -> None:
    async def run() -> tuple[list[tuple[str, str]], list[tuple[str, str]], bool]:
        ended, seen = asyncio.Event(), []
        stream = follow_log(log_app(ended, seen), "/apis/v1/containers/x/log", token="good", tail=200)
        got = [await stream.__anext__() for _ in range(3)]
        assert not ended.is_set()  # still following
        await stream.aclose()  # the browser closed the EventSource
        await asyncio.wait_for(ended.wait(), 5)
        return events(got), seen, ended.is_set()

    got, seen, ended = asyncio.run(run())
    assert got == [("open", ""), ("log", json.dumps("first line\nsecond ")), ("log", json.dumps("é\n"))]
    assert seen == [("Bearer good", "follow=1&tail=200")]
    assert ended


def test_a_refusal_is_one_event_with_the_apis_message() -> None:
    async def run() -> list[bytes]:
        stream = follow_log(log_app(asyncio.Event(), []), "/apis/v1/containers/x/log", token="viewer", tail=5)
        return [chunk async for chunk in stream]

    assert events(asyncio.run(run())) == [("refused", json.dumps("viewer may not get containers/x/log"))]
