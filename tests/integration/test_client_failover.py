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


def test_apiservers_publish_their_urls_and_a_client_learns_them(make_api: Any) -> None:
    """Each apiserver publishes its --advertise-url while its etcd session lives; a client that knows
    only one learns the others (GET /apiservers) and fails over to them once that one is gone."""
    from conftest import free_port

    prefix = f"/test-{uuid.uuid4().hex[:8]}"
    ports = free_port(), free_port()
    first, second = (make_api(etcd_prefix=prefix, port=p, advertise_url=f"http://127.0.0.1:{p}") for p in ports)
    second.token_file.write_text(first.token_file.read_text())
    plain = make_api(etcd_prefix=prefix)  # no advertised URL: serves the list, is not in it
    plain.token_file.write_text(first.token_file.read_text())

    async def go() -> None:
        async with Client(ClientConfig(server=plain.url, token=first.token)) as c:
            for _ in range(100):  # published once each apiserver's heartbeat session is granted
                if len(await c.refresh_servers()) == 3:
                    break
                await asyncio.sleep(0.05)
            # the one in use stays in use, first; the advertised ones follow
            assert c.servers == [plain.url, *sorted([first.url, second.url])] and c.server == plain.url
        async with Client(ClientConfig(server=first.url, token=first.token)) as c:
            assert await c.refresh_servers() == sorted([first.url, second.url]) and c.server == first.url
            await asyncio.to_thread(first.server.stop)  # a clean stop takes its URL out at once
            await c.create("containers", {"metadata": {"name": "a"}, "spec": {"image": "busybox"}})
            assert c.server == second.url
            assert await c.refresh_servers() == [second.url]

    asyncio.run(go())

