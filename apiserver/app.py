"""The FastAPI application: REST routes per kind, auth, JSON errors and NDJSON watch streams."""
from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel

from apiserver.auth import Identity, TokenFile, authorize
from apiserver.registry import Registry
from apiserver.selectors import Selector, parse_field_selector, parse_label_selector
from apiserver.storage import Store, WatchEvent
from dlxc.errors import ApiError, BadRequest, Gone, NotFound, PayloadTooLarge
from schemas import API_VERSION, KINDS, Kind

__all__ = ["ApiServerSettings", "create_app"]

log = logging.getLogger("dlxc.apiserver")

MAX_BODY = 1024 * 1024
PREFIX = f"/apis/{API_VERSION}"


class ApiServerSettings(BaseModel):
    etcd_endpoints: list[str] = ["http://127.0.0.1:2379"]
    etcd_prefix: str = "/dlxc"
    token_file: Path | None = None  # None: no authentication (tests of the pure API only)


def _error(exc: ApiError) -> JSONResponse:
    return JSONResponse(exc.to_body(), status_code=exc.status)


async def _read_json(request: Request) -> Any:
    length = request.headers.get("content-length")
    if length and int(length) > MAX_BODY:
        raise PayloadTooLarge(f"the body is larger than {MAX_BODY} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > MAX_BODY:
            raise PayloadTooLarge(f"the body is larger than {MAX_BODY} bytes")
    try:
        return json.loads(body or b"null")
    except ValueError as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}") from None


def create_app(settings: ApiServerSettings) -> FastAPI:
    store = Store(settings.etcd_endpoints, prefix=settings.etcd_prefix)
    tokens = TokenFile(settings.token_file) if settings.token_file else None
    registries = {kind.plural: Registry(store, kind) for kind in KINDS}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await store.connect()
        try:
            yield
        finally:
            await store.close()

    app = FastAPI(title="dlxc apiserver", version="v1", lifespan=lifespan)
    app.state.store = store

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return _error(exc)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return JSONResponse({"reason": "InternalError", "message": "internal error", "details": [], "code": 500}, 500)

    def identity_of(request: Request) -> Identity:
        if tokens is None:
            return Identity("anonymous", "admin")
        return tokens.authenticate(request.headers.get("authorization"))

    async def check(request: Request, verb: str, kind: Kind, name: str | None, sub: str | None) -> None:
        identity = identity_of(request)
        bound = None
        if identity.node and kind.plural == "containers" and name and verb not in ("get", "list", "watch"):
            try:
                bound = (await store.get(kind.plural, name))["spec"].get("nodeName")
            except NotFound:
                bound = None
        authorize(identity, verb=verb, plural=kind.plural, name=name, subresource=sub, bound_node=bound)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        try:
            await store.list("nodes")
        except ApiError as exc:
            return _error(exc)
        return JSONResponse({"status": "ok"})

    for kind in KINDS:
        _add_routes(app, kind, registries[kind.plural], store, check)
    return app


def _selector(request: Request) -> Selector:
    return Selector(
        labels=parse_label_selector(request.query_params.get("labelSelector")),
        fields=parse_field_selector(request.query_params.get("fieldSelector")),
    )


def _dry_run(request: Request) -> bool:
    value = request.query_params.get("dryRun")
    if value not in (None, "", "All"):
        raise BadRequest("dryRun must be All")
    return value == "All"


def _add_routes(app: FastAPI, kind: Kind, registry: Registry, store: Store, check: Any) -> None:
    base = f"{PREFIX}/{kind.plural}"
    tag = kind.name

    @app.get(base, tags=[tag], name=f"list_{kind.plural}")
    async def list_objects(request: Request) -> Any:
        selector = _selector(request)
        if request.query_params.get("watch") in ("1", "true"):
            await check(request, "watch", kind, None, None)
            rv = request.query_params.get("resourceVersion")
            return StreamingResponse(_watch_stream(store, kind, selector, rv), media_type="application/x-ndjson")
        await check(request, "list", kind, None, None)
        items, revision = await store.list(kind.plural)
        return {
            "apiVersion": API_VERSION,
            "kind": f"{kind.name}List",
            "metadata": {"resourceVersion": str(revision)},
            "items": [o for o in items if selector.matches(o)],
        }

    @app.post(base, tags=[tag], status_code=201, name=f"create_{kind.name.lower()}")
    async def create_object(request: Request) -> Any:
        body = await _read_json(request)
        meta = body.get("metadata") if isinstance(body, dict) else None
        name = meta.get("name") if isinstance(meta, dict) and isinstance(meta.get("name"), str) else None
        await check(request, "create", kind, name, None)
        return await registry.create(body, dry_run=_dry_run(request))

    @app.get(base + "/{name}", tags=[tag], name=f"get_{kind.name.lower()}")
    async def get_object(name: str, request: Request) -> Any:
        await check(request, "get", kind, name, None)
        return await store.get(kind.plural, name)

    @app.put(base + "/{name}", tags=[tag], name=f"replace_{kind.name.lower()}")
    async def replace_object(name: str, request: Request) -> Any:
        await check(request, "update", kind, name, None)
        return await registry.replace(name, await _read_json(request), dry_run=_dry_run(request))

    @app.patch(base + "/{name}", tags=[tag], name=f"patch_{kind.name.lower()}")
    async def patch_object(name: str, request: Request) -> Any:
        body = await _read_json(request)
        only_finalizers = (
            isinstance(body, dict)
            and set(body) == {"metadata"}
            and isinstance(body["metadata"], dict)
            and set(body["metadata"]) <= {"finalizers", "resourceVersion"}
        )
        await check(request, "patch", kind, name, "finalizers" if only_finalizers else None)
        return await registry.patch(name, body, dry_run=_dry_run(request))

    @app.delete(base + "/{name}", tags=[tag], name=f"delete_{kind.name.lower()}")
    async def delete_object(name: str, request: Request) -> Any:
        await check(request, "delete", kind, name, None)
        return await registry.delete(name, dry_run=_dry_run(request))

    @app.put(base + "/{name}/status", tags=[tag], name=f"replace_{kind.name.lower()}_status")
    async def replace_status(name: str, request: Request) -> Any:
        await check(request, "update", kind, name, "status")
        return await registry.replace_status(name, await _read_json(request))

    if kind.name == "Container":

        @app.post(base + "/{name}/binding", tags=[tag], status_code=201, name="bind_container")
        async def bind(name: str, request: Request) -> Any:
            await check(request, "create", kind, name, "binding")
            return await registry.bind(name, await _read_json(request))


def _event_line(kind: str, obj: dict[str, Any]) -> bytes:
    return json.dumps({"type": kind, "object": obj}, separators=(",", ":")).encode() + b"\n"


async def _watch_stream(store: Store, kind: Kind, selector: Selector, rv: str | None) -> AsyncIterator[bytes]:
    """ADDED/MODIFIED/DELETED lines after rv (or the current state first when rv is absent or 0)."""
    try:
        if not rv or rv == "0":
            items, revision = await store.list(kind.plural)
            for obj in items:
                if selector.matches(obj):
                    yield _event_line("ADDED", obj)
        else:
            try:
                revision = int(rv)
            except ValueError:
                raise BadRequest(f"resourceVersion {rv!r} is not a number") from None
        async for event in store.watch(kind.plural, since=revision):
            line = _translate(event, selector)
            if line is not None:
                yield line
    except Gone as exc:
        yield _event_line("ERROR", exc.to_body())
    except ApiError as exc:
        yield _event_line("ERROR", exc.to_body())
    except asyncio.CancelledError:
        raise


def _translate(event: WatchEvent, selector: Selector) -> bytes | None:
    """A store change as the watcher sees it through its selector: leaving the selection is DELETED."""
    now = event.kind == "PUT" and selector.matches(event.obj)
    before = event.prev is not None and selector.matches(event.prev)
    if event.kind == "DELETE":
        return _event_line("DELETED", event.obj) if before else None
    if now:
        return _event_line("MODIFIED" if before else "ADDED", event.obj)
    if before:
        return _event_line("DELETED", event.obj)
    return None
