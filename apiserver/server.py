"""Running the apiserver under uvicorn, over TLS unless plain HTTP on loopback is asked for."""
from __future__ import annotations

import ipaddress
import logging
import multiprocessing
import signal
import socket
import time
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI

from apiserver.app import ApiServerSettings, create_app

__all__ = ["ApiServer", "check_listen", "serve"]

log = logging.getLogger("dlxc.apiserver")


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
        timeout_graceful_shutdown=2, **tls,
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
    workers: int = 1,
) -> None:
    """Serve until SIGTERM/SIGINT; with workers > 1, that many processes share one listening socket.

    One Python process uses one core at most. Workers hold nothing the others need: every write is
    an etcd transaction and each worker keeps its own watch cache, as several apiservers do.
    """
    check_listen(host, tls=bool(cert and key), insecure_http=insecure_http)
    if workers <= 1:
        ApiServer(config_for(create_app(settings), host=host, port=port, cert=cert, key=key, log_level=log_level)).run()
        return
    config = config_for(FastAPI(), host=host, port=port, cert=cert, key=key, log_level=log_level)
    listener = config.bind_socket()
    options = {"host": host, "port": port, "cert": cert, "key": key, "log_level": log_level}
    _supervise(lambda: _spawn(settings, options, listener), workers)


def _spawn(settings: ApiServerSettings, options: dict[str, Any], listener: socket.socket) -> multiprocessing.Process:
    # spawn, not fork: the parent has imported grpc, which must not be forked once in use.
    process = multiprocessing.get_context("spawn").Process(
        target=_worker, args=(settings.model_dump_json(), options, listener), daemon=False
    )
    process.start()
    return process


def _worker(settings_json: str, options: dict[str, Any], listener: socket.socket) -> None:
    logging.basicConfig(level=options["log_level"].upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = ApiServerSettings.model_validate_json(settings_json)
    app = create_app(settings)
    ApiServer(config_for(app, **options)).run(sockets=[listener])


def _supervise(spawn: Any, workers: int) -> None:
    """Start the workers, replace one that dies (at most once a second), stop them all on a signal."""
    stopping = False

    def stop(signum: int, frame: Any) -> None:
        nonlocal stopping
        stopping = True

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, stop)
    processes = [spawn() for _ in range(workers)]
    try:
        while not stopping:
            time.sleep(0.2)
            for i, process in enumerate(processes):
                if not stopping and not process.is_alive():
                    log.error("apiserver worker %d exited with %s; starting another", process.pid, process.exitcode)
                    time.sleep(1.0)
                    processes[i] = spawn()
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()  # SIGTERM: uvicorn ends the streams and shuts down cleanly
        deadline = time.monotonic() + 10
        for process in processes:
            process.join(max(0.1, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()
