"""Hollow nodes serving made-up usage (`dlxc hollow-nodes --serve-usage`): reached through the API's
metrics routes on the apiserver's real kubelet TLS path (each node's certificate checked against its
name), deterministic and within the container's limits, with an hour of history."""
from __future__ import annotations

import asyncio
import socket
import ssl
import time
from pathlib import Path

import httpx
import pytest

from conftest import Etcd, start_api
from dlxc.cli.hollow_nodes import _issuer
from dlxc.cluster.pki import ensure_pki, issue_apiserver_client
from dlxc.sim import usage
from dlxc.sim.hollow import HollowNode, HollowNodes
from dlxc.sim.statsserver import HollowStats

pytestmark = pytest.mark.timeout(60)

BASE = "/apis/dlxc.io/v1"
GI = 2**30


def test_a_hollow_nodes_usage_is_served_through_the_api(etcd: Etcd, tmp_path: Path) -> None:
    pki = tmp_path / "pki"
    ensure_pki(pki)
    cert, key = issue_apiserver_client(pki)
    api = start_api(etcd, tmp_path, kubelet_client_certificate=cert, kubelet_client_key=key, kubelet_certificate_authority=pki / "ca.crt")
    headers = {"Authorization": f"Bearer {api.token}"}
    nodes = [HollowNode("h-0", 4, 8 * GI, 100 * GI, 10), HollowNode("h-1", 2, 4 * GI, 50 * GI, 10)]

    def get(path: str) -> httpx.Response:
        return httpx.get(f"{api.url}{BASE}{path}", headers=headers, timeout=10)

    async def go() -> None:
        async with api.client() as c:
            stats = HollowStats(issue=_issuer(pki / "ca.crt", pki / "ca.key"), client_ca=pki / "ca.crt", interval=30.0)
            hollow = HollowNodes(c, nodes, heartbeat_interval=0.5, stats=stats)
            task = asyncio.create_task(hollow.run())
            try:
                await asyncio.wait_for(hollow.registered.wait(), 10)
                for name, node in (("web", "h-0"), ("db", "h-1")):
                    await c.create("containers", {"metadata": {"name": name}, "spec": {"image": "busybox", "cpu": 0.5, "memory": "256Mi"}})
                    await c.bind(name, node)
                deadline = time.monotonic() + 10
                while [(await c.get("containers", n))["status"].get("phase") for n in ("web", "db")] != ["Running"] * 2:
                    assert time.monotonic() < deadline
                    await asyncio.sleep(0.05)
                status = (await c.get("nodes", "h-0"))["status"]
                assert status["streamEndpoint"] == hollow.stream_endpoint and status["addresses"] == ["127.0.0.1"]

                # One container, through the apiserver's dial of node h-0 (its certificate must name h-0).
                one = await asyncio.to_thread(get, "/containers/web/metrics")
                assert one.status_code == 200, one.text
                body = one.json()
                assert (body["name"], body["node"], body["interval"]) == ("web", "h-0", 30.0)
                p = usage.profile("web", {"cpu": 0.5, "memory": "256Mi"})
                slot = int(time.time() // 30)
                assert body["usage"] in (usage.sample(p, slot, interval=30.0), usage.sample(p, slot - 1, interval=30.0))
                assert 0 < body["usage"]["cpu.cores"] <= 0.5 and 0 < body["usage"]["memory.bytes"] <= 256 * 2**20
                history = body["history"]
                assert len(history["time"]) == 121 and history["time"][-1] - history["time"][0] == 3600
                assert all(0 < cpu <= 0.5 for cpu in history["cpu"]) and len(set(history["cpu"])) > 10

                # Cluster-wide: every node asked through the same server, each container from its own node.
                listing = (await asyncio.to_thread(get, "/metrics/containers")).json()
                assert [(e["name"], e["node"]) for e in listing["items"]] == [("db", "h-1"), ("web", "h-0")]
                assert listing["unreachable"] == {}
                node = (await asyncio.to_thread(get, "/nodes/h-1/metrics")).json()
                assert node["usage"]["cpu.capacity_cores"] == 2 and list(node["containers"]) == ["db"]
                assert 0 < node["usage"]["cpu.cores"] <= 2

                # A name that is not one of its nodes gets no certificate at all.
                host, port = hollow.stream_endpoint.rsplit(":", 1)
                context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
                context.load_cert_chain(str(cert), str(key))

                def handshake(name: str) -> str:
                    with socket.create_connection((host, int(port)), timeout=5) as raw, context.wrap_socket(raw, server_hostname=name) as tls:
                        return str(dict(x[0] for x in tls.getpeercert()["subject"])["commonName"])

                assert await asyncio.to_thread(handshake, "h-1") == "system:node:h-1"
                with pytest.raises((ssl.SSLError, ConnectionError)):  # the same client as above: only the name differs
                    await asyncio.to_thread(handshake, "h-9")
                # A hollow node runs nothing: exec's dial gets a 501 that says so, not a hang.
                logs = await asyncio.to_thread(get, "/containers/web/log")
                assert "is hollow" in logs.text, logs.text
            finally:
                # The apiserver first: it closes its TLS connections to the hollow nodes' server while
                # that still answers the close, so no socket is left half shut when this loop ends.
                assert api.server is not None
                await asyncio.to_thread(api.server.stop)
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    try:
        asyncio.run(go())
    finally:
        assert api.server is not None
        api.server.stop()  # already stopped unless go() failed before its finally
