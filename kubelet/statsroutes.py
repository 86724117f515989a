"""Usage over the kubelet's stream server, from memory: what the apiserver's metrics routes ask for.

Only the apiserver reaches these (mutual TLS, checked like exec). GET /stats/summary answers the
node's usage and the latest sample of every container running here; GET /stats/containers/NAME
one container's latest sample and its history (the last hour at the sampler's interval), for charts.
"""
from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from kubelet.usage import Point
from schemas.base import iso_time

__all__ = ["add_stats_routes", "container_body", "summary_body"]


def _stamp(when: float) -> str:
    from datetime import datetime, timezone

    return iso_time(datetime.fromtimestamp(when, timezone.utc))


def summary_body(node: str, *, interval: float, node_usage: tuple[float, dict[str, float]] | None,
                 latest: dict[str, tuple[float, dict[str, float]]]) -> dict[str, Any]:
    return {
        "node": node,
        "interval": interval,
        "usage": node_usage[1] if node_usage else {},
        "time": _stamp(node_usage[0]) if node_usage else None,
        "containers": {name: {"time": _stamp(when), "usage": sample} for name, (when, sample) in sorted(latest.items())},
    }


def container_body(name: str, node: str, *, interval: float, latest: tuple[float, dict[str, float]], points: list[Point]) -> dict[str, Any]:
    return {
        "name": name,
        "node": node,
        "interval": interval,
        "time": _stamp(latest[0]),
        "usage": latest[1],
        # Columns, as a chart takes them: unix seconds, cores, bytes (null where a sample lacked one).
        "history": {"time": [p[0] for p in points], "cpu": [p[1] for p in points], "memory": [p[2] for p in points]},
    }


def add_stats_routes(app: web.Application, server: Any) -> None:
    """`server` is the kubelet's StreamServer: its settings, its apiserver-only check and `stats`, the MetricsSampler."""

    async def summary(request: web.Request) -> web.Response:
        server._authorized(request)  # noqa: SLF001 - the stream server's own check
        sampler = server.stats
        if sampler is None:
            raise web.HTTPNotFound(text=f"the kubelet of node {server.settings.node_name} collects no metrics (--metrics-interval 0)\n")
        return web.json_response(summary_body(server.settings.node_name, interval=server.settings.metrics_interval,
                                              node_usage=sampler.node_usage, latest=dict(sampler.history.latest)))

    async def container(request: web.Request) -> web.Response:
        server._authorized(request)  # noqa: SLF001
        name = request.match_info["name"]
        sampler = server.stats
        node = server.settings.node_name
        if sampler is None:
            raise web.HTTPNotFound(text=f"the kubelet of node {node} collects no metrics (--metrics-interval 0)\n")
        latest = sampler.history.latest.get(name)
        if latest is None:
            raise web.HTTPNotFound(text=f"no sample of container {name} on node {node} yet "
                                        f"(sampled every {server.settings.metrics_interval:g}s)\n")
        points = sampler.history.series(name, now=time.time())
        return web.json_response(container_body(name, node, interval=server.settings.metrics_interval, latest=latest, points=points))

    app.router.add_get("/stats/summary", summary)
    app.router.add_get("/stats/containers/{name}", container)
