"""Running the apiserver under uvicorn, over TLS unless plain HTTP on loopback is asked for."""
from __future__ import annotations

import asyncio

import ipaddress
import logging
import socket
import ssl
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI

from apiserver.app import ApiServerSettings, create_app
from dlxc import eventloop, gctune

__all__ = ["KEEPALIVE", "ApiServer", "CertReloader", "check_listen", "serve"]

log = logging.getLogger("dlxc.apiserver")

# Seconds an idle client connection stays open. Longer than the client's own idle keep-alive
# (dlxc.client.api.IDLE_KEEPALIVE), so the client, not the server, drops an idle connection: the
# other way round, a request sent just as the server closes fails with "Server disconnected".
KEEPALIVE = 30


class CertReloader:
    """A TLS context that loads its certificate and key again when their files change (`dlxc certs renew`):
    new connections get the new pair, open ones keep theirs; no restart."""

    def __init__(self, context: ssl.SSLContext, cert: str | Path, key: str | Path) -> None:
        self.context, self.cert, self.key = context, Path(cert), Path(key)
        self.seen = self._stamp()

    def _stamp(self) -> tuple[float, float]:
        try:
            return self.cert.stat().st_mtime, self.key.stat().st_mtime
        except OSError:
            return 0.0, 0.0

    def check(self) -> bool:
        stamp = self._stamp()
        if stamp == self.seen:
            return False
        try:
            self.context.load_cert_chain(str(self.cert), str(self.key))
        except (OSError, ssl.SSLError) as exc:  # half written, or a mismatched pair: the next check tries again
            log.warning("cannot load the renewed certificate %s: %s; still serving the one loaded before", self.cert, exc)
            return False
        self.seen = stamp
        log.info("loaded the renewed certificate %s", self.cert)
        return True


class ApiServer(uvicorn.Server):
    """uvicorn that ends every watch stream first when asked to stop, so shutdown does not wait on them
    and clients resume from their last resourceVersion on the next apiserver. Every few seconds it
    loads its serving certificate again if it was renewed (its client certificate towards kubelets
    is looked at by apiserver.streams.KubeletDialer at each dial)."""

    RELOAD_TICKS = 50  # on_tick runs every 0.1 s: a renewed certificate is in use within 5 s

    def __init__(self, config: uvicorn.Config, *, own_process: bool = False) -> None:
        super().__init__(config)
        # The process is this apiserver's alone (`dlxc apiserver`), not a test's or a tool's that
        # runs one inside: only then may it tune the garbage collector (dlxc.gctune).
        self.own_process = own_process

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets)
        if self.own_process:
            # The caches are loaded: no later collection walks them again.
            log.info("%d objects exempted from garbage collection", gctune.freeze())

    async def on_tick(self, counter: int) -> bool:
        if counter % self.RELOAD_TICKS == 0:
            for reloader in self._reloaders():
                reloader.check()
        return await super().on_tick(counter)

    def _reloaders(self) -> list[CertReloader]:
        if not hasattr(self, "_reloading"):
            reloading = []
            if isinstance(self.config.ssl, ssl.SSLContext) and self.config.ssl_certfile and self.config.ssl_keyfile:
                reloading.append(CertReloader(self.config.ssl, str(self.config.ssl_certfile), str(self.config.ssl_keyfile)))
            self._reloading = reloading
        return self._reloading

    async def shutdown(self, sockets: Any = None) -> None:
        app: FastAPI = self.config.app
        for cache in app.state.caches.values():
            cache.end_all()
        await super().shutdown(sockets)
        # Connections whose response was cut off by the graceful timeout (streams) are still open:
        # uvicorn cancels their tasks but leaves their sockets to the garbage collector. Close them.
        for connection in list(self.server_state.connections):
            transport = getattr(connection, "transport", None)
            if transport is not None and not transport.is_closing():
                transport.close()
        await asyncio.sleep(0)  # let the closes run before the loop ends


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


class _RenewalUpgradeIsOurs(logging.Filter):
    """uvicorn warns "Unsupported upgrade request." for every Upgrade that is not a WebSocket, and serves the
    request as plain HTTP; a kubelet's renewal stream (`Upgrade: dlxc-renewals/3`) is upgraded by our own
    route (apiserver/renewals.py), so the warning came once per kubelet connection and meant nothing."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.msg != "Unsupported upgrade request."


def _quiet_renewal_upgrades() -> None:
    uvicorn_log = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _RenewalUpgradeIsOurs) for f in uvicorn_log.filters):
        uvicorn_log.addFilter(_RenewalUpgradeIsOurs())


def config_for(
    app: FastAPI, *, host: str, port: int, cert: Path | None = None, key: Path | None = None, log_level: str = "warning",
    loop: str | None = None,
) -> uvicorn.Config:
    """`loop`: the event loop (default: dlxc.eventloop's choice, uvloop unless DLXC_EVENT_LOOP says otherwise)."""
    tls: dict[str, Any] = {"ssl_certfile": str(cert), "ssl_keyfile": str(key)} if cert and key else {}
    config = uvicorn.Config(
        app, host=host, port=port, log_level=log_level, access_log=False, lifespan="on",
        timeout_graceful_shutdown=2, timeout_keep_alive=KEEPALIVE, ws="websockets-sansio",
        loop=loop or eventloop.loop_name(), **tls,
    )
    _quiet_renewal_upgrades()  # after uvicorn has configured its loggers
    return config


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
    gctune.tune()
    ApiServer(config_for(create_app(settings), host=host, port=port, cert=cert, key=key, log_level=log_level), own_process=True).run()
