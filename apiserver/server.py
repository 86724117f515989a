"""Running the apiserver under uvicorn, over TLS unless plain HTTP on loopback is asked for."""
from __future__ import annotations

import ipaddress
import socket
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI

from apiserver.app import ApiServerSettings, create_app
from dlxc import eventloop

__all__ = ["KEEPALIVE", "ApiServer", "check_listen", "serve"]

# Seconds an idle client connection stays open. Longer than the client's own idle keep-alive
# (dlxc.client.api.IDLE_KEEPALIVE), so the client, not the server, drops an idle connection: the
# other way round, a request sent just as the server closes fails with "Server disconnected".
KEEPALIVE = 30


class ApiServer(uvicorn.Server):
    """uvicorn that ends every watch stream first when asked to stop, so shutdown does not wait on them
    and clients resume from their last resourceVersion on the next apiserver."""

    async def shutdown(self, sockets: Any = None) -> None:
        app: FastAPI = self.config.app
        for cache in app.state.caches.values():
            cache.end_all()
        await super().shutdown(sockets)


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(socket.gethostbyname(host)).is_loopback
    except (OSError, ValueError):
        return False


def check_listen(host: str, *, tls: bool, insecure_http: bool) -> None:
    """Refuse plain HTTP unless asked for, and then anywhere but loopback."""
    if tls:
        return
    if not insecure_http:
        raise ValueError("the apiserver serves TLS: give --tls-cert-file and --tls-private-key-file (or --insecure-http on loopback)")
    if not is_loopback(host):
        raise ValueError(f"plain HTTP is only allowed on loopback, not on {host}")


def config_for(
    app: FastAPI, *, host: str, port: int, cert: Path | None = None, key: Path | None = None, log_level: str = "warning"
) -> uvicorn.Config:
    tls: dict[str, Any] = {"ssl_certfile": str(cert), "ssl_keyfile": str(key)} if cert and key else {}
    return uvicorn.Config(
        app, host=host, port=port, log_level=log_level, access_log=False, lifespan="on",
        timeout_graceful_shutdown=2, timeout_keep_alive=KEEPALIVE, ws="websockets-sansio", loop=eventloop.loop_name(), **tls,
    )


def serve(
    settings: ApiServerSettings,
    *,
    host: str,
    port: int,
    cert: Path | None = None,
    key: Path | None = None,
    insecure_http: bool = False,
    log_level: str = "warning",
) -> None:
    check_listen(host, tls=bool(cert and key), insecure_http=insecure_http)
    ApiServer(config_for(create_app(settings), host=host, port=port, cert=cert, key=key, log_level=log_level)).run()
