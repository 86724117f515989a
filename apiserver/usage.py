"""Usage metrics through the API, from the kubelets' memory and never from etcd (as metrics-server does it).

GET containers/NAME/metrics and nodes/NAME/metrics ask the kubelet of the node over the same mutual
TLS path as exec and logs (apiserver.streams.KubeletDialer); GET metrics/containers and
metrics/nodes fan out to every Ready node and aggregate in memory. Each kubelet answer is kept for
`ttl` seconds and concurrent askers share one request, so N dashboards or a busy `dlxc top` cost a
kubelet one request per ttl, not N. Authorization is that of reading the object (get, or list).
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from apiserver.auth import Identity, authorize
from apiserver.storage import Store
from apiserver.streams import KubeletDialer, container_and_node
from dlxc.client.errors import ApiError, TemporaryError
from schemas.base import Obj
from schemas.node import node_ready

__all__ = ["KubeletUsage", "TtlCache", "add_usage_routes", "aggregate"]

log = logging.getLogger("dlxc.apiserver.usage")

FANOUT = 64  # kubelets asked at once by a cluster-wide request


@dataclass
class TtlCache:
    """Answers (or errors) by key, each good for `ttl` seconds; `clock` is injected for tests."""

    ttl: float
    clock: Callable[[], float] = time.monotonic
    _entries: dict[Any, tuple[float, Any]] = field(default_factory=dict)

    def get(self, key: Any) -> tuple[bool, Any]:
        entry = self._entries.get(key)
        if entry is None or self.clock() - entry[0] >= self.ttl:
            self._entries.pop(key, None)
            return False, None
        return True, entry[1]

    def put(self, key: Any, value: Any) -> None:
        now = self.clock()
        if len(self._entries) > 10_000:  # old keys of deleted containers: drop what expired
            self._entries = {k: v for k, v in self._entries.items() if now - v[0] < self.ttl}
        self._entries[key] = (now, value)


def aggregate(summaries: dict[str, Obj], failures: dict[str, str], bound: dict[str, str]) -> Obj:
    """One cluster view from each node's /stats/summary: node usage, and each container's latest
    sample from the node it is bound to (`bound`: container -> node; a copy elsewhere is not it)."""
    nodes = [{"name": name, "time": s.get("time"), "usage": s.get("usage") or {}} for name, s in sorted(summaries.items())]
    containers = []
    for node, summary in sorted(summaries.items()):
        for name, entry in sorted((summary.get("containers") or {}).items()):
            if bound.get(name) == node:
                containers.append({"name": name, "node": node, "time": entry.get("time"), "usage": entry.get("usage") or {}})
    containers.sort(key=lambda c: c["name"])
    return {"nodes": nodes, "containers": containers, "unreachable": dict(sorted(failures.items()))}


class KubeletUsage:
    def __init__(self, *, store: Store, dialer: KubeletDialer, ttl: float = 2.0, timeout: float = 5.0) -> None:
        self.store, self.dialer, self.timeout = store, dialer, timeout
        self.cache = TtlCache(ttl)
        self._inflight: dict[tuple[str, str], asyncio.Future[Any]] = {}

    async def fetch(self, node: Obj, path: str) -> Obj:
        """GET `path` from the node's kubelet: cached for ttl, one request for concurrent askers."""
        key = (node["metadata"]["name"], path)
        hit, value = self.cache.get(key)
        if hit:
            if isinstance(value, ApiError):
                raise value
            return value
        pending = self._inflight.get(key)
        if pending is None:
            pending = self._inflight[key] = asyncio.ensure_future(self._fetch(node, path))
            pending.add_done_callback(lambda f: self._done(key, f))
        return await asyncio.shield(pending)

    def _done(self, key: tuple[str, str], future: asyncio.Future[Any]) -> None:
        self._inflight.pop(key, None)
        if not future.cancelled():
            future.exception()  # retrieved: an asker that went away leaves no "never retrieved" warning

    async def _fetch(self, node: Obj, path: str) -> Obj:
        try:
            value: Any = await self._get_json(node, path)
        except ApiError as exc:
            value = exc
        self.cache.put((node["metadata"]["name"], path), value)
        if isinstance(value, ApiError):
            raise value
        return value

    async def _get_json(self, node: Obj, path: str) -> Obj:
        """The one dial of this module (the stream routes' dialer, its session and its TLS context)."""
        url, server_name = self.dialer.url(node, path)
        name = node["metadata"]["name"]
        try:
            async with self.dialer.session().get(
                url, ssl=self.dialer.context, server_hostname=server_name, timeout=aiohttp.ClientTimeout(total=self.timeout),
            ) as upstream:
                if upstream.status == 404:
                    raise TemporaryError((await upstream.text()).strip(), delay=5)
                if upstream.status != 200:
                    raise TemporaryError(f"the kubelet of node {name} answered {upstream.status}: {(await upstream.text()).strip()}", delay=5)
                body: Obj = await upstream.json()
                return body
        except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
            raise TemporaryError(f"cannot reach the kubelet of node {name}: {exc or type(exc).__name__}", delay=5) from None

    async def container(self, name: str) -> Obj:
        _container, node = await container_and_node(self.store, name, need_running=True)
        return await self.fetch(node, f"/stats/containers/{name}")

    async def node(self, name: str) -> Obj:
        node = await self.store.get("nodes", name)
        summary = await self.fetch(node, "/stats/summary")
        containers, _ = await self.store.list("containers")
        mine = {c["metadata"]["name"] for c in containers if (c.get("spec") or {}).get("nodeName") == name}
        return {**summary, "containers": {k: v for k, v in (summary.get("containers") or {}).items() if k in mine}}

    async def cluster(self) -> Obj:
        """Every Ready node that serves streams, asked at once (at most FANOUT in flight), aggregated."""
        hit, view = self.cache.get(("", "cluster"))
        if hit:
            return view  # type: ignore[no-any-return]
        nodes, _ = await self.store.list("nodes")
        containers, _ = await self.store.list("containers")
        bound = {c["metadata"]["name"]: (c.get("spec") or {}).get("nodeName") or "" for c in containers}
        summaries: dict[str, Obj] = {}
        failures: dict[str, str] = {}
        slots = asyncio.Semaphore(FANOUT)

        async def one(node: Obj) -> None:
            name = node["metadata"]["name"]
            async with slots:
                try:
                    summaries[name] = await self.fetch(node, "/stats/summary")
                except ApiError as exc:
                    failures[name] = exc.message

        asked = []
        for node in nodes:
            status = node.get("status") or {}
            if not status.get("streamEndpoint"):
                # A hollow node serves no usage by design (its summary on the Node stands for it); a
                # kubelet started without a stream server is said to serve none, or its containers
                # would just be missing from the answer.
                if node_ready(node) and not str(status.get("version", "")).endswith(" hollow"):
                    failures[node["metadata"]["name"]] = "its kubelet runs without a stream server (--stream-cert-file), so it serves no usage"
                continue
            if not node_ready(node):
                failures[node["metadata"]["name"]] = "the node is not Ready"
                continue
            asked.append(one(node))
        await asyncio.gather(*asked)
        view = aggregate(summaries, failures, bound)
        self.cache.put(("", "cluster"), view)
        return view


def add_usage_routes(
    app: FastAPI, *, prefix: str, usage: KubeletUsage, identity_of: Callable[[Any], Awaitable[Identity]],
) -> None:
    async def container_metrics(request: Request) -> Response:
        name = request.path_params["name"]
        authorize(await identity_of(request), verb="get", plural="containers", name=name, subresource="metrics", bound_node=None)
        return JSONResponse(await usage.container(name))

    async def node_metrics(request: Request) -> Response:
        name = request.path_params["name"]
        authorize(await identity_of(request), verb="get", plural="nodes", name=name, subresource="metrics", bound_node=None)
        return JSONResponse(await usage.node(name))

    async def cluster_containers(request: Request) -> Response:
        authorize(await identity_of(request), verb="list", plural="containers", name=None, subresource="metrics", bound_node=None)
        view = await usage.cluster()
        return JSONResponse({"items": view["containers"], "unreachable": view["unreachable"]})

    async def cluster_nodes(request: Request) -> Response:
        authorize(await identity_of(request), verb="list", plural="nodes", name=None, subresource="metrics", bound_node=None)
        view = await usage.cluster()
        return JSONResponse({"items": view["nodes"], "unreachable": view["unreachable"]})

    for path, endpoint in (
        (f"{prefix}/containers/{{name}}/metrics", container_metrics), (f"{prefix}/nodes/{{name}}/metrics", node_metrics),
        (f"{prefix}/metrics/containers", cluster_containers), (f"{prefix}/metrics/nodes", cluster_nodes),
    ):
        route = Route(path, endpoint, methods=["GET"], name=endpoint.__name__)
        route.methods.discard("HEAD")
        app.router.routes.append(route)

