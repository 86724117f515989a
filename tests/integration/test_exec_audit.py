"""The audit Event of an exec is written while the session starts, never lost: the client gets the exit
status only once the Event is stored, and a session whose Event cannot be stored is ended at once with a
status saying so. A real StreamProxy (in uvicorn) in front of a real kubelet stream server over mutual TLS
(a stand-in runtime whose "container" runs commands on this host, no LXC); the Event store is a stand-in
that can be held and made to fail."""
from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from apiserver.auth import Identity
from apiserver.streams import STREAM_PROTOCOL, KubeletDialer, StreamProxy
from dlxc.client.errors import TemporaryError
from test_kubelet_pool import dialer_for, kubelet, pki  # noqa: F401 - pki is a fixture

pytestmark = pytest.mark.timeout(60)


class Events:
    """Event creates that wait for `gate`, then fail with `error` if set, else are kept."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.error: Exception | None = None
        self.stored: list[dict[str, Any]] = []

    async def create(self, body: dict[str, Any]) -> dict[str, Any]:
        await self.gate.wait()
        if self.error is not None:
            raise self.error
        self.stored.append(body)
        return body


@asynccontextmanager
async def apiserver(pki: Path, node: dict[str, Any], events: Events) -> AsyncIterator[tuple[str, KubeletDialer]]:
    """The exec route of the apiserver as StreamProxy serves it: its ws:// URL, and its dialer."""
    dialer = dialer_for(pki)
    container = {"metadata": {"name": "web", "uid": "u1"}, "spec": {"nodeName": "n1"}, "status": {"phase": "Running"}}

    async def lookup(name: str, *, need_running: bool, fresh: bool = False) -> tuple[Any, Any, bool]:
        return container, node, False

    proxy = StreamProxy(store=None, events=events, dialer=dialer, lookup=lookup)  # type: ignore[arg-type]

    async def endpoint(websocket: WebSocket) -> None:
        async def authenticate() -> tuple[Identity, list[tuple[str, str]], str]:
            command = websocket.query_params.getlist("command")
            return Identity(name="alice", role="admin"), [("command", c) for c in command], "exec " + " ".join(command)

        await proxy.serve(websocket, name="web", sub="exec", reason="Exec", authenticate=authenticate)

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(Starlette(routes=[WebSocketRoute("/exec", endpoint)]), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield f"ws://127.0.0.1:{port}/exec", dialer
    finally:
        server.should_exit = True
        await task
        await dialer.close()


async def idle(dialer: KubeletDialer, count: int) -> None:
    for _ in range(300):
        if dialer.kept.idle_count() >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{dialer.kept.idle_count()} idle WebSockets to the kubelet, not {count}")


async def statuses(ws: aiohttp.ClientWebSocketResponse, within: float) -> list[dict[str, Any]]:
    """The status messages that arrive within `within` seconds (or until the socket closes)."""
    found: list[dict[str, Any]] = []
    try:
        async with asyncio.timeout(within):
            async for message in ws:
                if message.type == aiohttp.WSMsgType.BINARY and message.data[0] == 3:
                    found.append(json.loads(message.data[1:]))
    except TimeoutError:
        pass
    return found


def test_the_status_waits_for_the_stored_event(pki: Path) -> None:  # noqa: F811
    async def go() -> None:
        events = Events()
        async with kubelet(pki) as (server, node), apiserver(pki, node, events) as (url, dialer), aiohttp.ClientSession() as http:
            async with http.ws_connect(url, params=[("command", "true")], protocols=(STREAM_PROTOCOL,)) as ws:
                # `true` ends at once, but its status is held while the Event is not stored.
                assert await statuses(ws, 0.5) == []
                assert not server.sessions and events.stored == []
                events.gate.set()
                assert await statuses(ws, 5) == [{"metadata": {}, "status": "Success"}]
            [event] = events.stored
            assert (event["spec"]["reason"], event["spec"]["message"], event["spec"]["involvedObject"]["name"]) == (
                "Exec", "alice (admin): exec true", "web")
            # The client's socket closes right after the status; the kubelet's WebSocket is still kept.
            for i in range(3):
                await idle(dialer, 1)
                async with http.ws_connect(url, params=[("command", "sh"), ("command", "-c"), ("command", f"exit {i}")],
                                           protocols=(STREAM_PROTOCOL,)) as ws:
                    assert [s.get("reason") for s in await statuses(ws, 5)] == [None if i == 0 else "NonZeroExitCode"]
                    assert ws.closed or (await ws.receive()).type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
            await idle(dialer, 2)  # the sessions' own, given back after the end marker, and the one dialed ahead
            assert (dialer.dialed, dialer.kept.reused, len(server.kept)) == (1, 3, 2)
            assert len(events.stored) == 4

    asyncio.run(go())


def test_an_event_that_cannot_be_stored_ends_the_session(pki: Path) -> None:  # noqa: F811
    async def go() -> None:
        events = Events()
        events.error = TemporaryError("etcd is unreachable", delay=1)
        me = psutil.Process()
        async with kubelet(pki) as (server, node), apiserver(pki, node, events) as (url, dialer), aiohttp.ClientSession() as http:
            children = {child.pid for child in me.children()}
            async with http.ws_connect(url, params=[("command", "sleep"), ("command", "60")], protocols=(STREAM_PROTOCOL,)) as ws:
                for _ in range(300):
                    if server.sessions:
                        break
                    await asyncio.sleep(0.01)
                assert len(server.sessions) == 1  # it runs while the Event is being written
                events.gate.set()
                [status] = await statuses(ws, 5)
            assert status == {"status": "Failure", "reason": "AuditFailed", "code": 503,
                              "message": "the session was ended: its audit Event could not be stored (etcd is unreachable)"}
            for _ in range(300):
                if not server.sessions:
                    break
                await asyncio.sleep(0.01)
            assert not server.sessions and {child.pid for child in me.children()} == children  # sleep hung up and reaped
            assert events.stored == []

    asyncio.run(go())


def test_an_event_that_failed_before_the_session_started_refuses_it(pki: Path, tmp_path: Path) -> None:  # noqa: F811
    ran = tmp_path / "ran"

    async def go() -> None:
        events = Events()
        events.error = TemporaryError("etcd is unreachable", delay=1)
        events.gate.set()
        async with kubelet(pki) as (server, node), apiserver(pki, node, events) as (url, dialer), aiohttp.ClientSession() as http:
            # A first session dials (the Event fails meanwhile): refused, nothing started on the kubelet.
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await http.ws_connect(url, params=[("command", "touch"), ("command", str(ran))], protocols=(STREAM_PROTOCOL,))
            assert refused.value.status == 503
            await asyncio.sleep(0.3)
            assert not server.sessions and events.stored == [] and not ran.exists()

    asyncio.run(go())
