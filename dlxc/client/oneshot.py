"""A client for one CLI call on the standard library (http.client + ssl): no aiohttp to import.

It speaks the same verbs (ApiVerbs) and maps errors the same way (dlxc.client.errors) as the
async Client, and fails over across comma-separated apiservers in the same way. Each request
blocks the event loop it is awaited in, which a one-shot command does not mind; anything that
watches or runs requests side by side uses dlxc.client.api.Client.
"""
from __future__ import annotations

import http.client
import ssl
from typing import Any
from urllib.parse import urlencode, urlsplit

import orjson

from dlxc.client.config import ClientConfig, load_config
from dlxc.client.errors import Unreachable, error_from_response
from dlxc.client.verbs import ApiVerbs, retry_safe

__all__ = ["OneShotClient"]


class OneShotClient(ApiVerbs):
    """Same constructor and verbs as Client; no watch."""

    def __init__(self, config: ClientConfig | None = None, *, timeout: float = 30.0) -> None:
        self.config = config or load_config()
        self.headers = {"Authorization": f"Bearer {self.config.token}"} if self.config.token else {}
        self.servers = [s.strip().rstrip("/") for s in self.config.server.split(",") if s.strip()] or [self.config.server]
        self._server = 0
        self.timeout = timeout
        self._ssl: ssl.SSLContext | None = None
        self._conn: http.client.HTTPConnection | None = None
        self._reused = False  # the connection has answered before: the server may have closed it since
        self.fence: tuple[str, str] | None = None

    @property
    def server(self) -> str:
        return self.servers[self._server]

    def _context(self) -> ssl.SSLContext:
        if self._ssl is None:
            cafile = self.config.certificate_authority
            self._ssl = ssl.create_default_context(cafile=cafile) if cafile else ssl.create_default_context()
        return self._ssl

    def _connection(self) -> tuple[http.client.HTTPConnection, str]:
        """The kept-alive connection to the current server, and the server's path prefix."""
        url = urlsplit(self.server)
        if self._conn is None:
            if url.scheme == "https":
                self._conn = http.client.HTTPSConnection(url.hostname or "", url.port or 443, timeout=self.timeout, context=self._context())
            elif url.scheme == "http":
                self._conn = http.client.HTTPConnection(url.hostname or "", url.port or 80, timeout=self.timeout)
            else:
                raise Unreachable(f"cannot reach the apiserver at {self.server}: the URL must start with http:// or https://")
        return self._conn, url.path.rstrip("/")

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self._reused = False

    def send(self, method: str, path: str, *, body: Any = None, params: dict[str, str] | None = None) -> Any:
        """One request, blocking; the typed ApiError of an error answer."""
        headers = dict(self.headers)
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS)
        if self.fence is not None and method != "GET":
            headers["X-Dlxc-Lease-Fence"] = f"{self.fence[0]}={self.fence[1]}"
        query = f"?{urlencode(params)}" if params else ""
        replay = retry_safe(method, body)
        attempt = 0
        while True:
            server = self.server
            sent = False
            reused = self._reused
            try:
                conn, prefix = self._connection()
                conn.request(method, prefix + path + query, body=data, headers=headers)
                sent = True
                response = conn.getresponse()
                payload = response.read()
                status = response.status
                self._reused = True
                break
            except (OSError, http.client.HTTPException) as exc:
                self._drop()
                if replay and reused and isinstance(exc, _LOST):
                    replay = False  # as in Client: once, on the same server, on a new connection
                    continue
                # As in Client: a write that may have arrived is not sent again elsewhere.
                retry = method == "GET" or not sent
                self._next_server()
                attempt += 1
                if attempt >= len(self.servers) or not retry:
                    raise Unreachable(f"cannot reach the apiserver at {server}: {_describe(exc)}") from exc
        if status >= 400:
            raise error_from_response(status, _loads_or_none(payload))
        return orjson.loads(payload)

    async def request(self, method: str, path: str, *, body: Any = None, params: dict[str, str] | None = None) -> Any:
        return self.send(method, path, body=body, params=params)

    def _next_server(self) -> None:
        if len(self.servers) > 1:
            self._server = (self._server + 1) % len(self.servers)

    def next_server(self) -> None:
        """Move to the next apiserver (after a failure only the caller can see), as Client.next_server."""
        self._drop()
        self._next_server()

    def close(self) -> None:
        self._drop()

    async def __aenter__(self) -> OneShotClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()


# A kept-alive connection the server closed or reset under the request (not a refused connect).
_LOST = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError, ConnectionAbortedError)


def _loads_or_none(payload: bytes) -> Any:
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None


def _describe(exc: BaseException) -> str:
    text = str(exc)
    if isinstance(exc, TimeoutError) and not text:
        return "timed out"
    return text or type(exc).__name__
