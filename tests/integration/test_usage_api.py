"""Usage through the API from a kubelet's memory (a real stream server over mutual TLS, samples set by
the test): the four metrics routes, who may read them, `dlxc top`, and that nothing of it is in etcd."""
from __future__ import annotations

import json
import time

import httpx
import pytest
from typer.testing import CliRunner

from dlxc.cli.main import app
from statskubelet import UsageCluster, usage_cluster  # noqa: F401 - the fixture

pytestmark = pytest.mark.timeout(90)

BASE = "/apis/dlxc.io/v1"
WEB = {"cpu.cores": 0.25, "cpu.seconds": 12.0, "memory.bytes": 3.0 * 2**20, "processes": 4.0, "net.eth0.rx_bytes": 2048.0}


def get(cluster: UsageCluster, path: str, token: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token or cluster.api.token}"} if token != "" else {}
    return httpx.get(f"{cluster.api.url}{BASE}{path}", headers=headers, timeout=10)


def test_metrics_routes_answer_the_kubelets_samples_and_store_none(usage_cluster: UsageCluster) -> None:  # noqa: F811
    c = usage_cluster
    c.running("web", labels={"tier": "web"})
    c.running("db", labels={"tier": "db"})
    c.running("fresh")  # Running, not sampled yet
    c.kubelet.set("web", {**WEB, "cpu.cores": 0.2})
    time.sleep(0.01)
    c.kubelet.set("web", WEB)
    c.kubelet.set("db", {"cpu.cores": 0.5, "memory.bytes": 2.0**30})
    c.kubelet.set("ghost", {"cpu.cores": 1.0})  # on the node, but no object binds it here: not reported

    one = get(c, "/containers/web/metrics")
    assert one.status_code == 200, one.text
    body = one.json()
    assert (body["name"], body["node"], body["usage"], body["interval"]) == ("web", "n1", WEB, 1.0)
    assert body["history"]["cpu"] == [0.2, 0.25] and body["history"]["memory"] == [WEB["memory.bytes"]] * 2
    assert len(body["history"]["time"]) == 2 and body["time"].endswith("Z")

    node = get(c, "/nodes/n1/metrics").json()
    assert node["node"] == "n1" and node["usage"] == {"cpu.cores": 0.5, "memory.bytes": 2.0**30}
    assert sorted(node["containers"]) == ["db", "web"]

    listing = get(c, "/metrics/containers").json()
    assert [(e["name"], e["node"], e["usage"]) for e in listing["items"]] == [
        ("db", "n1", {"cpu.cores": 0.5, "memory.bytes": 2.0**30}), ("web", "n1", WEB)]
    assert listing["unreachable"] == {}
    assert [e["name"] for e in get(c, "/metrics/nodes").json()["items"]] == ["n1"]

    viewer = c.api.new_token("alice", "viewer")
    assert get(c, "/containers/web/metrics", viewer).json()["usage"] == WEB
    assert get(c, "/metrics/containers", "").status_code == 401
    fresh = get(c, "/containers/fresh/metrics")
    assert (fresh.status_code, fresh.json()["message"]) == (503, "no sample of container fresh on node n1 yet (sampled every 1s)")
    assert get(c, "/containers/nope/metrics").status_code == 404

    # The status in etcd carries no usage at all.
    status = httpx.get(f"{c.api.url}{BASE}/containers/web", headers={"Authorization": f"Bearer {c.api.token}"}).json()["status"]
    assert not status.get("metrics") and not status.get("metricsTime")

    runner = CliRunner()
    top = runner.invoke(app, ["top", "containers", "-l", "tier=web"], env=c.api.env(), catch_exceptions=False)
    assert top.exit_code == 0, top.output
    assert [line.split() for line in top.stdout.splitlines()] == [
        ["NAME", "NODE", "CPU(cores)", "MEMORY", "SWAP", "PROCS", "NET-RX", "NET-TX", "BLK-READ", "BLK-WRITE", "ROOTFS"],
        ["web", "n1", "0.250", "3.0Mi", "-", "4", "2.0Ki", "-", "-", "-", "-"],
    ]
    nodes = runner.invoke(app, ["top", "nodes"], env=c.api.env(), catch_exceptions=False)
    assert nodes.stdout.splitlines()[1].split() == ["n1", "0.50", "25%", "1.0Gi", "25%", "-", "0"]
    none = runner.invoke(app, ["top", "containers", "-l", "tier=none"], env=c.api.env(), catch_exceptions=False)
    assert (none.exit_code, none.stdout) == (0, "no containers match\n")


def test_a_stopped_container_has_no_metrics_and_a_silent_kubelet_is_named(usage_cluster: UsageCluster) -> None:  # noqa: F811
    c = usage_cluster
    c.running("web")
    stopped = None

    async def stop() -> None:
        async with c.api.client() as client:
            await client.patch_status("containers", "web", {"phase": "Stopped"})

    from conftest import run

    run(stop())
    stopped = get(c, "/containers/web/metrics")
    assert (stopped.status_code, stopped.json()["message"]) == (409, "container web is Stopped")
    c.kubelet.stop()
    listing = get(c, "/metrics/containers").json()
    assert listing["items"] == [] and listing["unreachable"]["n1"].startswith("cannot reach the kubelet of node n1")
    top = CliRunner().invoke(app, ["top", "nodes"], env=c.api.env(), catch_exceptions=False)
    assert "warning: no usage from node n1: cannot reach the kubelet of node n1" in top.stderr
    # Not the summary it wrote while it lived, as if it were now; and with nothing measured, a failure.
    assert top.stdout.splitlines()[1].split() == ["n1", *["<unknown>"] * 5, "0"] and top.exit_code == 1
    as_json = CliRunner().invoke(app, ["top", "nodes", "-o", "json"], env=c.api.env(), catch_exceptions=False)
    assert (as_json.exit_code, json.loads(as_json.stdout)) == (1, {"n1": None})


def test_a_slow_kubelet_does_not_hold_the_containers_page_up(usage_cluster: UsageCluster) -> None:  # noqa: F811
    # A kubelet that takes seconds to answer (partitioned, overloaded): the dashboard's table is drawn
    # without its numbers at once, and the page's live stream sends them when they are in.
    import re

    from apiserver.ui.session import COOKIE
    from apiserver.ui.views import container_row

    c = usage_cluster
    c.running("web")
    c.kubelet.set("web", WEB)
    c.kubelet.loop.call_soon_threadsafe(time.sleep, 3.0)  # the kubelet's loop hangs for 3 s
    cookies = {COOKIE: c.api.token}
    started = time.monotonic()
    page = httpx.get(f"{c.api.url}/ui/containers", cookies=cookies, timeout=10)
    drawn = time.monotonic() - started
    assert page.status_code == 200 and 'id="row-web"' in page.text
    assert drawn < 2.0, f"the page waited {drawn:.1f}s for the kubelet"
    live = re.search(r'/ui/live/containers\?[^"\']*', page.text)
    assert live is not None and "usage=pending" in live.group(0)
    got = ""
    with httpx.stream("GET", f"{c.api.url}{live.group(0).replace('&amp;', '&')}", cookies=cookies, timeout=10) as stream:
        for line in stream.iter_lines():
            got += line + "\n"
            if 'id="row-web"' in got:
                break
    assert got.startswith("event: rows") and 'id="row-web"' in got, got
    obj = httpx.get(f"{c.api.url}{BASE}/containers/web", headers={"Authorization": f"Bearer {c.api.token}"}).json()
    assert f"<td>{container_row(obj, WEB).cpu_text}</td>" in got, got
    assert container_row(obj, WEB).cpu_text != container_row(obj, None).cpu_text  # the numbers, not a blank row


def test_a_kubelet_without_a_stream_server_is_named_and_a_hollow_node_is_not(usage_cluster: UsageCluster) -> None:  # noqa: F811
    """Its containers would be missing from `dlxc top containers` with no word why; a hollow node serves
    no usage by design and its summary stands for it."""
    c = usage_cluster
    ready = [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": ""}]

    async def register() -> None:
        async with c.api.client() as client:
            for name, version in (("plain", "dlxc/1.0"), ("sim", "dlxc/1.0 hollow")):
                await client.create("nodes", {"metadata": {"name": name}, "spec": {}, "status": {
                    "conditions": ready, "version": version, "capacity": {"cpu": 2, "memory": 2**30},
                    "usage": {"cpu": 1.0, "memory": 2**29}}})

    from conftest import run

    run(register())
    listing = get(c, "/metrics/nodes").json()
    assert listing["unreachable"] == {"plain": "its kubelet runs without a stream server (--stream-cert-file), so it serves no usage"}
    top = CliRunner().invoke(app, ["top", "nodes"], env=c.api.env(), catch_exceptions=False)
    assert top.exit_code == 0 and "warning: no usage from node plain: its kubelet runs without a stream server" in top.stderr
    rows = {line.split()[0]: line.split() for line in top.stdout.splitlines()[1:]}
    assert rows["plain"][1:6] == ["<unknown>"] * 5 and rows["sim"][1:6] == ["1.00", "50%", "512.0Mi", "50%", "0B"]
