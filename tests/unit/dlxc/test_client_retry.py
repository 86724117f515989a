"""A reused connection that the server closes under a request: replayed once when that is safe, never otherwise."""
from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from apiserver.server import KEEPALIVE, config_for
from dlxc.client.api import IDLE_KEEPALIVE, Client
from dlxc.client.config import ClientConfig
from dlxc.client.errors import TemporaryError

pytestmark = pytest.mark.timeout(30)

OBJ = {"metadata": {"name": "web", "resourceVersion": "7"}, "spec": {}}


class ClosingServer:
    """HTTP/1.1 on loopback that answers the first request on each connection and, when a second one
    arrives on it, closes the connection unanswered: the keep-alive close racing a reused connection."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        answered = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode().split("\r\n")
                headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
                await reader.readexactly(int(headers.get("content-length", "0")))
                self.seen.append(lines[0].split()[0])
                if answered:
                    return  # closed under the request, as uvicorn's keep-alive timer would
                body = json.dumps(OBJ).encode()
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
                await writer.drain()
                answered += 1
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


Call = Callable[[Client], Awaitable[Any]]
CASES = [
    ("get", lambda c: c.get("containers", "web"), ["GET", "GET", "GET"], True),
    ("put-with-resource-version", lambda c: c.replace("containers", OBJ), ["GET", "PUT", "PUT"], True),
    ("status-put-with-resource-version", lambda c: c.replace_status("containers", OBJ), ["GET", "PUT", "PUT"], True),
    ("merge-patch", lambda c: c.patch("leases", "n1", {"spec": {"renewTime": "2026-01-01T00:00:00Z"}}), ["GET", "PATCH", "PATCH"], True),
    ("guarded-status-patch", lambda c: c.patch_status("containers", "web", {}, resource_version="7"), ["GET", "PATCH", "PATCH"], True),
    ("post", lambda c: c.create("containers", OBJ), ["GET", "POST"], False),
    ("delete", lambda c: c.delete("containers", "web"), ["GET", "DELETE"], False),
    ("put-without-resource-version", lambda c: c.replace("containers", {"metadata": {"name": "web"}}), ["GET", "PUT"], False),
]


@pytest.mark.parametrize(("call", "seen", "replayed"), [pytest.param(c, s, r, id=i) for i, c, s, r in CASES])
def test_a_connection_closed_under_a_request_is_replayed_only_when_safe(call: Call, seen: list[str], replayed: bool) -> None:
    async def go() -> None:
        fake = ClosingServer()
        server = await asyncio.start_server(fake.handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            async with Client(ClientConfig(server=f"http://127.0.0.1:{port}")) as client:
                await client.get("containers", "web")  # the connection is now idle in the pool
                if replayed:
                    assert (await call(client))["metadata"]["name"] == "web"
                else:
                    with pytest.raises(TemporaryError, match="Server disconnected"):
                        await call(client)
        finally:
            server.close()
            await server.wait_closed()
        assert fake.seen == seen

    asyncio.run(go())


def test_the_client_drops_idle_connections_before_the_apiserver_does() -> None:
    assert IDLE_KEEPALIVE < KEEPALIVE
    assert config_for(object(), host="127.0.0.1", port=1).timeout_keep_alive == KEEPALIVE  # type: ignore[arg-type]

    async def connector_keepalive() -> float:
        async with Client(ClientConfig(server="http://127.0.0.1:1")) as client:
            return client._http().connector._keepalive_timeout  # type: ignore[union-attr]

    assert asyncio.run(connector_keepalive()) == IDLE_KEEPALIVE


@pytest.mark.parametrize(("call", "seen", "replayed"), [pytest.param(c, s, r, id=i) for i, c, s, r in CASES])
def test_the_one_shot_client_replays_the_same_requests_and_no_others(call: Call, seen: list[str], replayed: bool) -> None:
    from dlxc.client.oneshot import OneShotClient

    async def go() -> None:
        fake = ClosingServer()
        server = await asyncio.start_server(fake.handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        client = OneShotClient(ClientConfig(server=f"http://127.0.0.1:{port}"), timeout=5)

        async def both() -> Any:
            await client.get("containers", "web")  # the connection is now kept alive
            return await call(client)  # type: ignore[arg-type]

        try:
            # The one-shot client blocks; it runs in a thread so this loop can serve it.
            if replayed:
                assert (await asyncio.to_thread(asyncio.run, both()))["metadata"]["name"] == "web"
            else:
                with pytest.raises(TemporaryError, match="Remote end closed connection without response"):
                    await asyncio.to_thread(asyncio.run, both())
        finally:
            client.close()
            server.close()
            await server.wait_closed()
        assert fake.seen == seen

    asyncio.run(go())
