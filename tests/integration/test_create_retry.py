"""A create whose answer is lost and is retried on another etcd member: the lost attempt, applied late, never brings back a deleted object.

The chaos soak found it: with the etcd member the apiserver talked to SIGSTOPped, a create timed out,
was retried on the next member and acknowledged, and the client deleted the object; when the member
resumed it applied the first attempt, whose only condition ("the key does not exist") was true
again, and the deleted container came back. Here the member that holds an attempt back is a fake at
the boundary (the etcd client's transaction call); the transaction it held is then sent to the real
etcd as the member would apply it.
"""
from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aetcd.exceptions
import pytest

from apiserver.storage import VOID_TTL, Store
from dlxc.client.errors import NotFound

pytestmark = [pytest.mark.timeout(60)]


@asynccontextmanager
async def connected(etcd) -> AsyncIterator[Store]:
    # The one test member twice: a failover moves to "the next member", which is the same one.
    store = Store([etcd.endpoint, etcd.endpoint], prefix=f"/test-{uuid.uuid4().hex[:8]}")
    await store.connect()
    try:
        yield store
    finally:
        await store.close()


class HeldBack:
    """The store's next transaction goes to a member that answers nothing (the caller times out); the
    member keeps it, to apply later (`land`), or has applied it already (`applied=True`)."""

    def __init__(self, store: Store, *, applied: bool = False) -> None:
        self.client = store.etcd  # the failover replaces the client: only the first attempt is held
        self.send = self.client.transaction
        self.applied = applied
        self.held: dict[str, Any] | None = None
        self.client.transaction = self.hold  # type: ignore[method-assign]

    async def hold(self, **txn: Any) -> Any:
        if self.held is None:
            self.held = txn
            if self.applied:
                await self.send(**txn)
            raise aetcd.exceptions.ConnectionTimeoutError("deadline exceeded")
        return await self.send(**txn)

    async def land(self, store: Store) -> bool:
        assert self.held is not None, "no transaction was held back"
        ok, _ = await store.etcd.transaction(**self.held)
        return bool(ok)


def container(name: str) -> dict[str, Any]:
    return {"apiVersion": "dlxc.io/v1", "kind": "Container", "metadata": {"name": name, "uid": uuid.uuid4().hex}, "spec": {"image": "busybox"}}


async def void_markers(store: Store) -> list[Any]:
    got = await store.etcd.get_prefix(f"{store._prefix}/\x00void/".encode())
    return list(got)


@pytest.mark.parametrize("claimed", [False, True], ids=["create", "create_with_claim"])
def test_a_lost_attempt_of_an_acknowledged_create_cannot_bring_back_the_deleted_object(etcd, claimed: bool) -> None:
    async def go() -> None:
        async with connected(etcd) as store:
            obj = container("c")

            async def create() -> dict[str, Any]:
                if claimed:
                    return await store.create_with_claim("containers", "c", obj, claim="ipv4-10.88.0.9", owner={"name": "c"}, claim_rv=0)
                return await store.create("containers", "c", obj)

            await store.create("containers", "plain", container("plain"))
            assert await void_markers(store) == [], "a create answered the first time writes nothing but itself"

            held = HeldBack(store)
            created = await create()  # the first attempt's answer is lost; the retry on the next member commits
            assert created["metadata"]["uid"] == obj["metadata"]["uid"]
            await store.delete("containers", "c", expected_rv=int(created["metadata"]["resourceVersion"]))
            if claimed:
                claim = await store.get_claim("ipv4-10.88.0.9")
                assert claim is not None
                await store.delete_claim("ipv4-10.88.0.9", rv=claim[1])

            assert not await held.land(store), "the lost first attempt committed after the delete"
            with pytest.raises(NotFound):
                await store.get("containers", "c")
            if claimed:
                assert await store.get_claim("ipv4-10.88.0.9") is None
            # The marker that voids it goes by itself (an etcd lease), not to pile up in etcd.
            markers = await void_markers(store)
            assert len(markers) == 1 and markers[0].lease
            ttl = await store.etcd.get_lease_info(markers[0].lease)
            assert 0 < ttl.TTL <= VOID_TTL

    asyncio.run(go())


def test_a_retried_create_whose_lost_attempt_did_commit_answers_with_that_object(etcd) -> None:
    async def go() -> None:
        async with connected(etcd) as store:
            obj = container("c")
            HeldBack(store, applied=True)
            created = await store.create("containers", "c", obj)  # was AlreadyExists: its own first attempt
            stored = await store.get("containers", "c")
            assert created == stored
            assert created["metadata"]["uid"] == obj["metadata"]["uid"]

    asyncio.run(go())
