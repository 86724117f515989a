"""One mutual-TLS stats server per hollow process, answering the apiserver for every node of it, as each node's kubelet would.

The apiserver dials a node's `status.streamEndpoint` with the node's name as the TLS server name
and checks the certificate names it (apiserver/streams.py), exactly as for a real kubelet. Every
hollow node publishes this server's one endpoint; the server reads the name the apiserver asked
for (SNI) and presents that node's own serving certificate, signed on first use by `issue` (the
same certificate a joining host gets: CN system:node:NAME, one DNS name, serverAuth), so nothing in
the apiserver's checks is relaxed. The name also says which node the request is for. As on a real
kubelet, only a client certificate from the cluster CA with the apiserver's kubelet-client name
may ask. Routes and bodies are the kubelet's (kubelet/statsroutes.py); the numbers are made up
(dlxc/sim/usage.py). Exec, attach and logs answer 501: a hollow node runs nothing.
"""
from __future__ import annotations

import logging
import os
import ssl
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from aiohttp import web

from dlxc.sim import usage
from kubelet.statsroutes import container_body, summary_body
from kubelet.streams import APISERVER_CLIENT_CN

__all__ = ["HollowStats", "Issuer", "NodeView"]

log = logging.getLogger("dlxc.hollow.stats")

Issuer = Callable[[str], tuple[bytes, bytes]]  # node name -> (certificate PEM, key PEM) of its serving certificate
# A node's running containers with their specs, and its capacity (cpu cores, memory bytes, disk bytes).
NodeView = Callable[[str], tuple[list[tuple[str, dict[str, Any]]], tuple[float, int, int]]]


class HollowStats:
    """`issue(node)`: the node's serving certificate; `client_ca`: the CA of the apiserver's client certificate;
    a sample every `interval` seconds. `start` says which nodes it answers for and what runs on each."""

    def __init__(self, *, issue: Issuer, client_ca: Path, interval: float = 30.0, host: str = "127.0.0.1", port: int = 0) -> None:
        self.nodes: set[str] = set()
        self.view: NodeView = lambda node: ([], (0.0, 0, 0))
        self.issue, self.client_ca = issue, client_ca
        self.interval, self.host, self.port = interval, host, port
        self._contexts: dict[str, ssl.SSLContext] = {}
        self._node_of: dict[int, str] = {}  # id(context) -> node: the context chosen says whom the request is for
        self._runner: web.AppRunner | None = None

    # ---- TLS: one certificate per node, chosen by the name the apiserver asks for ----

    def _context(self, node: str) -> ssl.SSLContext:
        context = self._contexts.get(node)
        if context is None:
            cert, key = self.issue(node)
            context = self._server_context()
            # load_cert_chain reads files only: a private directory, emptied at once.
            with tempfile.TemporaryDirectory(prefix="dlxc-hollow-cert-") as tmp:
                cert_file, key_file = Path(tmp) / "tls.crt", Path(tmp) / "tls.key"
                cert_file.write_bytes(cert)
                fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as out:
                    out.write(key)
                context.load_cert_chain(str(cert_file), str(key_file))
            self._contexts[node] = context
            self._node_of[id(context)] = node
        return context

    def _server_context(self) -> ssl.SSLContext:
        """As kubelet.streams.server_context: a client certificate from the cluster CA is required."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(self.client_ca))
        context.verify_mode = ssl.CERT_REQUIRED
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context

    def _pick(self, connection: Any, server_name: str | None, _initial: ssl.SSLContext) -> int | None:
        if server_name not in self.nodes:
            log.info("refused a TLS connection for %r: not a node of this hollow process", server_name)
            return ssl.ALERT_DESCRIPTION_UNRECOGNIZED_NAME
        try:
            connection.context = self._context(server_name)
        except Exception:  # an issuer failing must refuse this connection, not kill the server
            log.exception("cannot issue the serving certificate of node %s", server_name)
            return ssl.ALERT_DESCRIPTION_INTERNAL_ERROR
        return None

    def listening_context(self) -> ssl.SSLContext:
        context = self._server_context()
        context.sni_callback = self._pick
        return context

    # ---- HTTP ----

    def _node(self, request: web.Request) -> str:
        """The node asked for (the certificate chosen by SNI); 403 unless the client is the apiserver."""
        transport = request.transport
        peer = transport.get_extra_info("peercert") if transport is not None else None
        names = [value for rdn in (peer or {}).get("subject", ()) for key, value in rdn if key == "commonName"]
        if names != [APISERVER_CLIENT_CN]:
            raise web.HTTPForbidden(text="only the apiserver may open streams to the kubelet\n")
        ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
        node = self._node_of.get(id(ssl_object.context)) if ssl_object is not None else None
        if node is None:
            raise web.HTTPMisdirectedRequest(text="no node named by the TLS server name\n")
        return node

    def _samples(self, node: str, now: float) -> dict[str, tuple[float, dict[str, float]]]:
        running, _capacity = self.view(node)
        slot = int(now // self.interval)
        return {name: (slot * self.interval, usage.sample(usage.profile(name, spec), slot, interval=self.interval))
                for name, spec in running}

    async def summary(self, request: web.Request) -> web.Response:
        node = self._node(request)
        now = time.time()
        latest = self._samples(node, now)
        _running, (cpu, memory, disk) = self.view(node)
        node_usage = (int(now // self.interval) * self.interval,
                      usage.node_sample([s for _, s in latest.values()], cpu=cpu, memory=memory, disk=disk))
        return web.json_response(summary_body(node, interval=self.interval, node_usage=node_usage, latest=latest))

    async def container(self, request: web.Request) -> web.Response:
        node = self._node(request)
        name = request.match_info["name"]
        spec = dict(self.view(node)[0]).get(name)
        if spec is None:
            raise web.HTTPNotFound(text=f"no sample of container {name} on node {node} yet (sampled every {self.interval:g}s)\n")
        now = time.time()
        p = usage.profile(name, spec)
        slot = int(now // self.interval)
        latest = (slot * self.interval, usage.sample(p, slot, interval=self.interval))
        points = usage.history(p, now, interval=self.interval)
        return web.json_response(container_body(name, node, interval=self.interval, latest=latest, points=points))

    async def nothing_runs(self, request: web.Request) -> web.Response:
        node = self._node(request)
        raise web.HTTPNotImplemented(text=f"node {node} is hollow (scale tooling): it runs no containers, so it has no "
                                          "exec, attach, logs or archives\n")

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/stats/summary", self.summary)
        app.router.add_get("/stats/containers/{name}", self.container)
        app.router.add_route("*", "/{tail:.*}", self.nothing_runs)
        return app

    async def start(self, nodes: Iterable[str], view: NodeView) -> str:
        """Answer for `nodes`, `view(node)` being what runs there; return the endpoint (host:port) every node publishes."""
        self.nodes, self.view = set(nodes), view
        self._runner = web.AppRunner(self.app(), access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, ssl_context=self.listening_context())
        await site.start()
        server = site._server  # noqa: SLF001 - the only way to learn the port picked for port 0
        port = server.sockets[0].getsockname()[1] if server is not None and server.sockets else self.port
        return f"[{self.host}]:{port}" if ":" in self.host else f"{self.host}:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
