"""A kubelet keeps the apiservers it learnt across a restart, so it reaches the others once the one in its config is gone."""
from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from dlxc.client.api import Client
from dlxc.client.config import ClientConfig
from kubelet.apiservers import KNOWN_FILE, KnownServers, refresh_apiservers

pytestmark = pytest.mark.timeout(60)


def test_a_restarted_kubelet_reaches_the_apiservers_it_learnt_before(make_api: Any, tmp_path: Path) -> None:
    from conftest import free_port

    prefix = f"/test-{uuid.uuid4().hex[:8]}"
    ports = free_port(), free_port()
    first, second = (make_api(etcd_prefix=prefix, port=p, advertise_url=f"http://127.0.0.1:{p}") for p in ports)
    second.token_file.write_text(first.token_file.read_text())
    path = tmp_path / "lxc" / KNOWN_FILE
    config = ClientConfig(server=first.url, token=first.token)  # the kubelet's config knows the first only

    async def run() -> None:
        async with Client(config) as c:
            task = asyncio.create_task(refresh_apiservers(c, interval=0.1, known=KnownServers(path, c.servers)))
            try:
                for _ in range(100):  # published once each apiserver's heartbeat session is granted
                    if path.exists() and len(json.loads(path.read_text())["servers"]) == 2:
                        break
                    await asyncio.sleep(0.05)
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        assert json.loads(path.read_text()) == {"configured": [first.url], "servers": sorted([first.url, second.url])}

        await asyncio.to_thread(first.server.stop)
        # The restart, as the kubelet starts (kubelet.agent.Kubelet.run): its config, then what it learnt.
        async with Client(config) as c:
            c.add_servers(KnownServers(path, c.servers).load())
            await c.create("containers", {"metadata": {"name": "a"}, "spec": {"image": "busybox"}})
            assert c.server == second.url
        # Without the file, the config's one apiserver is all it has.
        async with Client(config) as c:
            c.add_servers(KnownServers(tmp_path / "none" / KNOWN_FILE, c.servers).load())
            assert c.servers == [first.url]

    asyncio.run(run())
