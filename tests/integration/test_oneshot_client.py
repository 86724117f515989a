"""The stdlib OneShotClient of one-shot CLI calls: same verbs, same typed errors, same failover and
TLS verification as the aiohttp Client, against real apiservers."""
from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from dlxc.client.config import ClientConfig
from dlxc.client.errors import AlreadyExists, Invalid, NotFound, TemporaryError, Unauthorized
from dlxc.client.oneshot import OneShotClient

pytestmark = pytest.mark.timeout(60)
WEB = {"metadata": {"name": "web"}, "spec": {"image": "busybox"}}


def test_verbs_and_typed_errors(api) -> None:
    async def go() -> None:
        async with OneShotClient(ClientConfig(server=api.url, token=api.token)) as c:
            created = await c.create("containers", WEB)
            assert created["metadata"]["name"] == "web"
            items, rv = await c.list("containers", label_selector="!gone")
            assert [i["metadata"]["name"] for i in items] == ["web"] and rv
            patched = await c.patch("containers", "web", {"metadata": {"labels": {"a": "b"}}})
            assert patched["metadata"]["labels"] == {"a": "b"}
            with pytest.raises(AlreadyExists):
                await c.create("containers", WEB)
            with pytest.raises(NotFound, match="containers/nope not found"):
                await c.get("containers", "nope")
            with pytest.raises(Invalid):
                await c.create("containers", {"metadata": {"name": "x"}, "spec": {"image": "busybox", "cpu": -1}})
            await c.delete("containers", "web")
        async with OneShotClient(ClientConfig(server=api.url, token="wrong")) as stranger:
            with pytest.raises(Unauthorized):
                await stranger.list("containers")

    asyncio.run(go())


def test_fails_over_past_a_dead_apiserver_and_reports_when_all_are_gone(make_api: Any) -> None:
    first = make_api(etcd_prefix=f"/test-{uuid.uuid4().hex[:8]}")

    async def go() -> None:
        async with OneShotClient(ClientConfig(server=f"http://127.0.0.1:9,{first.url}", token=first.token)) as c:
            assert (await c.list("containers"))[0] == []
            assert c.server == first.url
        async with OneShotClient(ClientConfig(server="http://127.0.0.1:9, http://127.0.0.1:7", token="x")) as c:
            with pytest.raises(TemporaryError, match="^cannot reach the apiserver at http://127.0.0.1:7: "):
                await c.get("containers", "a")

    asyncio.run(go())


def test_verifies_the_server_against_the_cluster_ca(make_api: Any) -> None:
    api = make_api(tls=True)

    async def go() -> None:
        async with OneShotClient(ClientConfig(server=api.url, token=api.token, certificate_authority=str(api.ca))) as c:
            assert (await c.list("containers"))[0] == []
        async with OneShotClient(ClientConfig(server=api.url, token=api.token)) as stranger:
            with pytest.raises(TemporaryError, match="CERTIFICATE_VERIFY_FAILED"):
                await stranger.list("containers")

    asyncio.run(go())
