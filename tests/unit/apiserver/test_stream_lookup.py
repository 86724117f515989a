"""Where a stream finds its container and node: the watch caches when they let the session go ahead, etcd otherwise."""
from __future__ import annotations

import asyncio
from typing import Any

import pytest

from apiserver.storage import WatchEvent
from apiserver.streams import Lookup
from apiserver.watchcache import WatchCache
from dlxc.client.errors import Conflict, NotFound


class Etcd:
    """The store calls a lookup makes (get) and a cache's start needs (revision, watch); counts the reads."""

    def __init__(self, objects: dict[tuple[str, str], Any]) -> None:
        self.objects = objects
        self.reads = 0

    async def get(self, plural: str, name: str) -> Any:
        self.reads += 1
        try:
            return self.objects[(plural, name)]
        except KeyError:
            raise NotFound(f"{plural} {name} not found") from None

    async def revision(self) -> int:
        return 100

    async def watch(self, plural: str, *, since: int) -> Any:
        await asyncio.Event().wait()  # no change comes from etcd; the test appends events itself
        yield  # pragma: no cover


def container(phase: str | None, node: str | None = "n1") -> Any:
    return {"metadata": {"name": "web", "uid": "u1"}, "spec": {"nodeName": node}, "status": {"phase": phase} if phase else {}}


NODE = {"metadata": {"name": "n1"}, "status": {"streamEndpoint": "127.0.0.1:1"}}


async def lookup_with(
    *, etcd_phase: str | None, cached_phase: str | None, cache_running: bool = True, need_running: bool = True,
    fresh: bool = False, cached_node: bool = True,
) -> tuple[Any, bool, int]:
    objects: dict[tuple[str, str], Any] = {("nodes", "n1"): NODE}
    if etcd_phase is not None:
        objects[("containers", "web")] = container(etcd_phase)
    etcd = Etcd(objects)
    caches = {plural: WatchCache(etcd, plural) for plural in ("containers", "nodes")}  # type: ignore[arg-type]
    try:
        if cache_running:
            for cache in caches.values():
                await cache.start()
        if cached_phase is not None:
            caches["containers"].append(WatchEvent("PUT", container(cached_phase), None, 101))
        if cached_node:
            caches["nodes"].append(WatchEvent("PUT", NODE, None, 102))
        found, node, cached = await Lookup(etcd, caches)(  # type: ignore[arg-type]
            "web", need_running=need_running, fresh=fresh
        )
        assert node["metadata"]["name"] == "n1"
        return found, cached, etcd.reads
    finally:
        for cache in caches.values():
            await cache.stop()


@pytest.mark.parametrize(
    ("kwargs", "phase", "cached", "reads"),
    [
        (dict(etcd_phase="Running", cached_phase="Running"), "Running", True, 0),
        # The cache lags: the client saw Running in etcd; the exec must not be refused on the old copy.
        (dict(etcd_phase="Running", cached_phase="Pending"), "Running", False, 2),
        (dict(etcd_phase="Running", cached_phase=None), "Running", False, 2),
        (dict(etcd_phase="Running", cached_phase="Running", cached_node=False), "Running", False, 2),
        (dict(etcd_phase="Running", cached_phase="Running", cache_running=False), "Running", False, 2),
        (dict(etcd_phase="Running", cached_phase="Running", fresh=True), "Running", False, 2),
        (dict(etcd_phase="Stopped", cached_phase="Stopped", need_running=False), "Stopped", True, 0),
    ],
    ids=["cached-running", "cache-behind", "not-cached", "node-not-cached", "cache-not-watching", "fresh", "log-of-stopped"],
)
def test_the_cache_answers_only_what_lets_the_session_go_ahead(kwargs: dict[str, Any], phase: str, cached: bool, reads: int) -> None:
    found, from_cache, etcd_reads = asyncio.run(lookup_with(**kwargs))
    assert (found["status"]["phase"], from_cache, etcd_reads) == (phase, cached, reads)


@pytest.mark.parametrize(
    ("etcd_phase", "error", "message"),
    [("Stopped", Conflict, "container web is Stopped"), (None, NotFound, "containers web not found")],
    ids=["stopped-in-etcd", "deleted-in-etcd"],
)
def test_a_refusal_is_confirmed_by_etcd(etcd_phase: str | None, error: type[Exception], message: str) -> None:
    # The cache still holds a Running copy only when etcd is ahead of it; a stale "Stopped" copy
    # (cached_phase) is never believed for a refusal: etcd's answer is what the user gets.
    with pytest.raises(error, match=message):
        asyncio.run(lookup_with(etcd_phase=etcd_phase, cached_phase="Stopped"))
