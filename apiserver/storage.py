"""Objects in etcd: one key per object, resourceVersion = the key's mod revision, writes by compare-and-swap."""
from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aetcd
import aetcd.exceptions

from apiserver.codec import dumps, loads
from dlxc.client.errors import (
    AlreadyExists,
    ApiError,
    Conflict,
    Fenced,
    Gone,
    NotFound,
    TemporaryError,
)
from schemas.base import Obj

__all__ = [
    "ATTACH_LEASE", "VOID_TTL", "AlsoExists", "ClaimTaken", "Compacted", "Existing", "LEASE_FENCE", "Store", "WatchEvent",
    "with_resource_version",
]

log = logging.getLogger("dlxc.apiserver.storage")
MAX_MESSAGE = 512 * 1024 * 1024

# A leader's fencing token for the request being served: (lease name, the resourceVersion at which
# its holder created the Lease, i.e. the start of its term). Every write made while it is set
# commits only if the Lease is still that same Lease (etcd create revision), checked in the same
# transaction, so a deposed leader's late write is refused even if it raced the new leader. Renewals
# do not change the create revision: a leader's writes in flight are not refused by its own renewal.
LEASE_FENCE: contextvars.ContextVar[tuple[str, int] | None] = contextvars.ContextVar("lease_fence", default=None)

# An etcd lease id that every put made while it is set attaches its key to (the apiserver's heartbeat
# session, for node Leases): when that etcd lease expires, etcd itself deletes the key.
ATTACH_LEASE: contextvars.ContextVar[int | None] = contextvars.ContextVar("attach_lease", default=None)


# How long the marker that voids a create's earlier attempt lives (seconds; each lives at least half
# of it, see Store._void_lease). A lost attempt still queued at an etcd member stopped for longer than
# that could land after all; one stopped for an hour has been replaced long before.
VOID_TTL = 3600


class Compacted(Gone):
    """The revision asked for is older than etcd's compaction; `revision` is the oldest one left."""

    def __init__(self, message: str, *, revision: int) -> None:
        super().__init__(message)
        self.revision = revision


class WatchEvent:
    """One change of one object: PUT (with the object before it, if any) or DELETE.

    From etcd, the objects are decoded only when first asked for: a watch cache with no selector
    and no listener sends the stored bytes on (`encoded`) and never decodes them at all.
    """

    __slots__ = ("_encoded", "_name", "_obj", "_prev", "_prev_raw", "_raw", "has_prev", "kind", "revision")

    def __init__(self, kind: str, obj: Obj, prev: Obj | None, revision: int) -> None:
        self.kind = kind  # "PUT" | "DELETE"
        self.revision = revision
        self._obj: Obj | None = obj  # the object after a PUT, the last state before a DELETE
        self._prev = prev
        self._raw: bytes | None = None
        self._prev_raw: tuple[bytes, int] | None = None
        self._encoded: bytes | None = None
        self._name: str | None = None
        self.has_prev = prev is not None

    @classmethod
    def stored(cls, kind: str, name: str, value: bytes, prev: tuple[bytes, int] | None, revision: int) -> WatchEvent:
        """An event as etcd sent it: object `name` stored at `revision` as `value` (for a DELETE, its
        last value), and the previous (value, mod revision), if the key existed before."""
        event = cls(kind, None, None, revision)  # type: ignore[arg-type]
        event._name, event._raw, event._prev_raw, event.has_prev = name, value, prev, prev is not None
        return event

    @property
    def obj(self) -> Obj:
        if self._obj is None:
            assert self._raw is not None
            self._obj = _decode(self._raw, self.revision)
        return self._obj

    @property
    def prev(self) -> Obj | None:
        if self._prev is None and self._prev_raw is not None:
            value, mod_revision = self._prev_raw
            self._prev = _decode(value, mod_revision)
        return self._prev

    @property
    def name(self) -> str | None:
        return self._name if self._name is not None else self.obj.get("metadata", {}).get("name")

    @property
    def encoded(self) -> bytes:
        """The object as JSON, with its resourceVersion, encoded once."""
        if self._encoded is None:
            spliced = with_resource_version(self._raw, self.revision) if self._raw is not None and self._obj is None else None
            self._encoded = spliced if spliced is not None else dumps(self.obj)
        return self._encoded

    def __repr__(self) -> str:
        return f"WatchEvent({self.kind}, revision={self.revision})"


_META = b'"metadata":{'


def with_resource_version(value: bytes, revision: int) -> bytes | None:
    """Stored bytes as the object served, resourceVersion spliced in without decoding, or None when
    the bytes are not in the server's own layout (apiVersion and kind first, then a non-empty metadata)."""
    at = value.find(_META)
    if 0 <= at < 96 and value[at + len(_META):at + len(_META) + 1] == b'"':
        cut = at + len(_META)
        return value[:cut] + b'"resourceVersion":"%d",' % revision + value[cut:]
    return None


def _decode(value: bytes, mod_revision: int) -> Obj:
    obj = loads(value)
    obj.setdefault("metadata", {})["resourceVersion"] = str(mod_revision)
    return obj


def _encode(obj: Obj) -> bytes:
    meta = dict(obj.get("metadata", {}))
    meta.pop("resourceVersion", None)  # the key's mod revision is the truth; never store a copy
    return dumps({**obj, "metadata": meta})


def _copy(obj: Obj) -> Obj:
    return loads(dumps(obj))


def _stored_as(obj: Obj, revision: int) -> Obj:
    """`obj` as a read after writing it at `revision` returns it, without decoding what was written:
    top level and metadata are new dicts, the rest is `obj`'s own (so only for an object no one else holds)."""
    return {**obj, "metadata": {**obj.get("metadata", {}), "resourceVersion": str(revision)}}


class ClaimTaken(AlreadyExists):
    """The claim a create was conditioned on is held (or was taken since it was read)."""

    def __init__(self, claim: str) -> None:
        super().__init__(f"claims/{claim} is held")
        self.claim = claim


class _Moved(Exception):
    """A compare-and-swap lost: the object is now `current` (read in the same transaction)."""

    def __init__(self, current: Obj) -> None:
        self.current = current


class AlsoExists(AlreadyExists):
    """An update that also creates another object was refused because that one exists (the update
    itself would have gone through); nothing was written."""

    def __init__(self, plural: str, name: str) -> None:
        super().__init__(f"{plural}/{name} already exists")
        self.plural, self.name = plural, name


class Existing(AlreadyExists):
    """AlreadyExists from a create, with the stored object its transaction read in the same round trip
    (a starting copy for a compare-and-swap that follows, e.g. an Event's count bump)."""

    def __init__(self, message: str, *, current: Obj | None) -> None:
        super().__init__(message)
        self.current = current


class Store:
    """CRUD and watch of JSON objects under `/PREFIX/PLURAL/NAME`."""

    def __init__(self, endpoints: list[str], *, prefix: str = "/dlxc", timeout: float = 10.0) -> None:
        self._endpoints = endpoints
        self._prefix = prefix.rstrip("/")
        self._timeout = timeout
        self._client: aetcd.Client | None = None
        self._current = 0  # index of the endpoint in use; aetcd talks to one member at a time
        self._switches = 0
        self._switching = asyncio.Lock()
        self._void_lease_id: int | None = None  # the etcd lease of void markers, granted when first needed
        self._void_lease_at = 0.0

    @property
    def endpoint(self) -> str:
        return self._endpoints[self._current]

    @property
    def endpoints(self) -> list[str]:
        """Every etcd member this store was given, in failover order."""
        return list(self._endpoints)

    async def connect(self) -> None:
        host, _, port = self._endpoints[self._current].rpartition("//")[2].partition(":")
        self._client = aetcd.Client(
            host=host,
            port=int(port or 2379),
            timeout=int(self._timeout),
            # A LIST of every object of a kind is one range read: 10k containers are ~5 MB,
            # past gRPC's 4 MB default.
            options={"grpc.max_receive_message_length": MAX_MESSAGE, "grpc.max_send_message_length": MAX_MESSAGE},
        )
        await self._client.connect()

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    @property
    def etcd(self) -> aetcd.Client:
        if self._client is None:
            raise TemporaryError("storage is not connected")
        return self._client

    def key(self, plural: str, name: str = "") -> bytes:
        return f"{self._prefix}/{plural}/{name}".encode()

    async def _failover(self, seen: int) -> None:
        """Move to the next etcd member, unless a concurrent request already did since `seen`."""
        async with self._switching:
            if self._switches != seen:
                return
            old, self._client = self._client, None
            self._current = (self._current + 1) % len(self._endpoints)
            self._switches += 1
            if old is not None:
                try:
                    await asyncio.wait_for(old.close(), 2.0)
                except Exception:  # the member is gone; its channel may not close cleanly
                    pass
            await self.connect()

    async def _call(self, make: Callable[[], Awaitable[Any]]) -> Any:
        """Run one etcd call; on a dead member, fail over to the next endpoint and try again there.

        A write retried this way may already have been applied by the dead member's cluster: every
        write here is a compare-and-swap, so the retry fails its compare instead of writing twice.
        """
        tries = len(self._endpoints)
        for attempt in range(tries):
            seen = self._switches
            try:
                return await make()
            except (aetcd.exceptions.ConnectionFailedError, aetcd.exceptions.ConnectionTimeoutError) as exc:
                if attempt == tries - 1:
                    raise TemporaryError(f"etcd unavailable: {exc}", delay=1.0) from exc
                log.warning("etcd member %s unavailable (%s); failing over", self.endpoint, type(exc).__name__)
                await self._failover(seen)
            except aetcd.exceptions.InternalError as exc:
                raise TemporaryError(f"etcd error: {exc}", delay=1.0) from exc
            except asyncio.CancelledError:
                # gRPC cancels the calls in flight on a channel that a concurrent failover closed:
                # that is not this request being cancelled; try it on the member now in use.
                task = asyncio.current_task()
                if (task is not None and task.cancelling()) or self._switches == seen or attempt == tries - 1:
                    raise
                log.warning("etcd call cut off by a failover to %s; retrying there", self.endpoint)
                async with self._switching:  # until the new member is connected
                    pass
            except aetcd.exceptions.RevisionCompactedError:
                raise
            except aetcd.exceptions.ClientError as exc:
                raise TemporaryError(f"etcd refused the request: {type(exc).__name__}", delay=1.0) from exc
        raise TemporaryError("etcd unavailable", delay=1.0)

    async def grant_lease(self, ttl: int) -> int:
        """A new etcd lease of `ttl` seconds: its id."""
        granted = await self._call(lambda: self.etcd.lease(ttl))
        return int(granted.id)

    async def keep_alive(self, lease_id: int) -> int:
        """Refresh an etcd lease: the seconds it now has left, 0 or less when it has expired."""
        reply = await self._call(lambda: self.etcd.refresh_lease(lease_id))
        return int(reply.TTL) if reply is not None else 0

    def raw_key(self, section: str, name: str = "") -> bytes:
        """A key outside every kind's range (`/PREFIX/\x00SECTION/NAME`): no kind's LIST or watch sees it."""
        return f"{self._prefix}/\x00{section}/{name}".encode()

    async def put_raw(self, key: bytes, value: bytes, *, lease: int | None = None) -> None:
        """An unconditional put of bytes (optionally attached to an etcd lease): bookkeeping, not objects."""
        await self._call(lambda: self.etcd.put(key, value, lease=lease))

    async def values_raw(self, prefix: bytes) -> list[bytes]:
        got = await self._call(lambda: self.etcd.get_prefix(prefix, sort_order="ascend", sort_target="key"))
        return [kv.value for kv in got]

    async def delete_raw(self, key: bytes) -> None:
        await self._call(lambda: self.etcd.delete(key))

    async def get(self, plural: str, name: str) -> Obj:
        got = await self._call(lambda: self.etcd.get(self.key(plural, name)))
        if got is None:
            raise NotFound(f"{plural}/{name} not found")
        return _decode(got.value, got.mod_revision)

    async def list(self, plural: str) -> tuple[list[Obj], int]:
        """Every object of a kind, sorted by name, and the store revision the list reflects."""
        got = await self._call(lambda: self.etcd.get_prefix(self.key(plural), sort_order="ascend", sort_target="key"))
        return [_decode(kv.value, kv.mod_revision) for kv in got], got.header.revision

    async def revision(self) -> int:
        """etcd's current revision (read from an empty range, so it costs nothing at any size)."""
        got = await self._call(lambda: self.etcd.get_prefix(f"{self._prefix}/\x00revision/".encode(), keys_only=True))
        return int(got.header.revision)

    async def list_raw(self, plural: str) -> tuple[list[tuple[bytes, int]], int]:
        """Every object of a kind as stored bytes and mod revision, sorted by name, and the store revision."""
        got = await self._call(lambda: self.etcd.get_prefix(self.key(plural), sort_order="ascend", sort_target="key"))
        return [(kv.value, kv.mod_revision) for kv in got], got.header.revision

    async def create(self, plural: str, name: str, obj: Obj) -> Obj:
        key = self.key(plural, name)
        tx = self.etcd.transactions
        value = _encode(obj)
        revision, responses = await self._create_txn(key, value, [], [tx.put(key, value, lease=ATTACH_LEASE.get())])
        if revision is None:
            self._check_fence(responses, at=1)
            raise Existing(f"{plural}/{name} already exists", current=self._from_get(responses[0]) if responses[0] else None)
        return _decode(value, revision)

    async def create_with_claim(self, plural: str, name: str, obj: Obj, *, claim: str, owner: Obj, claim_rv: int) -> Obj:
        """Create obj and write the claim `claims/CLAIM` (its owner) in one transaction: the claim must not
        exist (claim_rv 0) or still be at claim_rv (a stale claim taken over). AlreadyExists names which
        key was in the way: the object, or the claim (then `ClaimTaken`)."""
        key, claim_key = self.key(plural, name), self.key("claims", claim)
        tx = self.etcd.transactions
        value = _encode(obj)
        claim_check = tx.version(claim_key) == 0 if claim_rv == 0 else tx.mod(claim_key) == claim_rv
        revision, responses = await self._create_txn(key, value, [claim_check], [tx.put(key, value), tx.put(claim_key, dumps(owner))])
        if revision is None:
            self._check_fence(responses, at=1)
            if responses[0]:
                raise AlreadyExists(f"{plural}/{name} already exists")
            raise ClaimTaken(claim)
        return _decode(value, revision)

    async def _create_txn(self, key: bytes, value: bytes, compare: list[Any], success: list[Any]) -> tuple[int | None, list[Any]]:
        """Run a create's transaction (`key` must not exist, and `compare`; then `success`, which puts
        `key` first), retried on another member when its answer is lost: (the revision `key` was written
        at, []), or (None, the failure's responses: `key` read, then the fence's).

        "Not there" is true again after a delete, so compare-and-swap alone does not make a retried
        create safe: an attempt whose answer was lost may still be queued at an etcd member (one that
        was SIGSTOPped, say) and apply later, after the retry succeeded and the object was deleted,
        bringing it back. So attempt N also requires that the marker `void/TOKEN/N` does not exist,
        and every later attempt writes the markers of the earlier ones, whichever way it goes: a lost
        attempt then fails its compare whenever it lands. The first attempt writes nothing extra.
        A retry that finds the object exactly as this create wrote it (an earlier attempt did land)
        answers with it instead of AlreadyExists.
        """
        tx = self.etcd.transactions
        token = uuid.uuid4().hex
        attempts = 0

        async def attempt() -> tuple[int | None, list[Any]]:
            nonlocal attempts
            attempts += 1
            number = attempts
            mine, fence_get = self._fenced([tx.version(key) == 0, *compare, tx.version(self._void_key(token, number)) == 0])
            voids: list[Any] = []
            if number > 1:
                lease = await self._void_lease()
                voids = [tx.put(self._void_key(token, earlier), b"", lease=lease) for earlier in range(1, number)]
            ok, responses = await self.etcd.transaction(
                compare=mine, success=[*success, *voids], failure=[tx.get(key), *fence_get, *voids]
            )
            if ok:
                return responses[0].response_put.header.revision, []
            if number > 1 and responses[0] and responses[0][0][0] == value:
                log.info("an earlier attempt of this create did land (its answer was lost): %s", key.decode(errors="replace"))
                return responses[0][0][1].mod_revision, []
            return None, responses

        return await self._call(attempt)

    def _void_key(self, token: str, attempt: int) -> bytes:
        return f"{self._prefix}/\x00void/{token}/{attempt}".encode()

    async def _void_lease(self) -> int:
        """The etcd lease void markers are attached to (so they go by themselves), renewed by a new one
        once half of VOID_TTL has passed, so every marker lives at least VOID_TTL / 2."""
        now = time.monotonic()
        if self._void_lease_id is None or now - self._void_lease_at > VOID_TTL / 2:
            granted = await self.etcd.lease(VOID_TTL)
            self._void_lease_id, self._void_lease_at = int(granted.id), now
        return self._void_lease_id

    async def get_claim(self, claim: str) -> tuple[Obj, int] | None:
        """The owner recorded in `claims/CLAIM` and the claim's revision, or None."""
        got = await self._call(lambda: self.etcd.get(self.key("claims", claim)))
        if got is None:
            return None
        return json.loads(got.value), got.mod_revision

    async def delete_claim(self, claim: str, *, rv: int) -> None:
        """Remove `claims/CLAIM` if it is still at rv (a newer owner's claim is never removed)."""
        key = self.key("claims", claim)
        tx = self.etcd.transactions
        await self._call(lambda: self.etcd.transaction(compare=[tx.mod(key) == rv], success=[tx.delete(key)], failure=[]))

    @staticmethod
    def _written(obj: Obj, value: bytes, put_response: Any, *, owned: bool) -> Obj:
        """What was stored, as a read would return it: the put's revision is the key's new mod revision.
        An `owned` object (no one else holds it) is answered as it is, instead of decoding `value`."""
        revision = put_response.response_put.header.revision
        return _stored_as(obj, revision) if owned else _decode(value, revision)

    async def update(self, plural: str, name: str, obj: Obj, *, expected_rv: int) -> Obj:
        """Write obj only if the stored object still has expected_rv; 409 if it moved on, 404 if gone."""
        try:
            return await self._swap(plural, name, obj, expected_rv=expected_rv)
        except _Moved:
            raise Conflict(
                f"{plural}/{name} was changed since resourceVersion {expected_rv}; read it again and retry"
            ) from None

    async def delete(self, plural: str, name: str, *, expected_rv: int) -> Obj:
        try:
            return await self._swap(plural, name, None, expected_rv=expected_rv)
        except _Moved:
            raise Conflict(f"{plural}/{name} was changed since resourceVersion {expected_rv}; read it again and retry") from None

    async def _swap(self, plural: str, name: str, obj: Obj | None, *, expected_rv: int, owned: bool = False,
                    also_create: tuple[str, str, Obj] | None = None) -> Obj:
        """Write obj (None: delete) if the stored object still has expected_rv: the written object (the
        deleted one's last state); 404 if gone, _Moved with the stored object if it moved on. With
        `also_create` (plural, name, object), that object is created in the same transaction, which
        then also needs it not to exist (AlsoExists when only that failed)."""
        key = self.key(plural, name)
        tx = self.etcd.transactions
        compare, fence_get = self._fenced([tx.mod(key) == expected_rv])
        if obj is None:
            success = [tx.get(key), tx.delete(key)]
        else:
            value = _encode(obj)
            success = [tx.put(key, value, lease=ATTACH_LEASE.get())]
        if also_create is not None:
            also_key = self.key(also_create[0], also_create[1])
            compare.append(tx.version(also_key) == 0)
            success.append(tx.put(also_key, _encode(also_create[2])))
        ok, responses = await self._call(
            lambda: self.etcd.transaction(compare=compare, success=success, failure=[tx.get(key), *fence_get])
        )
        if ok:
            return self._from_get(responses[0]) if obj is None else self._written(obj, value, responses[0], owned=owned)
        self._check_fence(responses, at=1)
        if not responses[0]:
            raise NotFound(f"{plural}/{name} not found")
        if also_create is not None and responses[0][0][1].mod_revision == expected_rv:
            raise AlsoExists(also_create[0], also_create[1])  # the object was as expected: the other one was in the way
        raise _Moved(self._from_get(responses[0]))

    def _fenced(self, compare: list[Any]) -> tuple[list[Any], list[Any]]:
        """The compares of a write plus the leader's fence, if the request carries one, and the read
        that tells a lost fence from an ordinary conflict."""
        fence = LEASE_FENCE.get()
        if fence is None:
            return compare, []
        tx = self.etcd.transactions
        lease = self.key("leases", fence[0])
        return [*compare, tx.create(lease) == fence[1]], [tx.get(lease)]

    @staticmethod
    def _check_fence(responses: list[Any], *, at: int) -> None:
        fence = LEASE_FENCE.get()
        if fence is None:
            return
        got = responses[at]
        revision = got[0][1].create_revision if got else 0
        if revision != fence[1]:
            raise Fenced(
                f"fenced: lease {fence[0]} belongs to the term that began at resourceVersion {revision or 'none'}, "
                f"not {fence[1]}; this writer is no longer the leader"
            )

    async def guaranteed_update(
        self,
        plural: str,
        name: str,
        mutate: Callable[[Obj], Obj | None],
        *,
        cached: Obj | None = None,
        attempts: int = 20,
        also_create: tuple[str, str, Obj] | None = None,
    ) -> Obj:
        """Read, mutate, compare-and-swap; retry on conflict. `mutate` returning None means delete.

        `cached` (a recent copy, e.g. from the watch cache) saves the read: the swap is tried against
        its resourceVersion, and a lost swap returns the stored object in the same transaction. A copy
        that may be stale never decides an answer: when mutate refuses it (an error) or finds nothing
        to change, the object is read from etcd and mutate runs again on that.

        `also_create` (plural, name, object) is created in the same transaction as the update (see
        `_swap`): both are written or neither, and AlsoExists says that object was in the way.
        """
        current, fresh = (cached, False) if cached is not None else (await self.get(plural, name), True)
        for _ in range(attempts):
            rv = int(current["metadata"]["resourceVersion"])
            try:
                updated = mutate(_copy(current))
            except ApiError:
                if fresh:
                    raise
                current, fresh = await self.get(plural, name), True
                continue
            if updated == current:
                if fresh:
                    return current
                current, fresh = await self.get(plural, name), True
                continue
            try:
                # mutate ran on a private copy: what it returns is this call's own to answer with.
                return await self._swap(plural, name, updated, expected_rv=rv, owned=True, also_create=also_create)
            except _Moved as moved:
                current, fresh = moved.current, True
                await asyncio.sleep(0)
        raise Conflict(f"{plural}/{name} is changing too fast; retry")

    @staticmethod
    def _from_get(pairs: list[tuple[bytes, Any]]) -> Obj:
        value, meta = pairs[0]
        return _decode(value, meta.mod_revision)

    async def watch(self, plural: str, *, since: int) -> AsyncIterator[WatchEvent]:
        """Every change of a kind after revision `since`, in order; Gone if `since` is compacted away."""
        try:
            stream = await self._call(
                lambda: self.etcd.watch_prefix(self.key(plural), start_revision=since + 1, prev_kv=True)
            )
        except aetcd.exceptions.RevisionCompactedError as exc:
            raise Compacted(
                f"resourceVersion {since} is too old (compacted at {exc.compacted_revision}); list again",
                revision=exc.compacted_revision,
            ) from exc
        skip = len(self.key(plural))
        try:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                # aetcd makes the watch under wait_for, which on Python 3.11 drops a cancel that comes
                # as the watch is made: honour it here, or the watch runs on (dlxc.tasks).
                raise asyncio.CancelledError
            async for event in stream:
                # etcd sends an empty previous pair for a key that did not exist before.
                had_prev = event.prev_kv is not None and event.prev_kv.create_revision
                prev = (event.prev_kv.value, event.prev_kv.mod_revision) if had_prev else None
                name = event.kv.key[skip:].decode()
                if event.kind == "PUT":
                    yield WatchEvent.stored("PUT", name, event.kv.value, prev, event.kv.mod_revision)
                elif prev is not None:
                    # The deleted object's last state, at the revision of its deletion.
                    yield WatchEvent.stored("DELETE", name, prev[0], prev, event.kv.mod_revision)
        except aetcd.exceptions.RevisionCompactedError as exc:
            raise Compacted(
                f"resourceVersion {since} is too old (compacted at {exc.compacted_revision}); list again",
                revision=exc.compacted_revision,
            ) from exc
        finally:
            await stream.cancel()
