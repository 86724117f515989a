"""`dlxc apiserver --workers N`: several processes serve one port over one etcd, as several apiservers do."""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import psutil
import pytest

from apiserver.auth import TokenFile
from dlxc.client import Client
from dlxc.clientconfig import ClientConfig
from conftest import free_port, stop_process, wait_http

pytestmark = pytest.mark.timeout(90)


def workers_of(proc: subprocess.Popen) -> list[psutil.Process]:
    """The serving processes (multiprocessing also starts a resource tracker beside them)."""
    workers = []
    for child in psutil.Process(proc.pid).children():
        try:
            if "spawn_main" in " ".join(child.cmdline()):
                workers.append(child)
        except psutil.NoSuchProcess:
            pass
    return workers


def wait_workers(proc: subprocess.Popen, count: int, *, timeout: float = 20.0) -> list[psutil.Process]:
    deadline = time.monotonic() + timeout
    while len(children := workers_of(proc)) != count:
        assert time.monotonic() < deadline, f"expected {count} workers, have {len(children)}"
        time.sleep(0.1)
    return children


@pytest.fixture
def two_workers(etcd: Any, tmp_path: Path) -> Any:
    token_file = tmp_path / "tokens"
    token = TokenFile(token_file).add("admin", "admin")
    port = free_port()
    with (tmp_path / "apiserver.log").open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "dlxc", "apiserver", "--port", str(port), "--insecure-http", "--workers", "2",
             "--etcd-endpoints", etcd.endpoint, "--etcd-prefix", f"/w-{uuid.uuid4().hex[:8]}", "--token-file", str(token_file)],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/readyz")
        yield proc, ClientConfig(server=url, token=token), url
    finally:
        children = psutil.Process(proc.pid).children() if proc.poll() is None else []
        stop_process(proc)
        _, alive = psutil.wait_procs(children, timeout=5)
        for child in alive:
            child.kill()
        assert not alive, f"processes outlived the apiserver: {[p.pid for p in alive]}"


def test_workers_serve_one_port_and_every_watch_sees_every_write(two_workers: Any) -> None:
    proc, config, _ = two_workers
    assert len(wait_workers(proc, 2)) == 2

    async def go() -> None:
        # Many clients, so their connections land on both workers; each watch sees all 60 creates.
        clients = [Client(config) for _ in range(6)]
        try:
            _, rv = await clients[0].list("containers")
            seen: list[set[str]] = [set() for _ in clients]

            async def watch(i: int) -> None:
                async for _, obj in clients[i].watch("containers", resource_version=rv):
                    seen[i].add(obj["metadata"]["name"])
                    if len(seen[i]) == 60:
                        return

            watchers = [asyncio.create_task(watch(i)) for i in range(len(clients))]
            await asyncio.gather(*(
                clients[i % len(clients)].create("containers", {"metadata": {"name": f"c{i}"}, "spec": {"image": "busybox"}})
                for i in range(60)
            ))
            await asyncio.wait_for(asyncio.gather(*watchers), 20)
            assert all(len(s) == 60 for s in seen)
            # A write through one worker is read back through the other at once (reads go to etcd).
            for i in range(20):
                await clients[i % 2].patch("containers", "c0", {"metadata": {"labels": {"n": str(i)}}})
                got = await clients[(i + 1) % 2].get("containers", "c0")
                assert got["metadata"]["labels"]["n"] == str(i)
        finally:
            for c in clients:
                await c.close()

    asyncio.run(go())


def test_a_dead_worker_is_replaced_and_sigterm_stops_them_all(two_workers: Any) -> None:
    proc, config, url = two_workers
    first = wait_workers(proc, 2)
    os.kill(first[0].pid, signal.SIGKILL)
    first[0].wait(5)
    deadline = time.monotonic() + 20
    while {p.pid for p in workers_of(proc)} in ({first[1].pid}, set()):
        assert time.monotonic() < deadline, "the dead worker was not replaced"
        time.sleep(0.1)
    wait_workers(proc, 2)
    wait_http(f"{url}/readyz")

    async def go() -> None:
        async with Client(config) as c:
            await c.create("containers", {"metadata": {"name": "after"}, "spec": {"image": "busybox"}})
            assert (await c.get("containers", "after"))["metadata"]["name"] == "after"

    asyncio.run(go())
    children = psutil.Process(proc.pid).children()  # the resource tracker too
    proc.send_signal(signal.SIGTERM)
    proc.wait(15)
    gone, alive = psutil.wait_procs(children, timeout=5)
    assert not alive, f"workers left running: {[p.pid for p in alive]}"
