"""The async HTTP client of the API on aiohttp: the verbs of ApiVerbs, failover across apiservers, and watch."""
from __future__ import annotations

import asyncio
import errno
import logging
import random
import ssl
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson

from dlxc.client.config import ClientConfig, load_config
from dlxc.client.errors import TemporaryError, Unreachable, error_from_response
from dlxc.client.verbs import PREFIX, ApiVerbs, event_name, retry_safe
from schemas.base import Obj

__all__ = ["IDLE_KEEPALIVE", "PREFIX", "Client", "backoff_delays", "event_name", "merge_servers", "retry_safe"]

log = logging.getLogger("dlxc.client")
# How long an idle connection is kept for reuse. It must be shorter than the apiserver's own
# keep-alive (apiserver.server.KEEPALIVE, 30 s): a connection the server is closing at the moment it
# is reused fails with "Server disconnected" (with aiohttp's 15 s against uvicorn's 5 s, a kubelet's
# Lease renewal did every few minutes).
IDLE_KEEPALIVE = 10.0


def _connection_lost(exc: BaseException) -> bool:
    """A reused connection that the server closed or reset under the request (not a refused connect)."""
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return True
    if isinstance(exc, aiohttp.ClientOSError) and not isinstance(exc, aiohttp.ClientConnectorError):
        return exc.errno in (errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED)
    return False


def backoff_delays(*, base: float = 0.2, cap: float = 10.0) -> Any:
    """Exponential backoff with full jitter, forever."""
    delay = base
    while True:
        yield random.uniform(base / 2, delay)
        delay = min(cap, delay * 2)


class Client(ApiVerbs):
    """Async client; one instance per process, shared by every loop in it.

    aiohttp, not httpx: the scheduler, hollow nodes and benchmarks make thousands of requests a
    second, and httpx's per-request pool bookkeeping cost more CPU than the requests themselves.
    """

    def __init__(self, config: ClientConfig | None = None, *, timeout: float = 30.0) -> None:
        self.config = config or load_config()
        self.headers = {"Authorization": f"Bearer {self.config.token}"} if self.config.token else {}
        # The cluster's own CA when the config names one; otherwise the system's trust store.
        self.ssl: ssl.SSLContext | bool = (
            ssl.create_default_context(cafile=self.config.certificate_authority) if self.config.certificate_authority else True
        )
        # Several apiservers, comma-separated: requests go to one; a transport error moves to the next.
        self.servers = [s.strip().rstrip("/") for s in self.config.server.split(",") if s.strip()] or [self.config.server]
        self._server = 0
        # Each read and each connect is bounded, not the whole request: a big LIST may take longer.
        self.timeout = aiohttp.ClientTimeout(total=None, sock_connect=timeout, sock_read=timeout)
        self._session: aiohttp.ClientSession | None = None
        self._streams: aiohttp.ClientSession | None = None
        # Connections of its own that a long stream keeps outside aiohttp (dlxc.client.renewals'
        # version 3): cut when the client closes, as the streams session's are.
        self.upgraded: set[asyncio.BaseTransport] = set()
        # A leader's fencing token, (lease name, resourceVersion): while set, every write of this
        # client commits only if that Lease is still at that revision (see dlxc.client.leaderelection).
        self.fence: tuple[str, str] | None = None

    def _http(self) -> aiohttp.ClientSession:
        # Made on first use: a session belongs to the event loop it is created in.
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(ssl=self.ssl, limit=256, enable_cleanup_closed=True, keepalive_timeout=IDLE_KEEPALIVE)
            self._session = aiohttp.ClientSession(connector=connector, headers=self.headers, timeout=self.timeout)
            # aiohttp would replay GET, PUT and DELETE on a broken reused connection on its own; which
            # requests are safe to replay is retry_safe's to say, once, in request().
            self._session._retry_connection = False
        return self._session

    def streams(self) -> aiohttp.ClientSession:
        """A session for long-lived requests (Lease renewal streams): one connection each, no cap, so
        that thousands of hollow nodes in one process do not queue behind the request pool's limit."""
        if self._streams is None or self._streams.closed:
            connector = aiohttp.TCPConnector(ssl=self.ssl, limit=0, enable_cleanup_closed=True)
            self._streams = aiohttp.ClientSession(connector=connector, headers=self.headers)
        return self._streams

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._streams is not None:
            await self._streams.close()
            self._streams = None
        if self.upgraded:
            for transport in list(self.upgraded):
                transport.abort()  # at once: a TLS close would wait for the peer, and the loop may end
            self.upgraded.clear()
            await asyncio.sleep(0)  # the sockets close on the next turn of the loop

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def server(self) -> str:
        return self.servers[self._server]

    async def request(self, method: str, path: str, *, body: Any = None, params: dict[str, str] | None = None) -> Any:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        if self.fence is not None and method != "GET":
            headers["X-Dlxc-Lease-Fence"] = f"{self.fence[0]}={self.fence[1]}"
        data = None if body is None else orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS)
        replay = retry_safe(method, body)
        attempt = 0
        while True:
            server = self.server
            try:
                async with self._http().request(method, server + path, params=params, data=data, headers=headers) as response:
                    payload = await response.read()
                    status = response.status
                break
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                if replay and _connection_lost(exc):
                    replay = False  # once, on the same server, on a new connection
                    log.debug("%s %s: %s; sending it again", method, path, _describe(exc))
                    continue
                # Only a failure to connect is safe to retry elsewhere for a write: the request never arrived.
                retry = method == "GET" or isinstance(exc, aiohttp.ClientConnectorError)
                self._next_server()
                attempt += 1
                if attempt >= len(self.servers) or not retry:
                    raise Unreachable(f"cannot reach the apiserver at {server}: {_describe(exc)}") from exc
        if status >= 400:
            raise error_from_response(status, _loads_or_none(payload))
        return orjson.loads(payload)

    async def watch(
        self,
        plural: str,
        *,
        resource_version: str,
        label_selector: str | None = None,
        field_selector: str | None = None,
        bookmarks: bool = False,
    ) -> AsyncIterator[tuple[str, Obj]]:
        """(type, object) for every change after resource_version; raises Gone when it is too old.

        With bookmarks, ("BOOKMARK", {"metadata": {"resourceVersion": ...}}) says that every change
        up to that revision has been sent: a watch resumed from there misses nothing.
        """
        params = {"watch": "1", "resourceVersion": resource_version}
        if label_selector:
            params["labelSelector"] = label_selector
        if field_selector:
            params["fieldSelector"] = field_selector
        # A watch may be silent for long: only connecting is bounded (the server sends bookmarks).
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=10.0, sock_read=None)
        server = self.server
        try:
            async with self._http().get(server + self.path(plural), params=params, timeout=timeout) as response:
                if response.status >= 400:
                    raise error_from_response(response.status, _loads_or_none(await response.read()))
                async for line in _lines(response.content):
                    event = orjson.loads(line)
                    if event["type"] == "ERROR":
                        status = event["object"].get("code", 500)
                        raise error_from_response(status, event["object"])
                    if event["type"] == "BOOKMARK" and not bookmarks:
                        continue
                    yield event["type"], event["object"]
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            if self.server == server:
                self._next_server()  # the informer watches again, on the next apiserver
            raise TemporaryError(f"watch of {plural} broke: {_describe(exc)}") from exc

    def _next_server(self) -> None:
        if len(self.servers) > 1:
            self._server = (self._server + 1) % len(self.servers)

    def next_server(self) -> None:
        """Move this client's requests to the next apiserver (after a failure only it can see)."""
        self._next_server()

    def add_servers(self, urls: list[str]) -> None:
        """Also fail over to `urls`, after the servers this client has (apiservers learnt earlier)."""
        self.servers += [u for u in dict.fromkeys(u.strip().rstrip("/") for u in urls) if u and u not in self.servers]

    async def refresh_servers(self) -> list[str]:
        """Learn every live apiserver (`GET /apiservers`) and fail over across them from now on.

        The one in use stays in use. An empty answer (no apiserver advertises itself, as on `dlxc up`)
        changes nothing. Returns the list now in use.
        """
        got = await self.request("GET", "/apiservers")
        self.servers, self._server = merge_servers(self.servers, self._server, got.get("servers") or [])
        return list(self.servers)


def merge_servers(servers: list[str], current: int, advertised: list[str]) -> tuple[list[str], int]:
    """The apiservers to use once `advertised` is known, and the index of the one in use.

    The advertised list is the truth (a dead apiserver has dropped out of it); the server in use is
    kept even when it is not advertised (a load balancer's URL, or a loopback one), as long as it answers.
    """
    urls = list(dict.fromkeys(u.strip().rstrip("/") for u in advertised if isinstance(u, str) and u.strip()))
    if not urls:
        return servers, current
    using = servers[current]
    if using not in urls:
        urls.insert(0, using)
    return urls, urls.index(using)


async def _lines(stream: aiohttp.StreamReader) -> AsyncIterator[bytes]:
    """The non-empty lines of an NDJSON stream, however long (aiohttp's own readline caps a line's size)."""
    pending = b""
    async for chunk in stream.iter_any():
        pending += chunk
        if b"\n" not in chunk:
            continue
        *lines, pending = pending.split(b"\n")
        for line in lines:
            if line.strip():
                yield line
    if pending.strip():
        yield pending


def _loads_or_none(payload: bytes) -> Any:
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None


def _describe(exc: BaseException) -> str:
    """An exception as words; a bare timeout has none of its own."""
    text = str(exc)
    if isinstance(exc, asyncio.TimeoutError) and not text:
        return "timed out"
    return text or type(exc).__name__


def _dry(dry_run: bool) -> dict[str, str] | None:
    return {"dryRun": "All"} if dry_run else None
