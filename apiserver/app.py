"""The FastAPI application: REST routes per kind, auth, JSON errors and NDJSON watch streams."""
from __future__ import annotations

import asyncio
import json
import logging
import platform
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Route

import dlxc
from apiserver.auth import Identity, TokenFile, authorize
from apiserver.body import read_json
from apiserver.codec import dumps
from apiserver.endpoints import ApiServerEndpoints
from apiserver.heartbeats import Heartbeats
from apiserver.ipam import ClusterNetwork
from apiserver.joins import JoinService
from apiserver.members import EtcdMembers
from apiserver.openapi import build_openapi
from apiserver.registry import Admission, Registry
from apiserver.renewals import RenewalStream
from apiserver.selectors import Selector, parse_field_selector, parse_label_selector
from apiserver.settings import ApiServerSettings
from apiserver.storage import LEASE_FENCE, Store
from apiserver.streams import KubeletDialer, add_stream_routes
from apiserver.terminal import add_terminal_routes
from apiserver.tokens import PLURAL as TOKENS
from apiserver.tokens import Authenticator, TokenRegistry
from apiserver.ui.site import create_dashboard
from apiserver.usage import KubeletUsage, add_usage_routes
from apiserver.watchcache import WatchCache
from apiserver.watchstream import watch_stream
from dlxc.client.errors import ApiError, BadRequest, Invalid, NotFound
from dlxc.tasks import cancel_and_wait
from schemas import API_VERSION, KINDS, Kind
from schemas.base import DNS_LABEL, Obj
from schemas.wire import BACKUP_FINALIZER, LXC_FINALIZER

__all__ = ["ApiServerSettings", "create_app"]

log = logging.getLogger("dlxc.apiserver")

PREFIX = f"/apis/{API_VERSION}"


def _ok(obj: Any, status: int = 200) -> Response:
    """An object as JSON, encoded here: FastAPI's own encoder costs more than the etcd write."""
    return Response(dumps(obj), status_code=status, media_type="application/json")


def _error(exc: ApiError) -> JSONResponse:
    return JSONResponse(exc.to_body(), status_code=exc.status)


Check = Callable[..., Awaitable[None]]
Endpoint = Callable[[Request], Awaitable[Response]]


def create_app(settings: ApiServerSettings) -> FastAPI:
    store = Store(settings.etcd_endpoints, prefix=settings.etcd_prefix)
    token_file = TokenFile(settings.token_file) if settings.token_file else None
    token_registry = TokenRegistry(store, token_file=token_file)
    authenticator = Authenticator(token_file, token_registry) if token_file else None
    admission = Admission(allow_privileged=settings.allow_privileged, allowed_host_paths=settings.allowed_host_paths)
    caches = {
        kind.plural: WatchCache(store, kind.plural, capacity=settings.watch_cache_size, queue_size=settings.watch_queue_size)
        for kind in KINDS
    }
    network = ClusterNetwork(store, settings.cluster_cidr)
    registries = {
        kind.plural: Registry(store, kind, admission=admission, cached=caches[kind.plural].latest, ipam=network) for kind in KINDS
    }
    registries["containers"].events = registries["events"]  # a bind records its Scheduled event with it
    heartbeats = Heartbeats(store, expire_after=settings.heartbeat_expire_after)
    endpoints = ApiServerEndpoints(store, settings.advertise_url, session=lambda: heartbeats.session)

    async def authenticate(header: str | None) -> Identity:
        if authenticator is None:
            return Identity("anonymous", "admin")
        return await authenticator.authenticate(header)

    # The web dashboard, under /ui/ on this port: the same stores, caches and token check as the API.
    dialer = KubeletDialer(
        cert=settings.kubelet_client_certificate, key=settings.kubelet_client_key, ca=settings.kubelet_certificate_authority
    )
    usage = KubeletUsage(store=store, dialer=dialer)  # usage metrics from the kubelets' memory (apiserver/usage.py)
    dashboard = create_dashboard(store=store, caches=caches, registries=registries, authenticate=authenticate, usage=usage)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await store.connect()
        caches["leases"].listeners.append(heartbeats.observe)
        beating = asyncio.create_task(heartbeats.run())
        publishing = asyncio.create_task(endpoints.run())
        try:
            await caches["leases"].start()  # heartbeats must see Leases written or deleted elsewhere
        except ApiError as exc:
            log.warning("leases watch not started yet: %s", exc.message)
        try:
            yield
        finally:
            await cancel_and_wait(beating, publishing)  # the publisher's key deleted before the store closes
            await dashboard.stop()
            await dialer.close()
            for cache in caches.values():
                await cache.stop()
            await store.close()

    app = ApiApp(title="dlxc apiserver", version="v1", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(LeaseFenceMiddleware)
    app.state.store = store
    app.state.caches = caches
    app.state.heartbeats = heartbeats
    app.mount("/ui", dashboard.app)
    dashboard.api = app

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return _error(exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        reason = {404: "NotFound", 405: "MethodNotAllowed"}.get(exc.status_code, "BadRequest")
        return JSONResponse({"reason": reason, "message": str(exc.detail), "details": [], "code": exc.status_code}, exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def _request_invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = [{"field": ".".join(str(p) for p in e["loc"]), "message": str(e["msg"])} for e in exc.errors()]
        return JSONResponse({"reason": "BadRequest", "message": "the request is invalid", "details": details, "code": 400}, 400)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return JSONResponse({"reason": "InternalError", "message": "internal error", "details": [], "code": 500}, 500)

    async def identity_of(request: Any) -> Identity:  # a Request, a WebSocket, or anything with .headers (streams)
        scope = getattr(request, "scope", None)
        return await authenticate(_header(scope, b"authorization") if scope is not None else request.headers.get("authorization"))

    async def check(request: Request, verb: str, kind: Kind, name: str | None, sub: str | None, *, patch: Any = None) -> None:
        await allow(await identity_of(request), verb, kind, name, sub, patch=patch)

    async def allow(identity: Identity, verb: str, kind: Kind, name: str | None, sub: str | None, *, patch: Any = None) -> None:
        """`check` for an identity already known (each item of a batch is authorized as its own request)."""
        bound = None
        if identity.node and kind.plural in _FINALIZER_OF and name and verb not in ("get", "list", "watch"):
            try:
                current = await store.get(kind.plural, name)
            except NotFound:
                current = None
            if current is not None:
                bound = current["spec"].get("nodeName")
                if sub is None and verb == "patch" and _only_kubelet_finalizer(current, patch, _FINALIZER_OF[kind.plural]):
                    sub = "finalizers"
        authorize(identity, verb=verb, plural=kind.plural, name=name, subresource=sub, bound_node=bound)

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi(request: Request) -> JSONResponse:
        await identity_of(request)
        return JSONResponse(build_openapi(KINDS))

    @app.get("/version", include_in_schema=False)
    async def version(request: Request) -> JSONResponse:
        """The server's release and the API version it serves (`dlxc version`)."""
        await identity_of(request)
        return JSONResponse(server_version())

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    async def readyz() -> JSONResponse:
        try:
            await store.revision()
        except ApiError as exc:
            return _error(exc)
        return JSONResponse({"status": "ok"})

    for kind in KINDS:
        _add_routes(app, kind, registries[kind.plural], store, caches[kind.plural], check, settings, heartbeats)
    _add_binding_batch_route(app, registries["containers"], identity_of, allow)
    app.fast_routes = _fast_routes(app)
    _add_token_routes(app, token_registry, identity_of)
    _add_event_batch_route(app, registries["events"], check)
    joins = JoinService(store, token_registry, ca_key_file=settings.ca_key_file, ca_file=settings.ca_file, endpoints=endpoints)

    async def join(request: Request) -> Response:
        return _ok(await joins.join(request.headers.get("authorization"), await read_json(request)), 201)

    async def node_certificate(request: Request) -> Response:
        return _ok(joins.node_certificate(await identity_of(request), await read_json(request)), 201)

    members = EtcdMembers(store)

    async def list_etcd_members(request: Request) -> Response:
        authorize(await identity_of(request), verb="list", plural="etcdmembers", name=None, subresource=None, bound_node=None)
        return _ok(await members.list())

    async def remove_etcd_member(request: Request) -> Response:
        name = request.path_params["name"]
        authorize(await identity_of(request), verb="delete", plural="etcdmembers", name=name, subresource=None, bound_node=None)
        return _ok(await members.remove(name))

    async def apiservers(request: Request) -> Response:
        # Any credential: a kubelet must learn where else to go before the apiserver it uses is gone.
        await identity_of(request)
        return _ok({"apiVersion": API_VERSION, "kind": "ApiServerList", "servers": await endpoints.servers()})

    async def cacert(request: Request) -> Response:
        # Public by design: the joining host compares it with the --ca-hash it was given before it
        # sends its join token, so serving it to anyone gives nothing away.
        if settings.ca_file is None:
            raise NotFound("this apiserver was started without --ca-file; it serves no CA certificate")
        return Response(settings.ca_file.read_bytes(), media_type="application/x-pem-file")

    for path, method, endpoint in ((f"{PREFIX}/joins", "POST", join), (f"{PREFIX}/nodecertificates", "POST", node_certificate),
                                   ("/cacert", "GET", cacert), ("/apiservers", "GET", apiservers),
                                   (f"{PREFIX}/etcdmembers", "GET", list_etcd_members),
                                   (f"{PREFIX}/etcdmembers/{{name}}", "DELETE", remove_etcd_member)):
        added = Route(path, endpoint, methods=[method], name=endpoint.__name__)
        added.methods.discard("HEAD")
        app.router.routes.append(added)
    proxy = add_stream_routes(
        app, prefix=PREFIX, store=store, events=registries["events"], dialer=dialer, identity_of=identity_of, caches=caches
    )
    add_terminal_routes(app, prefix=PREFIX, store=store, proxy=proxy, identity_of=identity_of)
    add_usage_routes(app, prefix=PREFIX, usage=usage, identity_of=identity_of)
    return app


def _add_token_routes(app: FastAPI, registry: TokenRegistry, identity_of: Callable[[Request], Awaitable[Identity]]) -> None:
    """Tokens are not a watchable kind: create (the answer holds the secret, once), list, get, revoke; admin only."""
    base = f"{PREFIX}/{TOKENS}"

    async def allow(request: Request, verb: str, name: str | None) -> None:
        authorize(await identity_of(request), verb=verb, plural=TOKENS, name=name, subresource=None, bound_node=None)

    async def create_token(request: Request) -> Response:
        await allow(request, "create", None)
        return _ok(await registry.create(await read_json(request), dry_run=_dry_run(request)), 201)

    async def list_tokens(request: Request) -> Response:
        await allow(request, "list", None)
        return _ok(await registry.list())

    async def get_token(request: Request) -> Response:
        name = request.path_params["name"]
        await allow(request, "get", name)
        return _ok(await registry.get(name))

    async def revoke_token(request: Request) -> Response:
        name = request.path_params["name"]
        await allow(request, "delete", name)
        return _ok(await registry.revoke(name, dry_run=_dry_run(request)))

    for path, method, endpoint in (
        (base, "POST", create_token), (base, "GET", list_tokens),
        (base + "/{name}", "GET", get_token), (base + "/{name}", "DELETE", revoke_token),
    ):
        added = Route(path, endpoint, methods=[method], name=endpoint.__name__)
        added.methods.discard("HEAD")
        app.router.routes.append(added)


MAX_EVENT_BATCH = 100


def batch_items(body: Any, what: str, items_are: str, limit: int) -> list[Any]:
    """The items of a batch body `{"items": [...]}` holding 1 to `limit` of them, and nothing else."""
    items = body.get("items") if isinstance(body, dict) else None
    if not isinstance(items, list) or not 1 <= len(items) <= limit:
        raise BadRequest(f"{what} is {{\"items\": [...]}} with 1 to {limit} {items_are}",
                         details=[{"field": "items", "message": f"must be a list of 1 to {limit} {items_are}"}])
    extra = sorted(k for k in body if k not in ("apiVersion", "kind", "items"))
    if extra:
        raise BadRequest(f"{what} has only items", details=[{"field": k, "message": "unknown field"} for k in extra])
    return items


def _add_event_batch_route(app: FastAPI, registry: Registry, check: Check) -> None:
    """`POST .../eventbatches`: up to MAX_EVENT_BATCH Events in one request (dlxc.client.events sends
    what queued up while its last post was in flight). Each is created, or counted again, exactly as
    `POST .../events` would; the answer has one line per item, in order: its code, and the Event or
    the error. Authorized once, as a create of events."""
    kind = registry.kind

    async def one(item: Any) -> Obj:
        try:
            return {"code": 201, "object": await registry.create(item)}
        except ApiError as exc:
            return exc.to_body()

    async def create_events(request: Request) -> Response:
        await check(request, "create", kind, None, None)
        items = batch_items(await read_json(request), "an event batch", "Events", MAX_EVENT_BATCH)
        answers = await asyncio.gather(*(one(item) for item in items))
        return _ok({"apiVersion": API_VERSION, "kind": "EventBatchResult", "items": answers})

    added = Route(f"{PREFIX}/eventbatches", create_events, methods=["POST"], name="create_event_batch")
    added.methods.discard("HEAD")
    app.router.routes.append(added)


MAX_BINDING_BATCH = 100


def _add_binding_batch_route(app: FastAPI, registry: Registry, identity_of: Callable[[Request], Awaitable[Identity]],
                             allow: Callable[..., Awaitable[None]]) -> None:
    """`POST .../bindingbatches`: up to MAX_BINDING_BATCH binds in one request (the scheduler sends what
    it decided while its last requests were in flight). Each item is a Binding plus the container's
    `name`, and is authorized and carried out exactly as `POST .../containers/NAME/binding` (its own
    conditioned etcd transaction, with its Event); the items run concurrently. The answer has one line
    per item, in order: its name and code, with the new resourceVersion or the error. Not the whole
    object: the scheduler reads nothing else of it, and a hundred containers would be most of the answer."""
    kind = registry.kind

    async def one(identity: Identity, item: Any, dry_run: bool) -> Obj:
        name = item.get("name") if isinstance(item, dict) else None
        try:
            if not isinstance(item, dict):
                raise Invalid("a binding batch item is a JSON object", details=[{"field": "items", "message": "must be objects"}])
            if not isinstance(name, str) or len(name) > 63 or not DNS_LABEL.match(name):
                message = "must be the container's name (a DNS-1123 label)"
                raise Invalid(f"binding: name {name!r} {message}", details=[{"field": "name", "message": message}])
            await allow(identity, "create", kind, name, "binding")
            bound = await registry.bind(name, {k: v for k, v in item.items() if k != "name"}, dry_run=dry_run)
        except ApiError as exc:
            return {"name": name, **exc.to_body()} if isinstance(name, str) else exc.to_body()
        return {"name": name, "code": 201, "resourceVersion": bound["metadata"].get("resourceVersion")}

    async def bind_batch(request: Request) -> Response:
        identity = await identity_of(request)
        dry_run = _dry_run(request)
        items = batch_items(await read_json(request), "a binding batch", "bindings", MAX_BINDING_BATCH)
        answers = await asyncio.gather(*(one(identity, item, dry_run) for item in items))
        return _ok({"apiVersion": API_VERSION, "kind": "BindingBatchResult", "items": answers})

    added = Route(f"{PREFIX}/bindingbatches", bind_batch, methods=["POST"], name="bind_container_batch")
    added.methods.discard("HEAD")
    added.fast = True  # type: ignore[attr-defined]  # served by ApiApp's short way, as the single bind
    app.router.routes.append(added)


FENCE_HEADER = b"x-dlxc-lease-fence"


class LeaseFenceMiddleware:
    """`X-Dlxc-Lease-Fence: LEASE=RESOURCEVERSION` conditions every write of the request on that Lease
    still being the one created at that resourceVersion (the leader's term: its fencing token), in the
    write's own etcd transaction."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await fenced(self.app, scope, receive, send)


async def fenced(app: Any, scope: Any, receive: Any, send: Any) -> None:
    """Run an ASGI app with the request's lease fence (X-Dlxc-Lease-Fence) in force; 400 when it is malformed."""
    raw = _header(scope, FENCE_HEADER)
    if raw is None:
        await app(scope, receive, send)
        return
    name, _, rv = raw.strip().partition("=")
    if not name or not rv.isdigit():
        body = BadRequest(
            "X-Dlxc-Lease-Fence must be LEASE=RESOURCEVERSION",
            details=[{"field": "X-Dlxc-Lease-Fence", "message": "must be LEASE=RESOURCEVERSION"}],
        ).to_body()
        await JSONResponse(body, status_code=400)(scope, receive, send)
        return
    token = LEASE_FENCE.set((name, int(rv)))
    try:
        await app(scope, receive, send)
    finally:
        LEASE_FENCE.reset(token)


def _header(scope: Any, name: bytes) -> str | None:
    """A request header (lower-case name) straight from the ASGI scope: Starlette's Headers object
    costs more than the lookup, on every request."""
    for key, value in scope.get("headers") or ():
        if key == name:
            return value.decode("latin-1")
    return None


FastRoutes = dict[tuple[str, str, str], Endpoint]


class ApiApp(FastAPI):
    """FastAPI with a short way in for the object routes (`/apis/dlxc.io/v1/PLURAL[/NAME[/SUB]]`).

    Each request through FastAPI passes about ten ASGI layers (exception and telemetry middleware,
    the body limit, an exit stack, a scan of every route) before its handler runs; on the hot paths
    that cost as much as the handler's own work. The short way runs the same handler with the same
    lease fence and the same JSON errors; anything else (another method, the dashboard, streams)
    takes the long way.
    """

    fast_routes: FastRoutes = {}
    # Long streams that are ASGI apps themselves (a node's renewal stream: its every line is hot).
    stream_routes: dict[tuple[str, str, str], Any] = {}

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            endpoint = _fast_match(self.fast_routes, scope)
            if endpoint is not None:
                await fenced(_Handled(endpoint), scope, receive, send)
                return
            stream = _fast_match(self.stream_routes, scope)
            if stream is not None:
                await fenced(stream, scope, receive, send)
                return
        await super().__call__(scope, receive, send)


class _Handled:
    """One fast route as an ASGI app: the handler's answer, or its error as the exception handlers would say it."""

    __slots__ = ("endpoint",)

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            response = await self.endpoint(Request(scope, receive))
        except ApiError as exc:
            response = _error(exc)
        except Exception:
            log.exception("unexpected error on %s %s", scope["method"], scope["path"])
            response = JSONResponse({"reason": "InternalError", "message": "internal error", "details": [], "code": 500}, 500)
        await response(scope, receive, send)


def _fast_routes(app: FastAPI) -> FastRoutes:
    """(method, plural, "{name}..." shape) -> handler, for every plain route under PREFIX/PLURAL."""
    table: FastRoutes = {}
    for route in app.router.routes:
        if not isinstance(route, Route) or not route.path.startswith(PREFIX + "/") or not route.methods:
            continue
        if route.endpoint is None or not getattr(route, "fast", False):
            continue
        plural, _, shape = route.path[len(PREFIX) + 1:].partition("/")
        for method in route.methods:
            table[(method, plural, shape)] = route.endpoint
    return table


def _fast_match(table: FastRoutes, scope: Any) -> Endpoint | None:
    path: str = scope["path"]
    if not table or not path.startswith(PREFIX + "/"):
        return None
    parts = path[len(PREFIX) + 1:].split("/")
    if len(parts) == 1:
        shape, params = "", {}
    elif len(parts) in (2, 3) and parts[1]:
        shape, params = "{name}" if len(parts) == 2 else "{name}/" + parts[2], {"name": parts[1]}
    else:
        return None
    endpoint = table.get((scope["method"], parts[0], shape))
    if endpoint is not None:
        scope["path_params"] = params
    return endpoint


# The finalizer a kubelet may add or remove on objects of a kind (a Backup's archive is the kubelet's).
_FINALIZER_OF = {"containers": LXC_FINALIZER, "backups": BACKUP_FINALIZER}


def _only_kubelet_finalizer(current: dict[str, Any], patch: Any, finalizer: str = LXC_FINALIZER) -> bool:
    """A patch that touches nothing but metadata.finalizers, adding or removing only the kubelet's own."""
    if not isinstance(patch, dict) or set(patch) != {"metadata"} or not isinstance(patch["metadata"], dict):
        return False
    meta = patch["metadata"]
    if not set(meta) <= {"finalizers", "resourceVersion"} or "finalizers" not in meta:
        return False
    wanted = meta["finalizers"] or []
    if not isinstance(wanted, list) or not all(isinstance(f, str) for f in wanted):
        return False
    changed = set(wanted) ^ set(current["metadata"].get("finalizers") or [])
    return changed <= {finalizer}


_META = b'"metadata":{'


def _listed(raw: list[tuple[bytes, int]], selector: Selector) -> list[bytes]:
    """Stored objects as list items. Without a selector the stored bytes are used as they are, with
    the resourceVersion spliced in: decoding and re-encoding 10k objects would cost most of a LIST."""
    out = []
    for value, mod_revision in raw:
        at = value.find(_META)
        # The server writes apiVersion and kind first, so metadata starts within the first bytes.
        if selector.empty and 0 <= at < 96 and value[at + len(_META):at + len(_META) + 1] == b'"':
            cut = at + len(_META)
            out.append(value[:cut] + b'"resourceVersion":"%d",' % mod_revision + value[cut:])
            continue
        obj = json.loads(value)
        obj.setdefault("metadata", {})["resourceVersion"] = str(mod_revision)
        if selector.matches(obj):
            out.append(json.dumps(obj, separators=(",", ":")).encode())
    return out


def _selector(request: Request) -> Selector:
    return Selector(
        labels=parse_label_selector(request.query_params.get("labelSelector")),
        fields=parse_field_selector(request.query_params.get("fieldSelector")),
    )


def _timeout(request: Request) -> float | None:
    value = request.query_params.get("timeoutSeconds")
    if value in (None, ""):
        return None
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds <= 86400:
        raise BadRequest(
            "timeoutSeconds must be a number of seconds between 0 and 86400",
            details=[{"field": "timeoutSeconds", "message": "must be > 0 and <= 86400"}],
        )
    return seconds


def _dry_run(request: Request) -> bool:
    value = request.query_params.get("dryRun")
    if value not in (None, "", "All"):
        raise BadRequest("dryRun must be All", details=[{"field": "dryRun", "message": "must be All"}])
    return value == "All"


def server_version() -> dict[str, str]:
    return {"version": dlxc.__version__, "apiVersion": API_VERSION, "python": platform.python_version()}


def _add_routes(
    app: FastAPI, kind: Kind, registry: Registry, store: Store, cache: WatchCache, check: Check, settings: ApiServerSettings,
    heartbeats: Heartbeats,
) -> None:
    base = f"{PREFIX}/{kind.plural}"
    lower = kind.name.lower()

    def route(path: str, method: str, *, name: str) -> Callable[[Endpoint], Endpoint]:
        """A plain Starlette route: FastAPI's parameter solving would parse the Cookie header of every
        request, and these handlers take nothing but the request. HEAD stays 405, as on FastAPI's routes."""

        def add(endpoint: Endpoint) -> Endpoint:
            added = Route(path, endpoint, methods=[method], name=name)
            added.methods.discard("HEAD")
            added.fast = True  # type: ignore[attr-defined]  # served by ApiApp's short way too
            app.router.routes.append(added)
            return endpoint

        return add

    @route(base, "GET", name=f"list_{kind.plural}")
    async def list_objects(request: Request) -> Response:
        selector = _selector(request)
        if request.query_params.get("watch") in ("1", "true"):
            await check(request, "watch", kind, None, None)
            rv = request.query_params.get("resourceVersion")
            if rv and not rv.isdigit():
                raise BadRequest(
                    f"resourceVersion {rv!r} is not a number",
                    details=[{"field": "resourceVersion", "message": "must be a number"}],
                )
            stream = watch_stream(
                store, cache, kind, selector, rv, bookmark_interval=settings.bookmark_interval, timeout=_timeout(request)
            )
            return StreamingResponse(stream, media_type="application/x-ndjson")
        await check(request, "list", kind, None, None)
        raw, revision = await store.list_raw(kind.plural)
        head = json.dumps(
            {"apiVersion": API_VERSION, "kind": f"{kind.name}List", "metadata": {"resourceVersion": str(revision)}},
            separators=(",", ":"),
        ).encode()
        return Response(head[:-1] + b',"items":[' + b",".join(_listed(raw, selector)) + b"]}", media_type="application/json")

    @route(base, "POST", name=f"create_{lower}")
    async def create_object(request: Request) -> Response:
        body = await read_json(request)
        meta = body.get("metadata") if isinstance(body, dict) else None
        name = meta.get("name") if isinstance(meta, dict) and isinstance(meta.get("name"), str) else None
        await check(request, "create", kind, name, None)
        dry_run = _dry_run(request)
        with heartbeats.writing(kind.plural, None if dry_run else name, body) as attached:
            created = await registry.create(body, dry_run=dry_run)
        if attached:
            heartbeats.wrote(created)
        return _ok(created, 201)

    @route(base + "/{name}", "GET", name=f"get_{lower}")
    async def get_object(request: Request) -> Response:
        name = request.path_params["name"]
        await check(request, "get", kind, name, None)
        obj = await store.get(kind.plural, name)
        renewed = heartbeats.current(name) if kind.plural == "leases" else None
        if renewed is not None and renewed["metadata"]["resourceVersion"] == obj["metadata"]["resourceVersion"]:
            obj = renewed  # renewTime as renewed in memory
        return _ok(obj)

    @route(base + "/{name}", "PUT", name=f"replace_{lower}")
    async def replace_object(request: Request) -> Response:
        name = request.path_params["name"]
        await check(request, "update", kind, name, None)
        body, dry_run = await read_json(request), _dry_run(request)
        with heartbeats.writing(kind.plural, None if dry_run else name, body) as attached:
            replaced = await registry.replace(name, body, dry_run=dry_run)
        if attached:
            heartbeats.wrote(replaced)
        return _ok(replaced)

    @route(base + "/{name}", "PATCH", name=f"patch_{lower}")
    async def patch_object(request: Request) -> Response:
        name = request.path_params["name"]
        body = await read_json(request)
        await check(request, "patch", kind, name, None, patch=body)
        dry_run = _dry_run(request)
        if kind.plural == "leases" and not dry_run:
            renewed = heartbeats.renew(name, body)  # a node's heartbeat: no etcd write
            if renewed is not None:
                return _ok(renewed)
        with heartbeats.writing(kind.plural, None if dry_run else name, body) as attached:
            patched = await registry.patch(name, body, dry_run=dry_run)
        if attached:
            heartbeats.wrote(patched)
        return _ok(patched)

    @route(base + "/{name}", "DELETE", name=f"delete_{lower}")
    async def delete_object(request: Request) -> Response:
        name = request.path_params["name"]
        await check(request, "delete", kind, name, None)
        if kind.plural == "leases":
            heartbeats.forget(name)
        return _ok(await registry.delete(name, dry_run=_dry_run(request)))

    @route(base + "/{name}/status", "GET", name=f"get_{lower}_status")
    async def get_status(request: Request) -> Response:
        name = request.path_params["name"]
        await check(request, "get", kind, name, "status")
        return _ok(await store.get(kind.plural, name))

    @route(base + "/{name}/status", "PUT", name=f"replace_{lower}_status")
    async def replace_status(request: Request) -> Response:
        name = request.path_params["name"]
        await check(request, "update", kind, name, "status")
        return _ok(await registry.replace_status(name, await read_json(request), dry_run=_dry_run(request)))

    @route(base + "/{name}/status", "PATCH", name=f"patch_{lower}_status")
    async def patch_status(request: Request) -> Response:
        name = request.path_params["name"]
        body = await read_json(request)
        await check(request, "patch", kind, name, "status")
        return _ok(await registry.patch_status(name, body, dry_run=_dry_run(request)))

    if kind.name == "Lease":
        stream = RenewalStream(registry, heartbeats, check, kind)
        renewals = Route(base + "/{name}/renewals", stream, methods=["POST"], name="renew_lease_stream")
        renewals.methods.discard("HEAD")
        app.router.routes.append(renewals)
        app.stream_routes = {**app.stream_routes, ("POST", kind.plural, "{name}/renewals"): stream}

    if kind.name == "Container":

        @route(base + "/{name}/binding", "POST", name="bind_container")
        async def bind(request: Request) -> Response:
            name = request.path_params["name"]
            await check(request, "create", kind, name, "binding")
            return _ok(await registry.bind(name, await read_json(request), dry_run=_dry_run(request)), 201)

        @route(base + "/{name}/binding", "DELETE", name="unbind_container")
        async def unbind(request: Request) -> Response:
            name = request.path_params["name"]
            # Admin only (the node lifecycle controller): a node may never move containers.
            await check(request, "delete", kind, name, "binding")
            return _ok(await registry.unbind(name, await read_json(request), dry_run=_dry_run(request)))
