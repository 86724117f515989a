"""GitOps end to end: the real `dlxc sync --watch --prune` process, a real apiserver over etcd,
the scheduler and a real kubelet running LXC containers.

A folder is edited the way git would change it; the test watches the objects on the server,
the LXC containers on the node, and sync's own report.
"""
from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.lxc, pytest.mark.timeout(180)]

WEB = "name: web\nimage: busybox\nmemory_limit: 256\nstate: Running\n"  # state is the manifest's: a stop is drift
DB = "apiVersion: dlxc.io/v1\nkind: Container\nmetadata: {name: db}\nspec: {image: busybox}\n"


def until(check: Callable[[], Any], *, what: str, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class Live:
    def __init__(self, api: Any) -> None:
        self.api = api

    def _run(self, coro_fn: Callable[[Any], Any]) -> Any:
        async def go() -> Any:
            async with self.api.client() as c:
                return await coro_fn(c)

        return asyncio.run(go())

    def containers(self) -> dict[str, dict]:
        async def go(c: Any) -> dict[str, dict]:
            items, _ = await c.list("containers")
            return {i["metadata"]["name"]: i for i in items}

        return self._run(go)

    def patch(self, name: str, patch: dict) -> None:
        self._run(lambda c: c.patch("containers", name, patch))


def lxc(node: Any, *args: str) -> str:
    result = subprocess.run([args[0], "-P", str(node.lxc_path), *args[1:]], capture_output=True, text=True)
    return result.stdout.strip() if result.returncode == 0 else ""


@pytest.fixture
def node(cluster: Any) -> Any:
    return cluster.add_node()


@pytest.fixture
def syncer(cluster: Any, node: Any, tmp_path: Path) -> Iterator[tuple[Path, Path, subprocess.Popen]]:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "web.yaml").write_text(WEB)
    log = tmp_path / "sync.log"
    api = cluster.api
    env = {**api.env(), "DLXC_INVENTORY_DIR": str(tmp_path / "inventory")}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "dlxc", "sync", str(repo), "--watch", "--prune", "--interval", "1"],
            env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    try:
        yield repo, log, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def test_gitops_create_configure_drift_broken_file_prune(cluster, node, syncer) -> None:
    repo, log, proc = syncer
    live = Live(cluster.api)

    # add a file -> created, and its LXC container runs on the node
    until(lambda: "web" in live.containers(), what="web to be created")
    until(lambda: lxc(node, "lxc-info", "-n", "web", "-s", "-H") == "RUNNING", what="web's LXC container to run")
    status = [sys.executable, "-m", "dlxc", "sync", "status", str(repo)]
    until(
        lambda: any(
            line.split()[:1] == ["container/web"] and "InSync" in line and "Running" in line
            for line in subprocess.run(status, env=cluster.api.env(), capture_output=True, text=True).stdout.splitlines()
        ),
        what="`dlxc sync status` to report web in sync and Running",
    )
    (repo / "db.yaml").write_text(DB)
    until(lambda: "db" in live.containers(), what="db to be created from a new file")
    until(lambda: lxc(node, "lxc-info", "-n", "db", "-s", "-H") == "RUNNING", what="db's LXC container to run")

    # edit -> configured, and the running container's limit follows
    (repo / "web.yaml").write_text(WEB.replace("256", "512"))
    until(lambda: live.containers()["web"]["spec"]["memory"] == "512Mi", what="web to be configured")
    until(lambda: "configured" in log.read_text(), what="the report of the edit")
    until(lambda: lxc(node, "lxc-cgroup", "-n", "web", "memory.limit_in_bytes") == str(512 * 2**20), what="the new limit")

    # stopped behind sync's back -> drift on spec.state, corrected, and the container runs again
    live.patch("web", {"spec": {"state": "Stopped"}})
    until(
        lambda: [line for line in log.read_text().splitlines() if line.startswith("container/web") and "Drifted" in line and "spec.state" in line],
        what="the stop reported as drift",
    )
    until(lambda: live.containers()["web"]["spec"]["state"] == "Running", what="spec.state to be restored")
    until(lambda: lxc(node, "lxc-info", "-n", "web", "-s", "-H") == "RUNNING", what="web to run again", timeout=30)

    # a change behind sync's back -> reported as drift (with the field) and corrected; a label
    # set by hand (no manifest sets it) is no drift and survives the rounds that correct it
    live.patch("web", {"metadata": {"labels": {"owner": "ops"}}})
    live.patch("web", {"spec": {"memory": "1Gi"}})
    until(lambda: live.containers()["web"]["spec"]["memory"] == "512Mi", what="drift to be corrected")
    drift = until(
        lambda: [line for line in log.read_text().splitlines() if line.startswith("container/web") and "Drifted" in line and "spec.memory" in line],
        what="the drift report",
    )
    assert "configured" in drift[-1] and "owner" not in drift[-1]
    assert live.containers()["web"]["metadata"]["labels"]["owner"] == "ops"

    # a syntax error in one file -> reported; the others stay in sync and keep being applied
    (repo / "broken.yaml").write_text("name: broken\nimage: [busybox\n")
    until(lambda: f"error: {repo}/broken.yaml: not valid YAML" in log.read_text(), what="the broken file's report")
    (repo / "db.yaml").write_text(DB.replace("{image: busybox}", "{image: busybox, cpu: 0.5}"))
    until(lambda: live.containers()["db"]["spec"].get("cpu") == 0.5, what="db to be configured despite the broken file")
    assert "broken" not in live.containers()

    # delete the file, with --prune -> the object and its LXC container are gone (once no file is
    # broken: a broken file skips the whole prune)
    (repo / "broken.yaml").unlink()
    (repo / "db.yaml").unlink()
    until(lambda: "db" not in live.containers(), what="db to be pruned")
    assert not (node.lxc_path / "db").exists()
    assert any(line.startswith("container/db") and "pruned" in line for line in log.read_text().splitlines())
    assert set(live.containers()) == {"web"}

    assert proc.poll() is None
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0
