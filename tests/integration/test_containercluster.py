"""ContainerClusters against a real apiserver and the real set and cluster controllers; a stand-in kubelet gives addresses."""
from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from controller.containercluster import ContainerClusterController
from controller.containerset import ContainerSetController, ContainerSetSettings
from dlxc.cli.main import app
from dlxc.client.errors import NotFound
from schemas.wire import CLUSTER_FINALIZER, CLUSTER_LABEL, CONTEXT_ANNOTATION, HOSTS_ANNOTATION

pytestmark = pytest.mark.timeout(90)


async def until(what: str, check: Any, *, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = await check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def fake_kubelet(c: Any) -> None:
    """Running, with an address per name, and the context marked done once it is handed out."""
    while True:
        items, _ = await c.list("containers")
        for item in items:
            meta, status = item["metadata"], item.get("status") or {}
            if meta.get("deletionTimestamp"):
                continue
            want: dict[str, Any] = {}
            if status.get("phase") != "Running":
                want = {"phase": "Running", "ip": f"10.0.0.{sum(map(ord, meta['name'])) % 250 + 2}"}
            if CONTEXT_ANNOTATION in (meta.get("annotations") or {}) and not status.get("conditions"):
                want["conditions"] = [{"type": "Contextualized", "status": "True", "reason": "ContextDone", "message": ""}]
            if want:
                try:
                    await c.patch_status("containers", meta["name"], want)
                except NotFound:
                    pass
        await asyncio.sleep(0.1)


async def hosts_of(c: Any, name: str) -> list[str]:
    member = await c.get("containers", name)
    return [line.split()[1] for line in (member["metadata"].get("annotations") or {}).get(HOSTS_ANNOTATION, "").split(";") if line]


def test_create_addnode_delnode_delete(api: Any) -> None:
    async def go() -> None:
        async with api.client() as c:
            tasks = [asyncio.create_task(fake_kubelet(c)),
                     asyncio.create_task(ContainerSetController(c, ContainerSetSettings(resync=1.0)).run()),
                     asyncio.create_task(ContainerClusterController(c, resync=1.0).run())]
            try:
                await c.create("containerclusters", {"metadata": {"name": "mc"}, "spec": {
                    "frontEndImage": "busybox", "workingNodeImage": "busybox", "nodes": 2,
                    "context": [{"name": "10-hello.sh", "script": "echo hello\n"}]}})

                async def ready() -> Any:
                    obj = await c.get("containerclusters", "mc")
                    return obj if (obj.get("status") or {}).get("phase") == "Ready" else None

                cluster = await until("Ready", ready)
                assert [(m["name"], m["hostname"], m["context"]) for m in cluster["status"]["members"]] == [
                    ("mc-frontend", "frontend", "Done"), ("mc-node1", "node1", "Done"), ("mc-node2", "node2", "Done")]
                assert cluster["metadata"]["finalizers"] == [CLUSTER_FINALIZER]
                for name in ("mc-frontend", "mc-node1", "mc-node2"):
                    assert await hosts_of(c, name) == ["frontend.mc.cluster", "node1.mc.cluster", "node2.mc.cluster"]
                node1 = await c.get("containers", "mc-node1")
                assert node1["spec"]["hostname"] == "node1"

                await c.patch("containerclusters", "mc", {"spec": {"nodes": 3}})
                for name in ("mc-frontend", "mc-node1", "mc-node2", "mc-node3"):
                    await until(f"node3 in {name}'s hosts", lambda name=name: _has(c, name, "node3.mc.cluster"))
                # delnode by name: node2 goes, node3 keeps its name and its object (same uid); addnode fills the hole.
                node3 = (await c.get("containers", "mc-node3"))["metadata"]["uid"]
                env = api.env()
                result = await asyncio.to_thread(CliRunner().invoke, app, ["cluster", "delnode", "mc", "node2"], env=env)
                assert (result.exit_code, result.stdout) == (0, "cluster/mc: removed node2\n"), result.stderr
                assert (await c.get("containerclusters", "mc"))["spec"]["skipNodes"] == [2]
                await until("node2 gone", lambda: _members_are(c, ["mc-frontend", "mc-node1", "mc-node3"]))
                await until("hosts without node2", lambda: _hosts_are(
                    c, "mc-frontend", ["frontend.mc.cluster", "node1.mc.cluster", "node3.mc.cluster"]))
                assert (await c.get("containers", "mc-node3"))["metadata"]["uid"] == node3
                result = await asyncio.to_thread(CliRunner().invoke, app, ["cluster", "addnode", "mc"], env=env)
                assert (result.exit_code, result.stdout) == (0, "cluster/mc: added node2\n"), result.stderr
                await until("node2 back", lambda: _has(c, "mc-node3", "node2.mc.cluster"))
                assert (await c.get("containers", "mc-node3"))["metadata"]["uid"] == node3
                result = await asyncio.to_thread(CliRunner().invoke, app, ["cluster", "delnode", "mc", "node7"], env=env)
                assert (result.exit_code, result.stderr) == (2, "error: 'node7' is not a node of cluster mc (its nodes: node1 node2 node3)\n")
                result = await asyncio.to_thread(CliRunner().invoke, app, ["cluster", "delnode", "mc", "--count", "3"], env=env)
                assert (result.exit_code, result.stderr) == (2, "error: cluster/mc must keep at least one node; delete the cluster instead\n")
                result = await asyncio.to_thread(CliRunner().invoke, app, ["cluster", "delnode", "mc", "--nodes", "2"], env=env)
                assert (result.exit_code, result.stdout) == (0, "cluster/mc: removed node2, node3\n"), result.stderr
                await until("node2, node3 gone", lambda: _members_are(c, ["mc-frontend", "mc-node1"]))
                await c.patch("containerclusters", "mc", {"spec": {"nodes": 3}})
                await until("node3 back", lambda: _has(c, "mc-frontend", "node3.mc.cluster"))

                await c.patch("containerclusters", "mc", {"spec": {"nodes": 1}})
                await until("node2, node3 gone", lambda: _members_are(c, ["mc-frontend", "mc-node1"]))
                await until("hosts shrink", lambda: _hosts_are(c, "mc-frontend", ["frontend.mc.cluster", "node1.mc.cluster"]))

                await c.delete("containerclusters", "mc")
                await until("members gone", lambda: _members_are(c, []))
                await until("cluster gone", lambda: _gone(c, "containerclusters", "mc"))
                sets, _ = await c.list("containersets")
                assert sets == []
            finally:
                for task in tasks:
                    task.cancel()

    asyncio.run(go())


async def _has(c: Any, name: str, host: str) -> bool:
    try:
        return host in await hosts_of(c, name)
    except NotFound:
        return False


async def _hosts_are(c: Any, name: str, hosts: list[str]) -> bool:
    return await hosts_of(c, name) == hosts


async def _members_are(c: Any, names: list[str]) -> bool:
    items, _ = await c.list("containers", label_selector=f"{CLUSTER_LABEL}=mc")
    return sorted(i["metadata"]["name"] for i in items) == names


async def _gone(c: Any, plural: str, name: str) -> bool:
    try:
        await c.get(plural, name)
    except NotFound:
        return True
    return False


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--nodes", "0"), "error: --nodes must be 1 or more, got 0\n"),
        (("--nodes", "2", "--context-folder", "/nonexistent/ctx"), "error: --context-folder /nonexistent/ctx: no such folder\n"),
        (("--nodes", "2", "--device", "gpu"), "error: --device 'gpu' is not supported; the only device is home\n"),
    ],
    ids=["zero-nodes", "missing-context-folder", "unknown-device"],
)
def test_bad_cluster_input_creates_nothing(api: Any, tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    result = CliRunner().invoke(app, ["cluster", "create", "mc", "--front-end-image", "busybox", "--working-node-image", "busybox",
                                      "--home-root", str(tmp_path / "homes"), *args], env=api.env())
    assert (result.exit_code, result.stderr) == (2, message)
    assert _nothing(api)
    assert not (tmp_path / "homes").exists()


def test_invalid_image_or_home_is_refused_by_the_apiserver(api: Any, tmp_path: Path) -> None:
    base = ["cluster", "create", "mc", "--nodes", "2", "--no-wait", "--working-node-image", "busybox"]
    result = CliRunner().invoke(app, [*base, "--front-end-image", "bad image"], env=api.env())
    assert result.exit_code == 1
    assert result.stderr == ("error: ContainerCluster is invalid: spec.frontEndImage: 'bad image' is not an image reference "
                             "(e.g. busybox, debian:bookworm)\n")
    result = CliRunner().invoke(app, [*base, "--front-end-image", "busybox", "--device", "home", "--home-root", "/var/lib/nope"],
                                env=api.env())
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ContainerCluster mc is not allowed: spec.home.hostPath: /var/lib/nope/mc/home is not under an allowed host path")
    assert _nothing(api)
    assert not Path("/var/lib/nope").exists()


def _nothing(api: Any) -> bool:
    async def go() -> bool:
        async with api.client() as c:
            return all([(await c.list(p))[0] == [] for p in ("containerclusters", "containersets", "containers")])

    return asyncio.run(go())


def test_a_new_node_image_rolls_the_nodes_over_and_nothing_loops(api: Any) -> None:
    async def go() -> None:
        async with api.client() as c:
            tasks = [asyncio.create_task(fake_kubelet(c)),
                     asyncio.create_task(ContainerSetController(c, ContainerSetSettings(resync=1.0)).run()),
                     asyncio.create_task(ContainerClusterController(c, resync=1.0).run())]
            try:
                await c.create("containerclusters", {"metadata": {"name": "mc"}, "spec": {
                    "frontEndImage": "busybox", "workingNodeImage": "busybox", "nodes": 2, "memory": "64Mi"}})
                await until("Ready", lambda: _phase_is(c, "Ready"))

                async def set_settled() -> bool:
                    # The cluster's phase is judged from the containers; the set's own status follows on its
                    # controller's next pass, so the baseline is taken once that status has caught up too.
                    status = (await c.get("containersets", "mc-nodes")).get("status") or {}
                    return status.get("readyReplicas") == 2 and any(
                        k["type"] == "Progressing" and k["reason"] == "RolloutComplete" for k in status.get("conditions") or [])

                await until("set status settled", set_settled)
                settled = (await c.get("containersets", "mc-nodes"))["metadata"]["resourceVersion"]
                await asyncio.sleep(2.5)  # two resyncs: an unchanged cluster writes nothing to its set
                assert (await c.get("containersets", "mc-nodes"))["metadata"]["resourceVersion"] == settled
                await c.patch("containerclusters", "mc", {"spec": {"workingNodeImage": "debian", "memory": None}})

                async def rolled() -> bool:
                    items, _ = await c.list("containers", label_selector=f"{CLUSTER_LABEL}=mc")
                    nodes = [i for i in items if i["metadata"]["name"] != "mc-frontend" and not i["metadata"].get("deletionTimestamp")]
                    return len(nodes) == 2 and all(i["spec"]["image"] == "debian" and "memory" not in i["spec"] for i in nodes)

                await until("nodes on debian", rolled, timeout=30)
                assert (await c.get("containers", "mc-frontend"))["spec"]["image"] == "busybox"

                # A new front-end image replaces the front-end (a new object under the same name); status says so meanwhile
                # (a finalizer holds the old one, as the kubelet's does while it destroys the container).
                await until("Ready again", lambda: _phase_is(c, "Ready"))
                front = await c.get("containers", "mc-frontend")
                await c.patch("containers", "mc-frontend", {"metadata": {"finalizers": ["test.dlxc.io/hold"]}})
                await c.patch("containerclusters", "mc", {"spec": {"frontEndImage": "debian"}})

                async def updated() -> str:
                    conditions = ((await c.get("containerclusters", "mc")).get("status") or {}).get("conditions", [])
                    return next((f"{k['reason']}: {k['message']}" for k in conditions if k["type"] == "Updated"), "")

                await until("status saying so", lambda: _is(updated, "Updating: front-end being replaced (the old one is being deleted)"))
                await c.patch("containers", "mc-frontend", {"metadata": {"finalizers": []}})

                async def replaced() -> bool:
                    try:
                        new = await c.get("containers", "mc-frontend")
                    except NotFound:
                        return False
                    return new["metadata"]["uid"] != front["metadata"]["uid"] and new["spec"]["image"] == "debian"

                await until("front-end replaced", replaced, timeout=30)
                await until("Ready again", lambda: _phase_is(c, "Ready"))
                assert await updated() == "UpToDate: every member is on the spec's images"
                events, _ = await c.list("events")
                assert sorted(e["spec"]["message"] for e in events if e["spec"]["reason"] == "ReplaceFrontend") == [
                    "replacing the front-end: image busybox -> debian", "replacing the front-end: memory 64Mi -> none"]
            finally:
                for task in tasks:
                    task.cancel()

    asyncio.run(go())


async def _is(get: Any, wanted: str) -> bool:
    return await get() == wanted


async def _phase_is(c: Any, phase: str) -> bool:
    return ((await c.get("containerclusters", "mc")).get("status") or {}).get("phase") == phase
