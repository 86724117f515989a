"""API-created bearer tokens: made by an admin through `/apis/dlxc.io/v1/tokens`, kept hashed in etcd.

Why etcd and not the token file: a token made through the API must work on every apiserver of
the cluster at once and be revocable from any of them, and only etcd is shared; the file stays
for the bootstrap tokens that `dlxc up` writes before there is an API to ask. The stored object
carries the secret's SHA-256 (`secretHash`, stripped from every answer); the secret itself is in
the answer to the create and nowhere else.
"""
from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from apiserver.auth import Identity, TokenFile, bearer_digest, hash_token, new_token
from apiserver.storage import Store
from dlxc.client.errors import (
    AlreadyExists,
    BadRequest,
    Invalid,
    NotFound,
    Unauthorized,
)
from schemas import API_VERSION
from schemas.base import Obj, iso_time
from schemas.token import Token

__all__ = ["PLURAL", "REFRESH", "Authenticator", "TokenRegistry"]

PLURAL = "tokens"
# How old the in-memory copy of the tokens may be before a request that is not in it reads etcd
# again: a token made or revoked on another apiserver counts here within this many seconds.
REFRESH = 1.0
_HASH = "secretHash"


@dataclass(frozen=True)
class _Entry:
    identity: Identity
    expires: datetime | None


def _public(obj: Obj) -> Obj:
    """What an answer shows of a stored token: everything but the hash."""
    return {k: v for k, v in obj.items() if k != _HASH}


def _invalid(details: list[dict[str, str]]) -> Invalid:
    summary = "; ".join(f"{d['field']}: {d['message']}" for d in details)
    return Invalid(f"Token is invalid: {summary}", details=details)


class TokenRegistry:
    """Create, list, get and revoke API tokens; look one up by its hash for authentication."""

    def __init__(self, store: Store, *, token_file: TokenFile | None = None) -> None:
        self.store = store
        self.token_file = token_file
        self._entries: dict[str, _Entry] = {}
        self._loaded = -float("inf")
        self._lock = asyncio.Lock()

    async def create(self, body: Any, *, dry_run: bool = False) -> Obj:
        if not isinstance(body, dict):
            raise BadRequest("the body must be a JSON object", details=[{"field": "body", "message": "must be a JSON object"}])
        try:
            token = Token.model_validate({"apiVersion": API_VERSION, "kind": "Token", **body})
        except ValidationError as exc:
            details = [
                {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"].removeprefix("Value error, ")}
                for e in exc.errors()
            ]
            raise _invalid(details) from None
        name, role = token.metadata.name, token.spec.role
        if self.token_file is not None and name in self.token_file.names():
            raise AlreadyExists(f"tokens/{name} already exists (in the apiserver's token file)")
        node = role.split(":", 1)[1] if role.startswith("node:") else None
        if node is not None:
            try:
                await self.store.get("nodes", node)
            except NotFound:
                raise _invalid([{"field": "spec.role", "message": f"node {node!r} does not exist; a node token is for a registered Node"}]) from None
        created = datetime.now(UTC)
        obj = token.to_wire()
        obj["metadata"] = {"name": name, "uid": str(uuid.uuid4()), "creationTimestamp": iso_time(created)}
        ttl = token.spec.ttl_seconds
        obj["status"] = {"expirationTimestamp": iso_time(created + timedelta(seconds=ttl))} if ttl else {}
        secret = new_token()
        if dry_run:
            try:
                await self.store.get(PLURAL, name)
            except NotFound:
                return obj
            raise AlreadyExists(f"tokens/{name} already exists")
        stored = await self.store.create(PLURAL, name, {**obj, _HASH: hash_token(secret)})
        self._loaded = -float("inf")
        answer = _public(stored)
        answer["status"] = {**answer["status"], "token": secret}
        return answer

    async def list(self) -> Obj:
        items, revision = await self.store.list(PLURAL)
        return {
            "apiVersion": API_VERSION,
            "kind": "TokenList",
            "metadata": {"resourceVersion": str(revision)},
            "items": [_public(item) for item in items],
        }

    async def get(self, name: str) -> Obj:
        return _public(await self.store.get(PLURAL, name))

    async def revoke(self, name: str, *, dry_run: bool = False) -> Obj:
        current = await self.store.get(PLURAL, name)
        if not dry_run:
            await self.store.delete(PLURAL, name, expected_rv=int(current["metadata"]["resourceVersion"]))
            self._loaded = -float("inf")
        return _public(current)

    def invalidate(self) -> None:
        """Read etcd again on the next lookup (a token was made or deleted here)."""
        self._loaded = -float("inf")

    async def lookup(self, digest: str) -> Identity | None:
        """The identity of an API token by its hash; 401 when it expired; None when there is none."""
        entry = self._entries.get(digest)
        if entry is None or time.monotonic() - self._loaded > REFRESH:
            await self._refresh()
            entry = self._entries.get(digest)
        if entry is None:
            return None
        if entry.expires is not None and entry.expires <= datetime.now(UTC):
            raise Unauthorized(f"the bearer token {entry.identity.name!r} expired at {iso_time(entry.expires)}; ask an admin for a new one")
        return entry.identity

    async def _refresh(self) -> None:
        async with self._lock:
            if time.monotonic() - self._loaded <= REFRESH:
                return  # another request refreshed while this one waited
            items, _ = await self.store.list(PLURAL)
            entries = {}
            for item in items:
                expires = (item.get("status") or {}).get("expirationTimestamp")
                entries[item[_HASH]] = _Entry(
                    Identity(item["metadata"]["name"], item["spec"]["role"]),
                    datetime.fromisoformat(expires) if expires else None,
                )
            self._entries, self._loaded = entries, time.monotonic()


class Authenticator:
    """Who a request is: a bootstrap token from the file first (no etcd read), then an API token."""

    def __init__(self, token_file: TokenFile, registry: TokenRegistry) -> None:
        self.token_file = token_file
        self.registry = registry

    async def authenticate(self, header: str | None) -> Identity:
        digest = bearer_digest(header)
        identity = self.token_file.lookup(digest) or await self.registry.lookup(digest)
        if identity is None:
            raise Unauthorized("the bearer token is not valid")
        return identity
