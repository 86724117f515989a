"""The browser terminal: one-time links to a login shell in a container, and the page that opens it.

An admin asks `POST .../containers/NAME/terminal` and gets `https://APISERVER/terminal/#TOKEN`.
The token is random and kept only as its SHA-256 in etcd (`terminals/<hash>`), so every apiserver
of the cluster honours it and any of them can refuse its second use. The token sits in the URL's
fragment, which browsers never send to a server or in a Referer, so it stays out of access logs
and link previews. The page (static, xterm.js vendored in `terminal_static/`) exchanges it at once
for a session secret (`POST /terminal/session`): that marks the link used, in an etcd transaction
conditioned on the record not having moved, so of two racing uses one wins. The page then opens
`/terminal/stream` with the session secret as a WebSocket subprotocol; the session works once,
within SESSION_SECONDS, so neither the link nor the session can be replayed. The stream is the
exec stream of apiserver.streams (a login shell with a TTY), audited as the link's maker.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket

from apiserver.auth import Identity, authorize
from apiserver.body import read_json
from apiserver.storage import Store
from apiserver.streams import StreamProxy, container_and_node
from dlxc.client.errors import ApiError, BadRequest, Conflict, Gone, NotFound, Unauthorized
from schemas.base import iso_time

__all__ = ["DEFAULT_TTL", "MAX_TTL", "PLURAL", "SESSION_PROTOCOL", "SESSION_SECONDS", "add_terminal_routes"]

PLURAL = "terminals"
DEFAULT_TTL = 600
MAX_TTL = 24 * 3600
SESSION_SECONDS = 60  # between the page's exchange of the link and its WebSocket
SESSION_PROTOCOL = "dlxc.terminal.session."  # + the session id, offered as a WebSocket subprotocol
STATIC = Path(__file__).parent / "terminal_static"
# The same login shell as `dlxc enter`: bash -l where installed, else the POSIX shell as a login shell.
LOGIN_SHELL = ["/bin/sh", "-c", "if command -v bash >/dev/null 2>&1; then exec bash -l; fi; exec /bin/sh -l"]
KEEP_USED = 3600  # a used or expired record stays this long, so a late second use is told why
_PAGE_HEADERS = {
    # Scripts and styles only from here (xterm.js adds <style> elements for its colours).
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "connect-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


def _again(container: str) -> str:
    return f"ask an admin for a new link (`dlxc terminal {container}`)"


def parse_request(body: Any) -> tuple[int, str | None]:
    """ttlSeconds and user of a link request, or 400 naming the field."""
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object", details=[{"field": "body", "message": "must be a JSON object"}])
    unknown = sorted(set(body) - {"ttlSeconds", "user"})
    if unknown:
        raise BadRequest(f"unknown field {unknown[0]!r}", details=[{"field": f, "message": "unknown field"} for f in unknown])
    ttl = body.get("ttlSeconds", DEFAULT_TTL)
    if isinstance(ttl, bool) or not isinstance(ttl, int) or not 1 <= ttl <= MAX_TTL:
        raise BadRequest(
            f"ttlSeconds must be a whole number of seconds from 1 to {MAX_TTL}",
            details=[{"field": "ttlSeconds", "message": f"must be an integer from 1 to {MAX_TTL}"}],
        )
    user = body.get("user")
    if user is not None and (not isinstance(user, str) or not user or len(user) > 64 or not user.isprintable()):
        raise BadRequest("user must be a user name or uid", details=[{"field": "user", "message": "must be a name or uid, 1-64 characters"}])
    return ttl, user


def refusal(record: Any, *, now: datetime) -> ApiError | None:
    """Why a link can no longer be exchanged, or None when it can."""
    container = record["container"]
    if record.get("usedAt"):
        return Gone(f"this terminal link was already used (at {record['usedAt']}); a link opens one terminal only: {_again(container)}")
    if datetime.fromisoformat(record["expiresAt"]) <= now:
        return Gone(f"this terminal link expired at {record['expiresAt']}: {_again(container)}")
    return None


def session_refusal(record: Any, secret: str, *, now: datetime) -> ApiError | None:
    """Why a session secret cannot open the stream, or None when it can."""
    if not record.get("sessionHash") or not hmac.compare_digest(record["sessionHash"], _digest(secret)):
        return Unauthorized("the terminal session is not valid")
    if record.get("sessionUsedAt"):
        return Gone(f"this terminal session was already opened (at {record['sessionUsedAt']}): {_again(record['container'])}")
    if datetime.fromisoformat(record["sessionExpiresAt"]) <= now:
        return Gone(f"this terminal session was not opened within {SESSION_SECONDS} s: {_again(record['container'])}")
    return None


def _terminal_size(websocket: WebSocket) -> list[tuple[str, str]]:
    out = []
    for key in ("width", "height"):
        value = websocket.query_params.get(key, "")
        if value.isdigit() and 0 < int(value) <= 1000:
            out.append((key, value))
    return out


def add_terminal_routes(
    app: Any, *, prefix: str, store: Store, proxy: StreamProxy, identity_of: Callable[[Any], Awaitable[Identity]],
) -> None:
    async def create_link(request: Request) -> Response:
        name = request.path_params["name"]
        identity = await identity_of(request)
        authorize(identity, verb="create", plural="containers", name=name, subresource="terminal", bound_node=None)
        ttl, user = parse_request(await read_json(request))
        container, _node = await container_and_node(store, name, need_running=True)
        await _collect(store)
        token = secrets.token_urlsafe(32)
        created = _now()
        expires = created + timedelta(seconds=ttl)
        record = {
            "metadata": {"name": _digest(token)},
            "container": name,
            "containerUid": container["metadata"].get("uid"),
            "user": user,
            "createdBy": {"name": identity.name, "role": identity.role},
            "createdAt": iso_time(created),
            "expiresAt": iso_time(expires),
        }
        await store.create(PLURAL, record["metadata"]["name"], record)
        await proxy.audit(identity, container, reason="TerminalLink", what=f"made a browser terminal link{_as(user)}, valid until {record['expiresAt']}")
        url = str(request.base_url).rstrip("/") + f"/terminal/#{token}"
        return JSONResponse({"url": url, "container": name, "expiresAt": record["expiresAt"]}, status_code=201)

    async def exchange(request: Request) -> Response:
        """The page trades its link's token for a session secret; the link is spent from here on."""
        body = await read_json(request)
        token = body.get("token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token or len(token) > 200:
            raise BadRequest("give the link's token", details=[{"field": "token", "message": "must be the token of a terminal link"}])
        key = _digest(token)
        try:
            record = await store.get(PLURAL, key)
        except NotFound:
            raise NotFound("this terminal link is not valid (no such link; it may have been cleaned up after it expired)") from None
        now = _now()
        if (why := refusal(record, now=now)) is not None:
            raise why
        secret = secrets.token_urlsafe(32)
        rv = int(record["metadata"]["resourceVersion"])
        used = {**record, "metadata": {"name": key}}
        used.update(usedAt=iso_time(now), sessionHash=_digest(secret), sessionExpiresAt=iso_time(now + timedelta(seconds=SESSION_SECONDS)))
        try:
            await store.update(PLURAL, key, used, expected_rv=rv)
        except (Conflict, NotFound):
            raise Gone(f"this terminal link was already used: {_again(record['container'])}") from None
        return JSONResponse(
            {"session": f"{key}.{secret}", "container": record["container"], "user": record.get("user"), "expiresAt": used["sessionExpiresAt"]},
            status_code=201,
        )

    async def stream(websocket: WebSocket) -> None:
        offered = [p for p in websocket.scope.get("subprotocols") or [] if p.startswith(SESSION_PROTOCOL)]
        key, _, secret = (offered[0][len(SESSION_PROTOCOL):] if offered else "").partition(".")
        record: dict[str, Any] = {}

        async def authenticate() -> tuple[Identity, list[tuple[str, str]], str]:
            if not key or not secret:
                raise Unauthorized(f"no terminal session: offer the subprotocol {SESSION_PROTOCOL}<session>")
            try:
                found = await store.get(PLURAL, key)
            except NotFound:
                raise Unauthorized("the terminal session is not valid") from None
            if (why := session_refusal(found, secret, now=_now())) is not None:
                raise why
            opened = {**found, "metadata": {"name": key}}
            opened["sessionUsedAt"] = iso_time(_now())
            try:
                await store.update(PLURAL, key, opened, expected_rv=int(found["metadata"]["resourceVersion"]))
            except (Conflict, NotFound):
                raise Gone("this terminal session was already opened") from None
            record.update(found)
            maker = found["createdBy"]
            params = [("command", arg) for arg in LOGIN_SHELL] + [("stdin", "1"), ("tty", "1"), ("term", "xterm-256color")]
            if found.get("user"):
                params.append(("user", found["user"]))
            params += _terminal_size(websocket)
            what = f"browser terminal{_as(found.get('user'))}, from the link made at {found['createdAt']}"
            return Identity(maker["name"], maker["role"]), params, what

        def same_container(container: Any) -> None:
            if container["metadata"].get("uid") != record["containerUid"]:
                raise Gone(f"container {record['container']} was deleted and made again since the link was made: {_again(record['container'])}")

        name = await _container_of(store, key)
        await proxy.serve(websocket, name=name, sub="exec", reason="Terminal", authenticate=authenticate,
                          check=same_container, refuse_in_session=True)

    async def page(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers=_PAGE_HEADERS)

    async def to_page(request: Request) -> Response:
        return RedirectResponse("/terminal/", status_code=308)

    async def exchange_route(request: Request) -> Response:
        try:
            return await exchange(request)
        except ApiError as exc:
            return JSONResponse(exc.to_body(), status_code=exc.status, headers={"Cache-Control": "no-store"})

    routes: list[Any] = [
        Route(f"{prefix}/containers/{{name}}/terminal", create_link, methods=["POST"], name="terminal_container"),
        Route("/terminal", to_page, methods=["GET"], name="terminal_redirect"),
        Route("/terminal/", page, methods=["GET"], name="terminal_page"),
        Route("/terminal/session", exchange_route, methods=["POST"], name="terminal_session"),
        WebSocketRoute("/terminal/stream", stream, name="terminal_stream"),
        Mount("/terminal/static", StaticFiles(directory=STATIC / "static"), name="terminal_static"),
    ]
    for route in routes:
        if isinstance(route, Route):
            route.methods.discard("HEAD")
        app.router.routes.append(route)


def _as(user: str | None) -> str:
    return f" as {user}" if user else ""


async def _container_of(store: Store, key: str) -> str:
    """The container a session is for, to name in a refusal; '' when the session names no record."""
    if not key:
        return ""
    try:
        return str((await store.get(PLURAL, key))["container"])
    except NotFound:
        return ""


async def _collect(store: Store) -> None:
    """Forget links that expired more than KEEP_USED ago (each new link sweeps; there are few)."""
    items, _ = await store.list(PLURAL)
    cutoff = _now() - timedelta(seconds=KEEP_USED)
    for item in items:
        if datetime.fromisoformat(item["expiresAt"]) < cutoff:
            try:
                await store.delete(PLURAL, item["metadata"]["name"], expected_rv=int(item["metadata"]["resourceVersion"]))
            except (Conflict, NotFound):
                pass
