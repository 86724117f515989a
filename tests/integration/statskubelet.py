"""A kubelet's real stream server (mutual TLS, /stats routes) in a thread of its own, serving samples
the test sets, and an apiserver that can reach it: the metrics path without LXC."""
from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from conftest import Api, Etcd, run, start_api
from dlxc.cluster.pki import ensure_pki, issue_apiserver_client, issue_kubelet_serving
from kubelet.settings import KubeletSettings
from kubelet.streams import StreamServer
from kubelet.usage import UsageHistory

__all__ = ["StatsKubelet", "UsageCluster", "started_usage_cluster", "usage_cluster"]


class StatsKubelet:
    """What the stream server reads from a MetricsSampler: `history` and `node_usage`."""

    def __init__(self, pki: Path, node: str, runtime: Any = None) -> None:
        cert, key = issue_kubelet_serving(pki, node)
        self.settings = KubeletSettings(
            node_name=node, lxc_path=Path("/nonexistent-lxcpath"), image_dir=Path("/nonexistent-images"),
            stream_cert_file=cert, stream_key_file=key, stream_client_ca_file=pki / "ca.crt", stream_host="127.0.0.1",
            metrics_interval=1.0,
        )
        self.history = UsageHistory(window=3600, length=100)
        self.node_usage: tuple[float, dict[str, float]] | None = (time.time(), {"cpu.cores": 0.5, "memory.bytes": 2.0**30})
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        # No LXC behind it: a runtime whose lxcpath does not exist has no console logs to mark.
        self.server = StreamServer(runtime or SimpleNamespace(lxc_path=self.settings.lxc_path), self.settings,  # type: ignore[arg-type]
                                   apiserver="http://127.0.0.1:1", stats=self)

    def start(self) -> str:
        self.thread.start()
        return asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result(10)

    def set(self, name: str, sample: dict[str, float]) -> None:
        self.loop.call_soon_threadsafe(self.history.record, name, time.time(), sample)

    def stop(self) -> None:
        if self.loop.is_closed():
            return
        if self.thread.is_alive():
            asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(10)
            asyncio.run_coroutine_threadsafe(asyncio.sleep(0.1), self.loop).result(10)  # closed transports finish closing
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(5)
        self.loop.close()


@dataclass
class UsageCluster:
    api: Api
    kubelet: StatsKubelet
    node: str = "n1"

    def running(self, name: str, *, labels: dict[str, str] | None = None) -> None:
        """Container `name` bound to the node and Running, as its kubelet would report it."""
        async def go() -> None:
            async with self.api.client() as c:
                await c.create("containers", {"metadata": {"name": name, "labels": labels or {}}, "spec": {"image": "busybox"}})
                await c.bind(name, self.node)
                await c.patch_status("containers", name, {"phase": "Running"})

        run(go())


@pytest.fixture
def usage_cluster(etcd: Etcd, tmp_path: Path) -> Iterator[UsageCluster]:
    with started_usage_cluster(etcd, tmp_path) as cluster:
        yield cluster


@contextmanager
def started_usage_cluster(etcd: Etcd, tmp_path: Path, runtime: Any = None) -> Iterator[UsageCluster]:
    """An apiserver and node n1's stream server (`runtime`: what it serves logs from, else nothing)."""
    pki = tmp_path / "pki"
    ensure_pki(pki)
    cert, key = issue_apiserver_client(pki)
    api = start_api(etcd, tmp_path, kubelet_client_certificate=cert, kubelet_client_key=key, kubelet_certificate_authority=pki / "ca.crt")
    kubelet = StatsKubelet(pki, "n1", runtime)
    try:
        endpoint = kubelet.start()

        async def register() -> None:
            async with api.client() as c:
                await c.create("nodes", {"metadata": {"name": "n1"}, "spec": {}, "status": {
                    "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": ""}],
                    "capacity": {"cpu": 2, "memory": 4 * 2**30, "disk": 2**40, "containers": 10},
                    "streamEndpoint": endpoint}})

        run(register())
        yield UsageCluster(api, kubelet)
    finally:
        assert api.server is not None
        api.server.stop()  # first: its kept-alive connections to the kubelet close from its side
        kubelet.stop()
