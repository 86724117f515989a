"""Writes that start from the watch cache's copy: a stale copy costs a retry, never a lost update or a wrong answer."""
from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest

from apiserver.registry import Registry
from apiserver.storage import Store
from dlxc.client.errors import Conflict, NotFound
from schemas import KINDS
from schemas.base import Obj

pytestmark = [pytest.mark.timeout(60)]

CONTAINERS = next(k for k in KINDS if k.plural == "containers")


@asynccontextmanager
async def connected(etcd) -> AsyncIterator[Store]:
    store = Store([etcd.endpoint], prefix=f"/test-{uuid.uuid4().hex[:8]}")
    await store.connect()
    try:
        yield store
    finally:
        await store.close()


def counter(n: int = 0) -> Obj:
    return {"apiVersion": "dlxc.io/v1", "kind": "Container", "metadata": {"name": "c", "annotations": {"n": str(n)}},
            "spec": {"image": "busybox"}}


def bump(obj: Obj) -> Obj:
    obj["metadata"]["annotations"]["n"] = str(int(obj["metadata"]["annotations"]["n"]) + 1)
    return obj


class Calls:
    """A mutate that records the resourceVersions it was shown."""

    def __init__(self, mutate: Callable[[Obj], Obj | None]) -> None:
        self.mutate = mutate
        self.seen: list[str] = []

    def __call__(self, obj: Obj) -> Obj | None:
        self.seen.append(obj["metadata"]["resourceVersion"])
        return self.mutate(obj)


def test_a_fresh_copy_saves_the_read_and_a_stale_copy_costs_one_retry(etcd) -> None:
    async def go() -> None:
        async with connected(etcd) as store:
            first = await store.create("containers", "c", counter())
            fresh = Calls(bump)
            second = await store.guaranteed_update("containers", "c", fresh, cached=first)
            assert fresh.seen == [first["metadata"]["resourceVersion"]]
            stale = Calls(bump)
            third = await store.guaranteed_update("containers", "c", stale, cached=first)  # first is now stale
            assert stale.seen == [first["metadata"]["resourceVersion"], second["metadata"]["resourceVersion"]]
            assert third["metadata"]["annotations"]["n"] == "2"
            assert await store.get("containers", "c") == third

    asyncio.run(go())


def test_an_error_or_no_change_on_a_stale_copy_is_decided_again_on_the_stored_object(etcd) -> None:
    async def go() -> None:
        async with connected(etcd) as store:
            first = await store.create("containers", "c", counter())
            second = await store.update("containers", "c", bump(dict(first)), expected_rv=int(first["metadata"]["resourceVersion"]))

            def only_at_one(obj: Obj) -> Obj:
                if obj["metadata"]["annotations"]["n"] != "1":
                    raise Conflict("not yet")
                return obj  # nothing to change

            # On the stale copy mutate says Conflict; on the stored one, nothing to change.
            assert await store.guaranteed_update("containers", "c", only_at_one, cached=first) == second
            # On the stale copy nothing changes; on the stored one it does.
            undo = Calls(lambda obj: {**obj, "metadata": {**obj["metadata"], "annotations": {"n": "0"}}})
            undone = await store.guaranteed_update("containers", "c", undo, cached={**second, "metadata": {**second["metadata"], "annotations": {"n": "0"}}})
            assert undone["metadata"]["annotations"] == {"n": "0"}
            assert len(undo.seen) == 2

    asyncio.run(go())


def test_a_cached_copy_of_a_deleted_object_gives_404(etcd) -> None:
    async def go() -> None:
        async with connected(etcd) as store:
            first = await store.create("containers", "c", counter())
            await store.delete("containers", "c", expected_rv=int(first["metadata"]["resourceVersion"]))
            with pytest.raises(NotFound):
                await store.guaranteed_update("containers", "c", bump, cached=first)
            with pytest.raises(NotFound):  # a delete too
                await store.guaranteed_update("containers", "c", lambda obj: None, cached=first)

    asyncio.run(go())


def test_a_cached_copy_of_an_object_deleted_and_created_again_updates_the_new_one(etcd) -> None:
    async def go() -> None:
        async with connected(etcd) as store:
            first = await store.create("containers", "c", counter())
            await store.delete("containers", "c", expected_rv=int(first["metadata"]["resourceVersion"]))
            await store.create("containers", "c", counter(10))
            updated = await store.guaranteed_update("containers", "c", bump, cached=first)
            assert updated["metadata"]["annotations"]["n"] == "11"

    asyncio.run(go())


@pytest.mark.parametrize("cache_lags", [True, False], ids=["cache-lags", "cache-current"])
def test_put_with_the_current_resource_version_succeeds_and_a_stale_one_is_409(etcd, cache_lags: bool) -> None:
    async def go() -> None:
        async with connected(etcd) as store:
            first = await store.create("containers", "c", counter())
            current = await store.update("containers", "c", bump(dict(first)), expected_rv=int(first["metadata"]["resourceVersion"]))
            copy = first if cache_lags else current
            registry = Registry(store, CONTAINERS, cached=lambda name: {**copy} if name == "c" else None)
            with pytest.raises(Conflict):
                await registry.replace("c", bump(dict(first)))  # the client's resourceVersion is stale
            assert await store.get("containers", "c") == current
            # The client's resourceVersion is newer than the cache's copy: not a conflict.
            written = await registry.replace("c", bump(dict(current)))
            assert written["metadata"]["annotations"]["n"] == "2"

    asyncio.run(go())


def test_status_put_and_bind_on_a_lagging_cache_are_not_refused(etcd) -> None:
    async def go() -> None:
        async with connected(etcd) as store:
            created = await store.create("containers", "c", {**counter(), "status": {"phase": "Pending"}})
            registry = Registry(store, CONTAINERS, cached=lambda name: {**created})
            bound = await registry.bind("c", {"nodeName": "n1", "resourceVersion": created["metadata"]["resourceVersion"]})
            # The cache still shows the container unbound; the kubelet read the bound one.
            running = await registry.replace_status("c", {**bound, "status": {"phase": "Running", "nodeName": "n1"}})
            assert running["status"]["phase"] == "Running"
            assert running["spec"]["nodeName"] == "n1"
            with pytest.raises(Conflict, match="already bound"):  # decided on the stored object, not the copy
                await registry.bind("c", {"nodeName": "n2"})

    asyncio.run(go())


EVENTS = next(k for k in KINDS if k.plural == "events")


def test_a_repeated_event_is_one_transaction_and_a_copy_never_decides(etcd) -> None:
    """An exec's audit Event again (same name, same spec): the apiserver that wrote it bumps the count in one
    etcd transaction; another apiserver, which has no copy, in two (the failed create reads it); an Event
    gone since (expired) is created anew; another spec under the name is still refused."""
    from dlxc.client.api import event_name
    from dlxc.client.errors import AlreadyExists

    spec = {"involvedObject": {"kind": "Container", "name": "web", "uid": "u1"}, "type": "Normal", "reason": "Exec",
            "message": "alice (admin): exec true", "source": {"component": "apiserver", "host": ""}}
    name = event_name(spec)

    async def go() -> None:
        async with connected(etcd) as store:
            calls: list[str] = []
            for method in ("transaction", "get"):
                real = getattr(store.etcd, method)

                def counted(*args: object, _real: Callable[..., object] = real, _method: str = method, **kwargs: object) -> object:
                    calls.append(_method)
                    return _real(*args, **kwargs)

                setattr(store.etcd, method, counted)
            one, other = Registry(store, EVENTS), Registry(store, EVENTS)
            body = {"metadata": {"name": name}, "spec": spec}
            assert (await one.create(body))["status"]["count"] == 1
            calls.clear()
            assert (await one.create(body))["status"]["count"] == 2
            assert calls == ["transaction"]
            calls.clear()
            assert (await other.create(body))["status"]["count"] == 3
            assert calls == ["transaction", "transaction"]
            calls.clear()
            fourth = await one.create(body)  # its copy was stale: the lost swap's answer has the stored one
            assert fourth["status"]["count"] == 4 and calls == ["transaction", "transaction"]
            await store.delete("events", name, expected_rv=int(fourth["metadata"]["resourceVersion"]))
            assert (await one.create(body))["status"]["count"] == 1
            with pytest.raises(AlreadyExists):
                await one.create({"metadata": {"name": name}, "spec": {**spec, "message": "alice (admin): exec false"}})
            assert (await store.get("events", name))["status"]["count"] == 1

    asyncio.run(go())
