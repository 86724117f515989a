"""Streaming subresources of a container (exec, attach, log), proxied to the kubelet of its node.

The client speaks WebSocket (`v5.channel.k8s.io`: first byte of each message = channel) for exec
and attach, plain chunked HTTP for log. The apiserver authenticates and authorizes the user, checks
the container runs, and starts the session on a kept WebSocket to the node's stream endpoint (its
Node `status.streamEndpoint`, apiserver/kubeletpool.py) over mutual TLS — the kubelet must present
a certificate from the cluster CA naming the node, and the apiserver presents its kubelet-client
certificate — while it writes the audit Event, whose storing the session's status waits for. Each
direction is one loop that awaits every send, so a slow side slows the other instead of filling a
buffer here.
"""
from __future__ import annotations

import asyncio
import base64
import json
import logging
import shlex
import ssl
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from apiserver.auth import Identity, authorize
from apiserver.kubeletpool import SESSIONS_PATH, SESSIONS_PROTOCOL, KeptSessions, KubeletSession, start_message
from apiserver.registry import Registry
from apiserver.storage import Store
from dlxc.client.api import event_name
from dlxc.client.errors import ApiError, BadRequest, Conflict, Forbidden, NotFound, TemporaryError, Unauthorized
from dlxc.tasks import cancel_and_wait
from schemas.node import node_ready
from schemas.wire import RESTORE_ANNOTATION

__all__ = ["STREAM_PROTOCOL", "KubeletDialer", "Lookup", "StreamProxy", "add_stream_routes", "container_and_node"]

log = logging.getLogger("dlxc.apiserver.streams")

STREAM_PROTOCOL = "v5.channel.k8s.io"
ERROR_HEADER = "X-Dlxc-Error"  # the error message again, for WebSocket clients that cannot read a refused upgrade's body


class KubeletDialer:
    """Connections to kubelets' stream servers with the apiserver's client certificate.

    One aiohttp session for every kubelet: plain requests (logs, archives) reuse its kept-alive
    connections; exec and attach sessions run on WebSockets kept between sessions, with one dialed
    ahead (apiserver/kubeletpool.py). The certificate files are looked at again (their mtime) at
    each dial, so a renewed client certificate or CA is used without a restart; the WebSockets made
    with the old one are closed then, and the pool key carries the certificate's generation."""

    def __init__(self, *, cert: Path | None, key: Path | None, ca: Path | None, max_idle: float = 30.0) -> None:
        self._files = (cert, key, ca) if cert and key and ca else None
        self._stamp: tuple[int, ...] | None = None
        self.context: ssl.SSLContext | None = None
        self.generation = 0  # of the client certificate and CA in `context`
        self._session: aiohttp.ClientSession | None = None
        self.kept = KeptSessions(max_idle=max_idle)
        self._no_sessions: set[str] = set()  # endpoints whose kubelet has no /sessions (an older one)
        self._tasks: set[asyncio.Task[None]] = set()
        self.dialed = 0  # WebSockets dialed on a session's path (none was ready)
        self._refresh()

    def _refresh(self) -> None:
        if self._files is None:
            return
        try:
            stamp = tuple(path.stat().st_mtime_ns for path in self._files)
        except OSError:
            return  # mid-rename of a renewal: keep the context we have
        if stamp == self._stamp:
            return
        cert, key, ca = self._files
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca))
        context.load_cert_chain(str(cert), str(key))
        if self._stamp is not None:
            log.info("kubelet client certificate or CA changed; new connections use the new one")
            self._drop_kept()
        self.context, self._stamp = context, stamp
        self.generation += 1

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # No overall timeout: a session lasts as long as the user keeps it; connecting is bounded.
            # No connection limit: every open session holds one (aiohttp's default of 100 would make
            # the 101st exec wait for another to end). The client's keep-alive (15 s) stays below the
            # kubelet server's (75 s), so an idle connection is dropped here before the kubelet drops it.
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=10.0),
                connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=15.0),
            )
        return self._session

    def _drop_kept(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # made before any loop ran: nothing kept yet
        task = loop.create_task(self.kept.clear())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        await self.kept.clear(closing=True)
        if self._session is not None:
            await self._session.close()

    def url(self, node: Any, path: str) -> tuple[str, str]:
        """https URL on the node's stream endpoint, and the name its certificate must carry (the node's)."""
        self._refresh()
        if self.context is None:
            raise TemporaryError(
                "this apiserver has no kubelet client certificate (--kubelet-client-certificate, --kubelet-client-key, "
                "--kubelet-certificate-authority), so it cannot reach kubelets' streams", delay=30,
            )
        name = node["metadata"]["name"]
        endpoint = (node.get("status") or {}).get("streamEndpoint") or ""
        if not endpoint:
            raise TemporaryError(f"node {name} publishes no stream endpoint (its kubelet runs without --stream-cert-file)", delay=5)
        return f"https://{endpoint}{path}", name

    async def ws_connect(self, node: Any, path: str, params: list[tuple[str, str]]) -> aiohttp.ClientWebSocketResponse:
        """A WebSocket to `path` on the node's kubelet; the upgrade is bounded (a pooled connection to a
        host that vanished without closing it would otherwise wait forever)."""
        url, server_name = self.url(node, path)
        async with asyncio.timeout(HANDSHAKE_TIMEOUT):
            return await self.session().ws_connect(
                url, params=params, protocols=(STREAM_PROTOCOL,), ssl=self.context, server_hostname=server_name,
                max_msg_size=4 * 1024 * 1024, heartbeat=30.0,
            )

    async def open_session(self, node: Any, sub: str, name: str, params: list[tuple[str, str]]) -> KubeletSession:
        """A connection for an exec or attach session with the node's kubelet, not yet started: a kept
        WebSocket to its `/sessions` when one is idle, else a new one (kept afterwards); one of its
        own to `/SUB/NAME` (started by its upgrade) when the kubelet is an older one without `/sessions`."""
        url, server_name = self.url(node, SESSIONS_PATH)
        if url not in self._no_sessions:
            key = (url, server_name, self.generation)
            start = start_message(sub, name, params)
            idle = self.kept.take(key)
            if idle is not None:
                self.kept.refill(key, lambda: self._dial_sessions(url, server_name))
                return KubeletSession(idle.ws, kept=self.kept, key=key, born=idle.born, start=start, watcher=idle.watcher)
            try:
                ws = await self._dial_sessions(url, server_name)
            except aiohttp.WSServerHandshakeError as exc:
                if exc.status != 404:
                    raise
                log.info("the kubelet of node %s has no %s; one WebSocket per session", server_name, SESSIONS_PATH)
                self._no_sessions.add(url)
            else:
                self.dialed += 1
                self.kept.refill(key, lambda: self._dial_sessions(url, server_name))
                return KubeletSession(ws, kept=self.kept, key=key, born=time.monotonic(), start=start)
        return KubeletSession(await self.ws_connect(node, f"/{sub}/{name}", params))

    async def _dial_sessions(self, url: str, server_name: str) -> aiohttp.ClientWebSocketResponse:
        async with asyncio.timeout(HANDSHAKE_TIMEOUT):
            return await self.session().ws_connect(
                url, protocols=(SESSIONS_PROTOCOL,), ssl=self.context, server_hostname=server_name,
                max_msg_size=4 * 1024 * 1024, heartbeat=30.0,
            )


HANDSHAKE_TIMEOUT = 10.0  # seconds for a kubelet to answer a stream's upgrade


async def container_and_node(store: Store, name: str, *, need_running: bool) -> tuple[Any, Any]:
    """The container and its node from etcd; Conflict when it is not scheduled, not running (if asked) or its node is gone."""
    container = await store.get("containers", name)
    node_name = container["spec"].get("nodeName")
    phase = (container.get("status") or {}).get("phase") or "Pending"
    if not node_name:
        raise Conflict(f"container {name} is not scheduled to a node yet ({phase})")
    if need_running and phase != "Running":
        raise Conflict(f"container {name} is {phase}")
    try:
        node = await store.get("nodes", node_name)
    except NotFound:
        raise Conflict(f"container {name} is bound to node {node_name}, which is not registered") from None
    return container, node


class Lookup:
    """A container and its node for a stream, from the watch caches when they hold them, else from etcd.

    The caches lag etcd by the watch's delivery (milliseconds), so only an answer that lets the
    session go ahead comes from them: a cached container that is not Running, not scheduled or not
    there is read again from etcd before the user is refused (an exec right after the client saw it
    Running must not fail). Going ahead on a copy a few ms old is safe because the kubelet checks
    with LXC that the container runs before it passes anything of the command on, and the access
    decision does not depend on the container's fields. A container deleted in those ms: its old node's kubelet
    answers that it is gone. A stale node (its kubelet moved to a new port) fails the dial, and the
    caller asks again with `fresh=True`."""

    def __init__(self, store: Store, caches: dict[str, Any] | None = None) -> None:
        self.store, self.caches = store, caches or {}

    def _cached(self, plural: str, name: str) -> Any | None:
        cache = self.caches.get(plural)
        if cache is None or not getattr(cache, "running", False):
            return None
        return cache.latest(name)

    async def __call__(self, name: str, *, need_running: bool, fresh: bool = False) -> tuple[Any, Any, bool]:
        """(container, node, from_cache)."""
        if not fresh:
            container = self._cached("containers", name)
            if container is not None:
                node_name = container["spec"].get("nodeName")
                phase = (container.get("status") or {}).get("phase")
                node = self._cached("nodes", node_name) if node_name else None
                if node is not None and (phase == "Running" or not need_running):
                    return container, node, True
        container, node = await container_and_node(self.store, name, need_running=need_running)
        return container, node, False


BEARER_PROTOCOL = "base64url.bearer.authorization.k8s.io."


class _Headers:
    def __init__(self, authorization: str) -> None:
        self.headers = {"authorization": authorization}


def _with_protocol_token(websocket: WebSocket) -> Any:
    """A browser's WebSocket cannot send an Authorization header; as in Kubernetes it may offer the
    token as the subprotocol `base64url.bearer.authorization.k8s.io.<base64url of the token>`."""
    if websocket.headers.get("authorization"):
        return websocket
    for offered in websocket.scope.get("subprotocols") or []:
        if offered.startswith(BEARER_PROTOCOL):
            encoded = offered[len(BEARER_PROTOCOL):]
            try:
                token = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
            except (ValueError, UnicodeDecodeError):
                raise Unauthorized("the token in the WebSocket subprotocol is not base64url") from None
            return _Headers(f"Bearer {token}")
    return websocket


def _printable(text: str) -> str:
    """Control characters (a script's newlines) written as escapes: an Event's message is one line."""
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode() for ch in text)


def _denial(exc: ApiError) -> JSONResponse:
    safe = exc.message.encode("ascii", "replace").decode()[:1000]
    return JSONResponse(exc.to_body(), status_code=exc.status, headers={ERROR_HEADER: safe})


class _DenialIsAHandshake(logging.Filter):
    """uvicorn's websockets-sansio protocol logs "returned without completing handshake" after a
    denial response (an HTTP answer to the upgrade), which is the handshake's proper end; every
    stream endpoint here either denies or accepts, so the line is only ever noise."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != "ASGI callable returned without completing handshake."


_NOISE = _DenialIsAHandshake()


class StreamProxy:
    """Opens one WebSocket session to a container's kubelet for an authenticated user: the checks,
    the audit Event and the dial, then the splice. Shared by the API's exec/attach and the browser
    terminal (apiserver.terminal), which authenticates with its own one-time session instead."""

    def __init__(self, *, store: Store, events: Registry, dialer: KubeletDialer, lookup: Lookup | None = None) -> None:
        self.store, self.events, self.dialer = store, events, dialer
        self.lookup = lookup or Lookup(store)
        self._writes: set[asyncio.Task[None]] = set()  # audit writes in flight

    async def audit(self, identity: Identity, container: Any, *, reason: str, what: str) -> None:
        """An Event per session: who, which container, what; never anything sent on stdin."""
        spec = {
            "involvedObject": {"kind": "Container", "name": container["metadata"]["name"], "uid": container["metadata"].get("uid")},
            "type": "Normal",
            "reason": reason,
            "message": _printable(f"{identity.name} ({identity.role}): {what}")[:4000],
            "source": {"component": "apiserver", "host": ""},
        }
        await self.events.create({"metadata": {"name": event_name(spec)}, "spec": spec})

    async def _dial(self, name: str, sub: str, params: list[tuple[str, str]], node: Any, *, cached: bool) -> KubeletSession:
        """A session with the kubelet of `node`, not yet started. A dial that fails on a node from the
        watch cache is tried once more with the node read from etcd (its kubelet may have restarted
        on another port)."""
        try:
            return await self.dialer.open_session(node, sub, name, params)
        except (aiohttp.ClientError, OSError, TimeoutError):
            if not cached:
                raise
        _container, node, _ = await self.lookup(name, need_running=True, fresh=True)
        return await self.dialer.open_session(node, sub, name, params)

    async def _start(
        self, upstream: KubeletSession, name: str, sub: str, params: list[tuple[str, str]], node: Any, *, cached: bool,
    ) -> KubeletSession:
        """The session started; a kept connection that broke while idle is replaced once (the kubelet
        had not read the start on it, so nothing runs twice)."""
        try:
            await upstream.start()
        except ConnectionResetError:
            upstream = await self._dial(name, sub, params, node, cached=cached)
            await upstream.start()
        return upstream

    async def serve(
        self, websocket: WebSocket, *, name: str, sub: str, reason: str,
        authenticate: Callable[[], Awaitable[tuple[Identity, list[tuple[str, str]], str]]],
        check: Callable[[Any], None] | None = None, refuse_in_session: bool = False,
    ) -> None:
        """authenticate() gives the identity, the query for the kubelet and what to record; check(container)
        may refuse. A refusal is an HTTP answer to the upgrade, or with `refuse_in_session` (for browsers,
        which cannot read a refused upgrade) an accepted socket that carries only the Failure status.

        The audit Event is written while the session starts, not before: the guarantee is that no
        client learns how a session ended (its status) before its Event is stored, and that a
        session whose Event cannot be stored is ended at once (the kubelet hangs it up) with a
        Failure status saying so. An Event that failed before the kubelet connection was ready
        refuses the session as before. A client that leaves early does not stop the write."""
        try:
            identity, params, what = await authenticate()
            # A check (the terminal's: the same container uid as when its link was made) is a security
            # decision, so it is made on a copy read from etcd, never on a cached one.
            container, node, cached = await self.lookup(name, need_running=True, fresh=check is not None)
            if check is not None:
                check(container)
            audit = self._write_audit(identity, container, reason=reason, what=what, session=f"{sub} {name}")
            try:
                upstream = await self._dial(name, sub, params, node, cached=cached)
            except BaseException:
                await asyncio.wait([audit])  # the refusal says why the dial failed; a failed write is logged
                raise
            try:
                if (error := _audit_error(audit)) is not None:
                    raise error  # failed already: no session at all
                upstream = await self._start(upstream, name, sub, params, node, cached=cached)
            except BaseException:
                await upstream.close()
                raise
        except ApiError as exc:
            await self._refuse(websocket, exc, in_session=refuse_in_session)
            return
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            log.warning("cannot reach the kubelet for %s/%s: %s", name, sub, exc)
            error = TemporaryError(f"cannot reach the kubelet of container {name}: {exc or 'no answer in time'}", delay=5)
            await self._refuse(websocket, error, in_session=refuse_in_session)
            return
        log.info("%s %s (%s): %s", reason.lower(), name, identity.name, what)
        try:
            await websocket.accept(subprotocol=_chosen(websocket))
            await _splice(websocket, upstream, audit)
        finally:
            await upstream.close()

    def _write_audit(self, identity: Identity, container: Any, *, reason: str, what: str, session: str) -> asyncio.Task[None]:
        """The audit write as a task of its own, so neither a client that leaves nor the end of the
        session's handler cancels it; a failure is logged with who and what (the record of last resort)."""
        task = asyncio.get_running_loop().create_task(self.audit(identity, container, reason=reason, what=what))
        self._writes.add(task)

        def done(task: asyncio.Task[None]) -> None:
            self._writes.discard(task)
            if (error := _audit_error(task)) is not None:
                log.error("the audit Event of %s (%s: %s) could not be stored: %s", session, identity.name, what, error)

        task.add_done_callback(done)
        return task

    @staticmethod
    async def _refuse(websocket: WebSocket, exc: ApiError, *, in_session: bool) -> None:
        if not in_session:
            await websocket.send_denial_response(_denial(exc))
            return
        status = {"status": "Failure", "reason": exc.reason, "code": exc.status, "message": exc.message}
        await websocket.accept(subprotocol=_chosen(websocket))
        await websocket.send_bytes(bytes([STATUS_CHANNEL]) + json.dumps(status).encode())
        await websocket.close(code=1000)


STATUS_CHANNEL = 3
STATUS_BYTE = bytes([STATUS_CHANNEL])


def _chosen(websocket: WebSocket) -> str | None:
    return STREAM_PROTOCOL if STREAM_PROTOCOL in (websocket.scope.get("subprotocols") or []) else None


LOG_NODE_CHECK = 2.0  # seconds between looks, while a log is followed, at whether its node still serves it


def add_stream_routes(
    app: FastAPI, *, prefix: str, store: Store, events: Registry, dialer: KubeletDialer,
    identity_of: Callable[[Any], Awaitable[Identity]], caches: dict[str, Any] | None = None,
) -> StreamProxy:
    """The exec/attach/log routes (and backup archives); `caches` (plural → WatchCache) answer the
    container and node lookups when they hold them (see Lookup)."""
    base = f"{prefix}/containers/{{name}}"
    uvicorn_log = logging.getLogger("uvicorn.error")
    if _NOISE not in uvicorn_log.filters:
        uvicorn_log.addFilter(_NOISE)
    lookup = Lookup(store, caches)
    proxy = StreamProxy(store=store, events=events, dialer=dialer, lookup=lookup)

    def websocket_route(sub: str, reason: str, describe: Callable[[WebSocket], str]) -> None:
        async def endpoint(websocket: WebSocket) -> None:
            name = websocket.path_params["name"]

            async def authenticate() -> tuple[Identity, list[tuple[str, str]], str]:
                identity = await identity_of(_with_protocol_token(websocket))
                authorize(identity, verb="create", plural="containers", name=name, subresource=sub, bound_node=None)
                if sub == "exec" and not websocket.query_params.getlist("command"):
                    raise BadRequest("no command given", details=[{"field": "command", "message": "give at least one"}])
                return identity, list(websocket.query_params.multi_items()), describe(websocket)

            await proxy.serve(websocket, name=name, sub=sub, reason=reason, authenticate=authenticate)

        app.router.routes.append(WebSocketRoute(f"{base}/{sub}", endpoint, name=f"{sub}_container"))

    websocket_route("exec", "Exec", lambda ws: "exec " + shlex.join(ws.query_params.getlist("command")))
    websocket_route("attach", "Attach", lambda ws: "attach to the console")

    async def logs(request: Request) -> Response:
        name = request.path_params["name"]
        identity = await identity_of(request)
        authorize(identity, verb="get", plural="containers", name=name, subresource="log", bound_node=None)
        params = [(k, v) for k, v in request.query_params.multi_items() if k in ("follow", "tail", "since", "previous")]
        _container, node, cached = await lookup(name, need_running=False)
        try:
            try:
                url, server_name = dialer.url(node, f"/logs/{name}")
                upstream = await dialer.session().get(url, params=params, ssl=dialer.context, server_hostname=server_name)
            except (aiohttp.ClientError, OSError):
                if not cached:
                    raise
                _container, node, _ = await lookup(name, need_running=False, fresh=True)  # the node may have moved
                url, server_name = dialer.url(node, f"/logs/{name}")
                upstream = await dialer.session().get(url, params=params, ssl=dialer.context, server_hostname=server_name)
        except (aiohttp.ClientError, OSError) as exc:
            raise TemporaryError(f"cannot reach the kubelet of container {name}: {exc}", delay=5) from None
        if upstream.status != 200:
            text = (await upstream.text()).strip()
            upstream.release()
            if upstream.status == 404:
                raise NotFound(text)
            raise BadRequest(text or f"the kubelet answered {upstream.status}")

        following = request.query_params.get("follow") not in (None, "", "0", "false")
        served_by = node["metadata"]["name"]
        why_cut: list[str] = []

        async def watch_the_node() -> None:
            # A kubelet whose host died sends no FIN: the follow would wait for bytes forever (an
            # exec has its heartbeat; a log stream has none). End it once the container is no longer
            # served there (deleted, moved, its node not Ready).
            while True:
                await asyncio.sleep(LOG_NODE_CHECK)
                try:
                    _c, now_node, _ = await lookup(name, need_running=False)
                except NotFound:
                    why_cut.append("")
                except Conflict as exc:
                    why_cut.append(exc.message)
                except ApiError:
                    continue  # etcd away for a moment: look again, the stream goes on meanwhile
                else:
                    if now_node["metadata"]["name"] != served_by:
                        why_cut.append(f"container {name} moved to node {now_node['metadata']['name']}")
                    elif not node_ready(now_node):
                        why_cut.append(f"node {served_by} is not Ready")
                if why_cut:
                    upstream.close()
                    return

        async def body() -> Any:
            watchdog = asyncio.create_task(watch_the_node()) if following else None
            try:
                async for chunk in upstream.content.iter_any():
                    yield chunk
            except (aiohttp.ClientError, OSError) as exc:
                if not following:
                    raise  # a dump cut short must not look complete: the client sees the body end unfinished
                # The body just ends: `dlxc logs -f` finds the container still there and says why it stopped.
                log.info("log of container %s from node %s cut off: %s", name, served_by, why_cut[0] if why_cut else exc)
            finally:
                if watchdog is not None:
                    watchdog.cancel()
                upstream.release()

        return StreamingResponse(body(), media_type="text/plain; charset=utf-8")

    route = Route(f"{base}/log", logs, methods=["GET"], name="log_container")
    route.methods.discard("HEAD")
    app.router.routes.append(route)
    _add_archive_routes(app, prefix=prefix, store=store, dialer=dialer, identity_of=identity_of)
    return proxy


def _add_archive_routes(
    app: FastAPI, *, prefix: str, store: Store, dialer: KubeletDialer, identity_of: Callable[[Any], Awaitable[Identity]],
) -> None:
    """GET/PUT backups/NAME/archive: a backup's archive read from, or written to, the kubelet of the
    node its status names (`dlxc export` / `dlxc import`). Like exec, only roles that may create
    (admin): an archive holds every file of the container. One exception: a node may read the
    archive it restores a container bound to it from (`?for=CONTAINER`, a move or a restore to
    another node, or a failover), so nodes need no shared --backup-dir."""

    async def node_of(request: Request, *, reading: bool = False) -> tuple[str, Any]:
        name = request.path_params["name"]
        identity = await identity_of(request)
        backup = await _readable_by_node(store, identity, name, request.query_params.get("for")) if reading else None
        if backup is None:
            authorize(identity, verb="create", plural="backups", name=name, subresource="archive", bound_node=None)
            backup = await store.get("backups", name)
        node_name = (backup.get("status") or {}).get("node")
        if not node_name:
            raise Conflict(f"backup {name} names no node (status.node): no kubelet holds its archive")
        try:
            node = await store.get("nodes", node_name)
        except NotFound:
            raise Conflict(f"backup {name} is on node {node_name}, which is not registered") from None
        return name, node

    async def upstream_error(upstream: aiohttp.ClientResponse) -> ApiError:
        text = (await upstream.text()).strip()
        upstream.release()
        if upstream.status == 404:
            return NotFound(text)
        if upstream.status == 409:
            return Conflict(text)
        if upstream.status == 422:
            from dlxc.client.errors import Invalid

            return Invalid(text, details=[{"field": "body", "message": text}])
        return BadRequest(text or f"the kubelet answered {upstream.status}")

    async def read(request: Request) -> Response:
        name, node = await node_of(request, reading=True)
        url, server_name = dialer.url(node, f"/backups/{name}")
        try:
            upstream = await dialer.session().get(url, ssl=dialer.context, server_hostname=server_name)
        except (aiohttp.ClientError, OSError) as exc:
            raise TemporaryError(f"cannot reach the kubelet of node {node['metadata']['name']}: {exc}", delay=5) from None
        if upstream.status != 200:
            raise await upstream_error(upstream)

        async def body() -> Any:
            try:
                async for chunk in upstream.content.iter_any():
                    yield chunk
            finally:
                upstream.release()

        headers = {"Content-Length": upstream.headers["Content-Length"]} if "Content-Length" in upstream.headers else {}
        return StreamingResponse(body(), media_type="application/octet-stream", headers=headers)

    async def write(request: Request) -> Response:
        name, node = await node_of(request)
        url, server_name = dialer.url(node, f"/backups/{name}")
        try:
            async with dialer.session().put(url, data=request.stream(), ssl=dialer.context, server_hostname=server_name) as upstream:
                if upstream.status != 200:
                    raise await upstream_error(upstream)
                answer = await upstream.read()
        except (aiohttp.ClientError, OSError) as exc:
            raise TemporaryError(f"cannot reach the kubelet of node {node['metadata']['name']}: {exc}", delay=5) from None
        return Response(answer, media_type="application/json")

    for method, endpoint in (("GET", read), ("PUT", write)):
        route = Route(f"{prefix}/backups/{{name}}/archive", endpoint, methods=[method], name=f"{method.lower()}_backup_archive")
        route.methods.discard("HEAD")
        app.router.routes.append(route)


async def _readable_by_node(store: Store, identity: Identity, name: str, container: str | None) -> Any | None:
    """The Backup `name` when `identity` is the node that `container` (bound to it) is restored
    from it on; None when the caller is not a node asking for one (the admin rule applies)."""
    node = identity.node
    if node is None or not container:
        return None
    try:
        target = await store.get("containers", container)
    except NotFound:
        raise Forbidden(f"{identity.name} may not read the archive of backup {name}: container {container} does not exist") from None
    backup = await store.get("backups", name)
    annotations = target["metadata"].get("annotations") or {}
    # Restored from it by name, or the very container it was made of (same uid: a failover).
    ours = annotations.get(RESTORE_ANNOTATION) == name or (
        (backup.get("spec") or {}).get("container") == container
        and (backup.get("status") or {}).get("containerUid") == target["metadata"].get("uid"))
    if target["spec"].get("nodeName") != node or not ours:
        raise Forbidden(f"{identity.name} may not read the archive of backup {name}: it is not restoring "
                        f"container {container} from it on node {node}")
    return backup


def _audit_error(audit: asyncio.Future[None]) -> BaseException | None:
    """Why the audit write failed, once it has; None while it runs or when it succeeded."""
    if not audit.done():
        return None
    if audit.cancelled():
        return TemporaryError("the apiserver is stopping", delay=5)
    return audit.exception()


async def _splice(websocket: WebSocket, upstream: KubeletSession, audit: asyncio.Future[None]) -> None:
    """Messages both ways until either side ends; the kubelet's close ends the client's socket.
    The status is passed on only once the session's audit Event is stored; a failed write ends the
    session, and the client gets a Failure status saying why. The status is a session's last
    message, so the client's socket is closed right after it; the kubelet's end marker, which lets
    its WebSocket be kept, is read after that, off the client's path."""
    status_sent = False

    async def up() -> None:
        while True:
            try:
                message = await websocket.receive()
            except WebSocketDisconnect:
                return
            if message["type"] == "websocket.disconnect":
                return
            if message.get("bytes") is not None:
                await upstream.send_bytes(message["bytes"])
            elif message.get("text") is not None:
                await upstream.send_str(message["text"])

    async def down() -> None:
        nonlocal status_sent
        async for message in upstream:
            if status_sent:
                continue  # nothing of a session follows its status but the end marker
            if message.type == aiohttp.WSMsgType.BINARY:
                is_status = message.data[:1] == STATUS_BYTE
                if is_status and not audit.done():
                    await asyncio.wait([audit])
                if _audit_error(audit) is not None:
                    return
                await websocket.send_bytes(message.data)
                if is_status:
                    status_sent = True
                    await _close(websocket)
            elif message.type == aiohttp.WSMsgType.TEXT:
                await websocket.send_text(message.data)

    tasks = [asyncio.create_task(up()), asyncio.create_task(down())]
    waiting: set[asyncio.Future[Any]] = {*tasks, audit}
    try:
        while True:
            # Once the client's socket is closed after the status, the end marker is due at once.
            timeout = END_MARKER_WAIT if status_sent and tasks[0].done() else None
            done, _ = await asyncio.wait(waiting, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            waiting -= done
            if not done or tasks[1] in done or _audit_error(audit) is not None:
                break
            if tasks[0] in done and not status_sent:
                break  # the client left mid-session: the kubelet hangs it up when its socket closes
    finally:
        await cancel_and_wait(*tasks)
    failed = _audit_error(audit)
    if failed is not None and not status_sent:
        status = {"status": "Failure", "reason": "AuditFailed", "code": 503,
                  "message": f"the session was ended: its audit Event could not be stored ({failed})"}
        try:
            await websocket.send_bytes(STATUS_BYTE + json.dumps(status).encode())
        except (RuntimeError, WebSocketDisconnect, OSError):
            pass
    await _close(websocket)


END_MARKER_WAIT = 5.0  # seconds for the kubelet's end marker after a status, before its WebSocket is dropped


async def _close(websocket: WebSocket) -> None:
    try:
        await websocket.close()
    except (RuntimeError, WebSocketDisconnect, OSError):
        pass  # closed already, or the client is gone
