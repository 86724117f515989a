"""Node Lease renewals answered from the apiserver's memory: no etcd write, and a DELETE when silent."""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import aiohttp
import orjson
import pytest

from apiserver import renewals
from kubelet.lease import LeaseSettings, NodeLease

pytestmark = pytest.mark.timeout(60)

EXPIRE = 1.0  # the apiservers' heartbeat_expire_after in these tests


async def _noop() -> None:
    return None


def node_lease(c: Any, name: str = "n1") -> NodeLease:
    return NodeLease(c, name, LeaseSettings(renew_interval=0.1, fence_timeout=1.0, request_timeout=0.5), on_fence=_noop, on_recover=_noop)


async def revision(c: Any) -> int:
    _, rv = await c.list("leases")
    return int(rv)


async def exists(c: Any, name: str) -> bool:
    items, _ = await c.list("leases")
    return any(i["metadata"]["name"] == name for i in items)


def test_renewals_of_a_node_lease_write_nothing_to_etcd(make_api: Any) -> None:
    api = make_api(heartbeat_expire_after=EXPIRE)

    async def go() -> None:
        async with api.client() as c:
            lease = node_lease(c)
            await lease.renew()  # creates it: one write
            first = await c.get("leases", "n1")
            before = await revision(c)
            for _ in range(10):
                await lease.renew()
                await asyncio.sleep(0.02)
            renewed = await c.get("leases", "n1")
            assert await revision(c) == before
            assert renewed["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
            assert renewed["spec"]["renewTime"] > first["spec"]["renewTime"]  # served from memory

    asyncio.run(go())
    # After the first acknowledged JSON renewal the kubelet sent `+` lines (only those set a template).
    heartbeats = api.server.server.config.app.state.heartbeats
    assert heartbeats.owned["n1"].template is not None and heartbeats.renewals >= 9


def test_kubelets_of_the_previous_versions_renew_on_an_http_stream(make_api: Any) -> None:
    """No Upgrade asked for; JSON lines, never a look at X-Dlxc-Renewals (version 1), then a `+`
    (version 2): still answered from memory, in order."""
    api = make_api(heartbeat_expire_after=EXPIRE)

    async def go() -> None:
        async with api.client() as c:
            await node_lease(c).renew()  # creates the Lease
            before = await revision(c)
            lines = [orjson.dumps({"spec": {"holderIdentity": "n1", "renewTime": f"2026-01-01T00:00:0{i}Z", "leaseDurationSeconds": 5}}) + b"\n"
                     for i in range(3)]
            lines.append(b"+\n")  # and a kubelet of version 2: `+` on its HTTP stream, answered from memory

            async def body() -> Any:
                for line in lines:
                    yield line

            async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {api.token}"}) as session:
                async with session.post(f"{api.url}/apis/dlxc.io/v1/leases/n1/renewals", data=body()) as response:
                    assert response.headers["X-Dlxc-Renewals"] == "2"
                    answers = [orjson.loads(line) for line in (await response.read()).splitlines()]
            assert [a["code"] for a in answers] == [200, 200, 200, 200]
            assert await revision(c) == before
            assert (await c.get("leases", "n1"))["spec"]["renewTime"] > "2026-01-01T00:00:02Z"  # the `+`: stamped now

    asyncio.run(go())


def test_a_leader_lease_is_still_written_on_every_renewal(make_api: Any) -> None:
    api = make_api(heartbeat_expire_after=EXPIRE)

    async def go() -> None:
        async with api.client() as c:
            await c.create("leases", {"metadata": {"name": "scheduler"}, "spec": {"holderIdentity": "host-1"}})
            before = await revision(c)
            await c.patch("leases", "scheduler", {"spec": {"holderIdentity": "host-1", "renewTime": "2026-01-01T00:00:00Z"}})
            assert await revision(c) == before + 1

    asyncio.run(go())


def test_a_silent_node_lease_is_deleted_after_expire_after_and_not_before(make_api: Any) -> None:
    api = make_api(heartbeat_expire_after=EXPIRE)

    async def go() -> None:
        async with api.client() as c:
            lease = node_lease(c)
            await lease.renew()
            await lease.renew()
            silent = time.monotonic()
            await asyncio.sleep(EXPIRE * 0.6)
            assert await exists(c, "n1")
            while await exists(c, "n1"):
                assert time.monotonic() - silent < EXPIRE + 2.0, "the silent node's Lease was never deleted"
                await asyncio.sleep(0.05)
            assert time.monotonic() - silent >= EXPIRE
            await lease.renew()  # the node is back: it creates its Lease again
            assert await exists(c, "n1")

    asyncio.run(go())


def test_a_hung_apiservers_node_leases_expire_with_its_session(make_api: Any) -> None:
    """No apiserver deletes the Lease (the one holding it hangs: no sweep, no keepalive): etcd does,
    when that apiserver's session runs out, and not before expire_after."""
    a = make_api(heartbeat_expire_after=EXPIRE)
    b = make_api(heartbeat_expire_after=EXPIRE, etcd_prefix=a.prefix)
    heartbeats = a.server.server.config.app.state.heartbeats

    async def hung() -> None:
        return None

    async def go() -> None:
        async with a.client() as ca, b.client() as cb:
            await node_lease(ca).renew()
            heartbeats.sweep = heartbeats.keep_alive = hung
            await node_lease(ca).renew()
            stopped = time.monotonic()
            while await exists(cb, "n1"):
                assert time.monotonic() - stopped < 10, "the hung apiserver's node Lease never expired"
                await asyncio.sleep(0.1)
            assert time.monotonic() - stopped >= EXPIRE

    asyncio.run(go())


def test_a_node_moving_to_another_apiserver_keeps_its_lease(make_api: Any) -> None:
    """The first apiserver's sweep must not delete the Lease the second one now keeps alive."""
    a = make_api(heartbeat_expire_after=EXPIRE)
    b = make_api(heartbeat_expire_after=EXPIRE, etcd_prefix=a.prefix)

    async def go() -> None:
        async with a.client() as ca, b.client() as cb:
            await node_lease(ca).renew()
            await node_lease(ca).renew()
            moved = node_lease(cb)
            until = time.monotonic() + EXPIRE * 2.5
            while time.monotonic() < until:
                await moved.renew()
                assert await exists(cb, "n1")
                await asyncio.sleep(0.1)

    asyncio.run(go())


def test_renewals_over_tls_take_the_bare_connection_and_keep_the_lease_alive(make_api: Any, caplog: Any) -> None:
    """Version 3 as a real cluster runs it (TLS): 101, then `+` lines; no etcd write, renewTime moves;
    and uvicorn's "Unsupported upgrade request." (it only knows WebSocket upgrades) is not logged for it."""
    api = make_api(heartbeat_expire_after=EXPIRE, tls=True)
    uvicorn_log = logging.getLogger("uvicorn.error")  # it does not propagate to the root, where caplog listens
    uvicorn_log.addHandler(caplog.handler)

    async def go() -> None:
        async with api.client() as c:
            lease = node_lease(c)
            await lease.renew()
            first = await c.get("leases", "n1")
            before = await revision(c)
            started = time.monotonic()
            while time.monotonic() - started < EXPIRE * 2.5:  # longer than expire_after: kept alive
                await lease.tick()
                assert lease.stream._connection is not None  # upgraded, not an aiohttp request
                await asyncio.sleep(0.1)
            assert not lease.failing and await revision(c) == before
            assert (await c.get("leases", "n1"))["spec"]["renewTime"] > first["spec"]["renewTime"]
            await lease.stream.close()

    try:
        asyncio.run(go())
    finally:
        uvicorn_log.removeHandler(caplog.handler)
    assert api.server.server.config.app.state.heartbeats.owned["n1"].template is not None
    assert not [r for r in caplog.records if "upgrade" in r.getMessage().lower()]


def test_a_new_kubelet_renews_through_an_apiserver_that_ignores_the_upgrade(make_api: Any, monkeypatch: Any) -> None:
    """An apiserver of version 2 (here: this one, not looking at the Upgrade header, so the real HTTP
    server answers the empty request): the kubelet falls back to an HTTP stream with `+` lines."""
    monkeypatch.setattr(renewals, "wants_upgrade", lambda scope: False)
    api = make_api(heartbeat_expire_after=EXPIRE)

    async def go() -> None:
        async with api.client() as c:
            lease = node_lease(c)
            await lease.renew()
            before = await revision(c)
            for _ in range(5):
                await lease.tick()
            assert not lease.failing and await revision(c) == before
            assert lease.stream._connection is None and lease.stream._stamps  # version 2
            await lease.stream.close()

    asyncio.run(go())
    assert api.server.server.config.app.state.heartbeats.renewals >= 4
