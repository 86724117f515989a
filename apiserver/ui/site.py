"""The dashboard's routes under /ui/: login, the pages, their live streams and the writes they make.

Pages are Jinja2 templates; htmx swaps fragments in, and its SSE extension swaps in what the
streams (apiserver.ui.live) send. Every write needs the session cookie and its CSRF token, and goes
through the API's own authorization (apiserver.ui.actions.LocalClient): a viewer gets 403 here too.
"""
from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import jinja2
import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from apiserver.etcdhealth import EtcdHealth, EtcdProbe
from apiserver.registry import Registry
from apiserver.usage import KubeletUsage
from apiserver.storage import Store
from apiserver.ui import views
from apiserver.ui.actions import CONTAINER_ACTIONS, LocalClient, container_action, set_cordon
from apiserver.ui.drains import Drains
from apiserver.ui.follow import follow_log
from apiserver.ui.live import PING, changes, sse
from apiserver.ui.login import login_routes
from apiserver.ui.responses import secured, streaming
from apiserver.ui.session import COOKIE, CSRF_HEADER, Authenticate, LoginLinks, Session, identify
from apiserver.watchcache import WatchCache
from dlxc.apply.applier import apply_set
from dlxc.apply.diff import unified_diff, user_view
from dlxc.apply.manifests import load_text
from dlxc.client.errors import ApiError, BadRequest, Forbidden, NotFound, Unauthorized
from schemas import API_VERSION
from schemas.base import Obj

__all__ = ["Dashboard", "create_dashboard"]

log = logging.getLogger("dlxc.apiserver.ui")
HERE = Path(__file__).parent
SETTLE = 0.5  # seconds a summary page's stream gathers a burst of changes before it re-renders
MAX_YAML = 1024 * 1024
GROUP_KINDS = ("containersets", "containerclusters")
# Seconds between two usage refreshes of an open page (the kubelets' samples come every 30 s by
# default; apiserver.usage keeps each answer a few seconds, so many open pages cost one fan-out).
USAGE_REFRESH = 15.0
# How long a page waits for the kubelets' usage before it renders without it: a slow or partitioned
# kubelet (its request times out after seconds) must not hold the table up. The fan-out goes on in
# the background and the page's live stream sends the numbers as soon as they are in.
PAGE_USAGE_WAIT = 0.5


@dataclass
class Dashboard:
    app: Starlette
    # The API app this dashboard is mounted in: the logs tab asks the API's own log route, in-process,
    # with the session's token, so its authorization and its path to the kubelet are the API's.
    api: Any = None

    async def stop(self) -> None:
        return None


def create_dashboard(
    *, store: Store, caches: dict[str, WatchCache], registries: dict[str, Registry], authenticate: Authenticate,
    usage: KubeletUsage,
) -> Dashboard:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True, trim_blocks=True, lstrip_blocks=True,
        undefined=jinja2.ChainableUndefined,
    )
    env.filters["bytes"] = views.human_bytes
    env.filters["sort_key"] = views.sort_key
    env.filters["age"] = lambda stamp, now: views.age(stamp, now=now)
    links = LoginLinks()
    etcd = EtcdProbe(store)
    drains = Drains()

    async def served(wait: float | None = None) -> dict[str, dict[str, float]] | None:
        """Every running container's latest sample (from the kubelets, never etcd); {} when none answer;
        None when they did not all answer within `wait` seconds (the asking goes on and is cached)."""
        try:
            view = await asyncio.wait_for(asyncio.shield(asyncio.ensure_future(usage.cluster())), wait)
        except asyncio.TimeoutError:
            return None
        except ApiError as exc:
            log.info("no usage for the dashboard: %s", exc.message)
            return {}
        return {c["name"]: c["usage"] for c in view["containers"]}

    async def chart(name: str) -> tuple[list[Any], dict[str, float] | None]:
        """A container's last hour (columns: times, cores, bytes) and latest sample, from its kubelet."""
        try:
            got = await usage.container(name)
        except ApiError:
            return [[], [], []], None
        history = got.get("history") or {}
        return [history.get("time") or [], history.get("cpu") or [], history.get("memory") or []], got.get("usage")

    def render(template: str, /, **context: Any) -> str:
        return env.get_template(template).render(**context)

    def page(request: Request, name: str, session: Session, **context: Any) -> HTMLResponse:
        return secured(HTMLResponse(render(name, session=session, path=request.url.path, **context)))

    def error(exc: ApiError) -> HTMLResponse:
        details = [f"{d.get('field')}: {d.get('message')}" for d in exc.details if d.get("field")]
        return secured(HTMLResponse(render("_error.html", message=exc.message, details=details), status_code=exc.status))

    async def session_of(request: Request) -> Session:
        token = request.cookies.get(COOKIE)
        if not token:
            raise Unauthorized("not logged in")
        return Session(token, await identify(authenticate, token))

    Handler = Callable[[Request, Session], Awaitable[Response]]

    def view(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        """A page: without a valid session, the login page (which comes back here after)."""

        async def endpoint(request: Request) -> Response:
            try:
                session = await session_of(request)
            except Unauthorized:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse(f"/ui/login?{urlencode({'next': target})}", status_code=303)
            try:
                return await handler(request, session)
            except ApiError as exc:
                return error(exc)

        return endpoint

    def write(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        """A write: a valid session, and its CSRF token in the X-CSRF-Token header or the csrf form field."""

        async def endpoint(request: Request) -> Response:
            try:
                session = await session_of(request)
            except Unauthorized as exc:
                return error(exc)
            sent = request.headers.get(CSRF_HEADER)
            if sent is None and request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
                sent = str((await request.form()).get("csrf") or "")
            if not sent or not hmac.compare_digest(sent.encode(), session.csrf.encode()):
                return error(Forbidden("the request has no valid CSRF token; reload the page and try again"))
            try:
                return await handler(request, session)
            except ApiError as exc:
                return error(exc)

        return endpoint

    def client(session: Session) -> LocalClient:
        return LocalClient(session.identity, store, registries)

    # ------------------------------------------------------------------ overview

    async def overview_state() -> tuple[dict[str, dict[str, Obj]], dict[str, int]]:
        state: dict[str, dict[str, Obj]] = {}
        since: dict[str, int] = {}
        for plural in ("nodes", "containers", "events", "leases"):
            items, revision = await store.list(plural)
            state[plural] = {o["metadata"]["name"]: o for o in items}
            since[plural] = revision
        return state, since

    def overview_context(state: dict[str, dict[str, Obj]], health: EtcdHealth) -> dict[str, Any]:
        now = views.now_utc()
        nodes, containers = list(state["nodes"].values()), list(state["containers"].values())
        return {
            "nodes": views.node_views(nodes, containers, now=now),
            "phases": views.phase_counts(containers),
            "total": len(containers),
            "warnings": views.warning_events(list(state["events"].values())),
            "leaders": views.leaders(list(state["leases"].values()), set(state["nodes"]), now=now),
            "etcd": {"members": store.endpoints, "in_use": store.endpoint, "health": health},
            "now": now,
        }

    async def overview(request: Request, session: Session) -> Response:
        state, _ = await overview_state()
        return page(request, "overview.html", session, **overview_context(state, await etcd.get()))

    async def overview_live(request: Request, session: Session) -> Response:
        async def stream() -> AsyncIterator[bytes]:
            state, since = await overview_state()
            health = await etcd.get()
            sent = render("_overview.html", **overview_context(state, health))
            yield sse("overview", sent)
            async for batch in changes({p: caches[p] for p in since}, since, settle=SETTLE):
                # etcd's health is in no watch: look again with every batch (at least every keepalive);
                # EtcdProbe answers from its last look for a few seconds, shared by every open page.
                health = await etcd.get()
                for plural, event in batch:
                    _apply(state[plural], event)
                html = render("_overview.html", **overview_context(state, health))
                # Most changes (heartbeats, lease renewals) change nothing shown: send only what differs.
                if html != sent:
                    yield sse("overview", html)
                    sent = html
                elif not batch:
                    yield PING

        return streaming(stream())

    # ------------------------------------------------------------------ containers

    async def containers(request: Request, session: Session) -> Response:
        flt = views.Filter.from_query(request.query_params)
        items, revision = await store.list("containers")
        now_usage = await served(wait=PAGE_USAGE_WAIT)
        every = [views.container_row(o, (now_usage or {}).get(o["metadata"]["name"])) for o in items]
        rows = views.sort_rows([r for r in every if flt.matches(r)], flt.sort, desc=flt.desc)
        nodes = sorted({r.node for r in every if r.node})
        pending = {"usage": "pending"} if now_usage is None else {}
        live = f"/ui/live/containers?{urlencode({'since': revision, **pending})}&{flt.query()}"
        return page(request, "containers.html", session, rows=rows, filter=flt, phases=views.PHASES, nodes=nodes,
                    live=live, total=len(items), now=views.now_utc(), can_write=session.may("patch", "containers"),
                    sort=flt.sort, direction=views.sort_direction(flt.sort, desc=flt.desc), numeric=flt.sort in views.NUMERIC_KEYS)

    async def usage_rows(samples: dict[str, dict[str, float]], flt: views.Filter) -> list[views.ContainerRow]:
        """The rows of the containers with these samples that the filter shows (from the store: the watch
        cache's `latest` knows only objects changed since it started)."""
        if not samples:
            return []
        items, _ = await store.list("containers")
        return [row for obj in items for name in [obj["metadata"]["name"]] if name in samples
                for row in [views.container_row(obj, samples[name])] if flt.matches(row)]

    async def containers_live(request: Request, session: Session) -> Response:
        flt = views.Filter.from_query(request.query_params)
        since = _int(request.query_params.get("since"))
        can_write = session.may("patch", "containers")

        async def stream() -> AsyncIterator[bytes]:
            shown = await served() or {}
            refreshed = time.monotonic()
            if request.query_params.get("usage") == "pending" and shown:
                # The page was drawn before the kubelets answered: its rows with numbers, now.
                rows = await usage_rows(shown, flt)
                if rows:
                    yield sse("rows", render("_rows.html", rows=rows, now=views.now_utc(), can_write=can_write, sort=flt.sort).strip())
            async for batch in changes({"containers": caches["containers"]}, {"containers": since}, keepalive=USAGE_REFRESH):
                now = views.now_utc()
                if time.monotonic() - refreshed >= USAGE_REFRESH:
                    # Usage is not in the objects: rows whose numbers moved are redrawn from a fresh look.
                    fresh, refreshed = await served() or {}, time.monotonic()
                    redraw = await usage_rows({name: sample for name, sample in fresh.items() if sample != shown.get(name)}, flt)
                    shown = fresh
                    if redraw:  # whole rows: the page's script (app.js) swaps each where the sort puts it
                        yield sse("rows", render("_rows.html", rows=redraw, now=now, can_write=can_write, sort=flt.sort).strip())
                if not batch:
                    yield PING
                    continue
                first, last = views.table_changes([event for _, event in batch], flt, usage=shown)
                # Each row to show, whole, and an empty row for each to take away: the page's script
                # (app.js) takes the old row out and puts the new one where the table's sort says.
                rows = [row for row in last.values() if row is not None]
                gone = [name for name, row in last.items() if row is None and first[name]]
                if rows or gone:
                    html = render("_rows.html", rows=rows, now=now, can_write=can_write, sort=flt.sort).strip()
                    yield sse("rows", html + "".join(f'<tr id="row-{escape(name)}" data-gone></tr>' for name in gone))

        return streaming(stream())

    async def container_actions(request: Request, session: Session) -> Response:
        form = await request.form()
        action = str(form.get("action") or "")
        names = [str(n) for n in form.getlist("name")]
        if not names:
            return error(BadRequest("select one or more containers first", details=[{"field": "name", "message": "none selected"}]))
        done, failed = [], []
        for name in names:
            try:
                await container_action(client(session), name, action)
                done.append(name)
            except Forbidden:
                raise
            except ApiError as exc:
                failed.append(f"{name}: {exc.message}")
        return secured(HTMLResponse(render("_action_result.html", action=action, done=done, failed=failed)))

    # ------------------------------------------------------------------ one container

    async def container_state(name: str) -> tuple[Obj, dict[str, Obj], dict[str, int]]:
        # Events first: the container read after them is at least as new as their revision.
        events, revision = await store.list("events")
        obj = await store.get("containers", name)
        return obj, {e["metadata"]["name"]: e for e in events}, {"containers": revision, "events": revision}

    def container_context(obj: Obj, events: dict[str, Obj], session: Session, series: list[Any],
                          latest: dict[str, float] | None) -> dict[str, Any]:
        name = obj["metadata"]["name"]
        now = views.now_utc()
        return {
            "obj": obj, "row": views.container_row(obj, latest), "status": obj.get("status") or {},
            "placement": views.placement_view((obj.get("status") or {}).get("placement")),
            "events": views.events_for(list(events.values()), "Container", name), "now": now,
            "series": series,
            "can_write": session.may("patch", "containers"),
        }

    async def container_page(request: Request, session: Session) -> Response:
        name = request.path_params["name"]
        obj, events, _ = await container_state(name)
        spec_yaml = yaml.safe_dump({"apiVersion": obj.get("apiVersion"), "kind": "Container", **user_view(obj)}, sort_keys=False)
        ctx = container_context(obj, events, session, *await chart(name))
        live = f"/ui/live/containers/{quote(name)}"
        return page(request, "container.html", session, spec_yaml=spec_yaml, live=live, actions=CONTAINER_ACTIONS, **ctx)

    async def container_live(request: Request, session: Session) -> Response:
        name = request.path_params["name"]

        async def stream() -> AsyncIterator[bytes]:
            try:
                obj, events, since = await container_state(name)
            except NotFound:
                yield sse("live", render("_gone.html", name=name))
                return
            series, latest = await chart(name)
            refreshed = time.monotonic()
            yield sse("live", render("_container_live.html", **container_context(obj, events, session, series, latest)))
            async for batch in changes({p: caches[p] for p in since}, since, settle=SETTLE, keepalive=USAGE_REFRESH):
                relevant = False
                if time.monotonic() - refreshed >= USAGE_REFRESH:
                    # New samples are not watch events: look at the kubelet's again, redraw if they moved.
                    fresh, refreshed = await chart(name), time.monotonic()
                    relevant = fresh != (series, latest)
                    series, latest = fresh
                if not batch and not relevant:
                    yield PING
                    continue
                for plural, event in batch:
                    if plural == "containers" and event.obj["metadata"]["name"] == name:
                        if event.kind == "DELETE":
                            yield sse("live", render("_gone.html", name=name))
                            return
                        obj, relevant = event.obj, True
                    elif plural == "events":
                        _apply(events, event)
                        involved = (event.obj.get("spec") or {}).get("involvedObject") or {}
                        relevant = relevant or involved.get("name") == name
                if relevant:
                    if any(plural == "containers" for plural, _ in batch):
                        # A change of state (Running, say) may bring the first samples: look now, not in 15 s.
                        (series, latest), refreshed = await chart(name), time.monotonic()
                    yield sse("live", render("_container_live.html", **container_context(obj, events, session, series, latest)))

        return streaming(stream())

    async def container_action_one(request: Request, session: Session) -> Response:
        name = request.path_params["name"]
        form = await request.form()
        action = str(form.get("action") or "")
        await container_action(client(session), name, action)
        return secured(HTMLResponse(render("_action_result.html", action=action, done=[name], failed=[])))

    async def call_api(session: Session, method: str, path: str, *, raw: bool = False, **kwargs: Any) -> httpx.Response:
        """One request to the API this dashboard is mounted in, in-process, as the session's identity:
        for what the API does beyond objects (terminal links), with exactly its checks. `raw`: `path`
        is not under /apis/VERSION."""
        transport = httpx.ASGITransport(app=dashboard.api)
        async with httpx.AsyncClient(transport=transport, base_url="http://apiserver", timeout=30) as api:
            url = path if raw else f"/apis/{API_VERSION}{path}"
            return await api.request(method, url, headers={"Authorization": f"Bearer {session.token}"}, **kwargs)

    def api_error(got: httpx.Response) -> HTMLResponse:
        try:
            body = got.json()
        except ValueError:
            body = {"message": got.text.strip() or f"the API answered {got.status_code}"}
        return secured(HTMLResponse(render("_error.html", message=body.get("message", ""), details=[]), status_code=got.status_code))

    async def container_log(request: Request, session: Session) -> Response:
        """The logs tab's stream: the last lines, then new ones as the kubelet writes them, until the tab is left."""
        name = request.path_params["name"]
        tail = min(5000, max(1, _int(request.query_params.get("tail")) or 200))
        path = f"/apis/{API_VERSION}/containers/{quote(name)}/log"
        return streaming(follow_log(dashboard.api, path, token=session.token, tail=tail))

    async def container_terminal(request: Request, session: Session) -> Response:
        """The terminal tab's session: a one-time link made by the API's terminal route for this session's
        identity, exchanged at once (in-process) for its one-time session, which only this response carries."""
        name = request.path_params["name"]
        got = await call_api(session, "POST", f"/containers/{quote(name)}/terminal", json={})
        if got.status_code != 201:
            return api_error(got)
        token = got.json()["url"].split("#", 1)[1]
        exchanged = await call_api(session, "POST", "/terminal/session", raw=True, json={"token": token})
        if exchanged.status_code != 201:
            return api_error(exchanged)
        answer = exchanged.json()
        return secured(JSONResponse({k: answer.get(k) for k in ("session", "container", "user", "expiresAt")}, status_code=201))

    # ------------------------------------------------------------------ apply (the page, and a container's spec)

    async def apply_text(session: Session, source: str, text: str, *, dry_run: bool, only: str | None = None) -> HTMLResponse:
        if len(text.encode()) > MAX_YAML:
            return secured(HTMLResponse(render("_apply.html", errors=[f"{source}: larger than 1 MiB"], results=[], dry_run=dry_run), 400))
        manifests, errors = load_text(source, text)
        lines = [str(e) for e in errors]
        if only is not None and not errors:
            wrong = [m for m in manifests if m.ref != only]
            if wrong or not manifests:
                lines.append(f"{source}: this page edits {only} only; use the Apply page for other objects")
        if lines:
            return secured(HTMLResponse(render("_apply.html", errors=lines, results=[], dry_run=dry_run), 422))
        local = client(session)
        before: dict[str, Obj | None] = {}
        for m in manifests:
            try:
                before[m.ref] = await local.get(_plural(m.kind), m.name)
            except NotFound:
                before[m.ref] = None
        results = await apply_set(local, manifests, dry_run="server" if dry_run else False)  # type: ignore[arg-type]
        shown = []
        for result in results:
            diff = "" if result.failed else unified_diff(result.obj, before.get(result.ref), ref=result.ref, pinned=False)
            shown.append({"result": result, "diff": diff})
        failed = any(r.failed for r in results)
        return secured(HTMLResponse(render("_apply.html", errors=[], results=shown, dry_run=dry_run), 422 if failed else 200))

    async def apply_page(request: Request, session: Session) -> Response:
        return page(request, "apply.html", session, can_write=session.may("create", "containers"))

    async def apply_post(request: Request, session: Session) -> Response:
        form = await request.form()
        source = str(form.get("source") or "").strip() or "<pasted>"
        return await apply_text(session, source[:200], str(form.get("yaml") or ""), dry_run=form.get("mode") != "apply")

    async def container_apply(request: Request, session: Session) -> Response:
        name = request.path_params["name"]
        form = await request.form()
        return await apply_text(session, f"container/{name}", str(form.get("yaml") or ""), dry_run=form.get("mode") != "apply",
                                only=f"container/{name}")

    # ------------------------------------------------------------------ nodes

    async def nodes_state() -> tuple[dict[str, dict[str, Obj]], dict[str, int]]:
        state: dict[str, dict[str, Obj]] = {}
        since: dict[str, int] = {}
        for plural in ("nodes", "containers"):
            items, revision = await store.list(plural)
            state[plural] = {o["metadata"]["name"]: o for o in items}
            since[plural] = revision
        return state, since

    def nodes_context(state: dict[str, dict[str, Obj]], session: Session) -> dict[str, Any]:
        return {"nodes": views.node_views(list(state["nodes"].values()), list(state["containers"].values()), now=views.now_utc()),
                "can_write": session.may("patch", "nodes"), "drains": drains.runs}

    async def nodes_page(request: Request, session: Session) -> Response:
        state, _ = await nodes_state()
        return page(request, "nodes.html", session, **nodes_context(state, session))

    async def nodes_live(request: Request, session: Session) -> Response:
        async def stream() -> AsyncIterator[bytes]:
            state, since = await nodes_state()
            sent = render("_nodes.html", **nodes_context(state, session))
            yield sse("nodes", sent)
            # A drain's progress is in no watch: each of its lines nudges the stream to render too.
            nudge = asyncio.Event()
            drains.watchers.add(nudge)
            try:
                async for batch in changes({p: caches[p] for p in since}, since, settle=SETTLE, nudge=nudge):
                    for plural, event in batch:
                        _apply(state[plural], event)
                    html = render("_nodes.html", **nodes_context(state, session))
                    if html != sent:
                        yield sse("nodes", html)
                        sent = html
                    elif not batch:
                        yield PING
            finally:
                drains.watchers.discard(nudge)

        return streaming(stream())

    # ------------------------------------------------------------------ groups (sets and clusters)

    async def groups_state() -> tuple[dict[str, dict[str, Obj]], dict[str, int]]:
        state: dict[str, dict[str, Obj]] = {}
        since: dict[str, int] = {}
        for plural in GROUP_KINDS:
            items, revision = await store.list(plural)
            state[plural] = {o["metadata"]["name"]: o for o in items}
            since[plural] = revision
        return state, since

    def groups_context(state: dict[str, dict[str, Obj]]) -> dict[str, Any]:
        return {"sets": sorted(state["containersets"].values(), key=lambda o: o["metadata"]["name"]),
                "clusters": sorted(state["containerclusters"].values(), key=lambda o: o["metadata"]["name"])}

    async def groups_page(request: Request, session: Session) -> Response:
        state, _ = await groups_state()
        return page(request, "groups.html", session, **groups_context(state))

    async def groups_live(request: Request, session: Session) -> Response:
        async def stream() -> AsyncIterator[bytes]:
            state, since = await groups_state()
            sent = render("_groups.html", **groups_context(state))
            yield sse("groups", sent)
            async for batch in changes({p: caches[p] for p in since}, since, settle=SETTLE):
                if not batch:
                    yield PING
                    continue
                for plural, event in batch:
                    _apply(state[plural], event)
                html = render("_groups.html", **groups_context(state))
                if html != sent:
                    yield sse("groups", html)
                    sent = html

        return streaming(stream())

    async def cordon(request: Request, session: Session) -> Response:
        name = request.path_params["name"]
        form = await request.form()
        await set_cordon(client(session), name, form.get("cordon") == "1")
        return Response(status_code=204)

    async def drain(request: Request, session: Session) -> Response:
        # No --force here: containers with failover: Never are moved by `dlxc drain --force` only.
        run = await drains.start(client(session), request.path_params["name"])
        return secured(HTMLResponse(render("_drain.html", run=run)))

    routes = [
        Route("/", view(overview)),
        *login_routes(render=render, links=links, authenticate=authenticate),
        Route("/containers", view(containers)),
        Route("/containers/actions", write(container_actions), methods=["POST"]),
        Route("/containers/{name}", view(container_page)),
        Route("/containers/{name}/action", write(container_action_one), methods=["POST"]),
        Route("/containers/{name}/apply", write(container_apply), methods=["POST"]),
        Route("/live/containers/{name}/log", view(container_log)),
        Route("/containers/{name}/terminal", write(container_terminal), methods=["POST"]),
        Route("/nodes", view(nodes_page)),
        Route("/nodes/{name}/cordon", write(cordon), methods=["POST"]),
        Route("/nodes/{name}/drain", write(drain), methods=["POST"]),
        Route("/groups", view(groups_page)),
        Route("/live/groups", view(groups_live)),
        Route("/apply", view(apply_page)),
        Route("/apply", write(apply_post), methods=["POST"]),
        Route("/live/overview", view(overview_live)),
        Route("/live/containers", view(containers_live)),
        Route("/live/containers/{name}", view(container_live)),
        Route("/live/nodes", view(nodes_live)),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    dashboard = Dashboard(Starlette(routes=routes))
    return dashboard


def _apply(state: dict[str, Obj], event: Any) -> None:
    name = event.obj["metadata"]["name"]
    if event.kind == "PUT":
        state[name] = event.obj
    else:
        state.pop(name, None)


def _int(value: str | None) -> int:
    return int(value) if value and value.isdigit() else 0


def _plural(kind: str) -> str:
    from schemas import kind_for_plural

    return kind_for_plural(kind).plural
