"""Several apiservers over one etcd; the client takes them all and moves on when one is gone."""
from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from dlxc.client.api import Client
from dlxc.client.config import ClientConfig
from dlxc.client.errors import TemporaryError
from dlxc.client.informer import Informer

pytestmark = pytest.mark.timeout(60)


async def _ignore(name: str, old: Any, new: Any) -> None:
    return None


def test_requests_and_watches_fail_over_to_the_next_apiserver(make_api: Any) -> None:
    prefix = f"/test-{uuid.uuid4().hex[:8]}"
    first, second = make_api(etcd_prefix=prefix), make_api(etcd_prefix=prefix)
    second.token_file.write_text(first.token_file.read_text())  # one set of tokens, as one cluster has
    dead = "http://127.0.0.1:9"  # nothing listens on the discard port

    async def go() -> None:
        async with Client(ClientConfig(server=f"{dead},{first.url},{second.url}", token=first.token)) as c:
            await c.create("containers", {"metadata": {"name": "a"}, "spec": {"image": "busybox"}})
            informer = Informer(c, "containers", _ignore)
            task = asyncio.create_task(informer.run())
            await asyncio.wait_for(informer.synced.wait(), 10)
            assert set(informer.cache) == {"a"}
            await asyncio.to_thread(first.server.stop)
            await c.create("containers", {"metadata": {"name": "b"}, "spec": {"image": "busybox"}})
            assert (await c.get("containers", "b"))["metadata"]["name"] == "b"
            for _ in range(200):
                if "b" in informer.cache:
                    break
                await asyncio.sleep(0.05)
            assert set(informer.cache) == {"a", "b"}
            assert c.servers[c._server] == second.url
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    asyncio.run(go())


def test_every_apiserver_gone_is_a_temporary_error(make_api: Any) -> None:
    async def go() -> None:
        async with Client(ClientConfig(server="http://127.0.0.1:9, http://127.0.0.1:7", token="x")) as c:
            with pytest.raises(TemporaryError, match="^cannot reach the apiserver at http://127.0.0.1:7: "):
                await c.get("containers", "a")

    asyncio.run(go())


def test_an_apiserver_that_never_answers_is_a_temporary_error() -> None:
    import socket

    with socket.socket() as silent:  # accepts connections (the kernel's backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"

        async def go() -> None:
            async with Client(ClientConfig(server=url, token="x"), timeout=0.5) as c:
                with pytest.raises(TemporaryError, match=f"^cannot reach the apiserver at {url}: Timeout on reading data from socket"):
                    await c.get("containers", "a")

        asyncio.run(go())
