"""The etcd cluster as this apiserver sees it: its members, the leader, each member's health and database size.

The member list comes from the member the store talks to; each member's status is asked of that
member itself (a short-lived client per member), so a member that is down shows as unreachable
rather than as whatever its peers last heard. `EtcdProbe` keeps the answer for a few seconds, so
many open dashboard pages cost one probe.
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import aetcd

from apiserver.storage import Store

__all__ = ["EtcdHealth", "EtcdProbe", "MemberHealth", "probe"]

TIMEOUT = 2.0  # seconds a member may take to answer; an unreachable one must not hold up a page


@dataclass(frozen=True)
class MemberHealth:
    name: str
    id: str  # hex, as etcdctl prints it
    client_url: str
    healthy: bool
    leader: bool = False
    in_use: bool = False  # the member this apiserver's store talks to
    db_size: int | None = None
    version: str = ""
    raft_term: int | None = None
    error: str = ""


@dataclass(frozen=True)
class EtcdHealth:
    members: list[MemberHealth] = field(default_factory=list)
    error: str = ""  # the member list itself could not be read

    @property
    def leader(self) -> str:
        return next((m.name for m in self.members if m.leader), "")

    @property
    def healthy(self) -> int:
        return sum(m.healthy for m in self.members)


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url if "//" in url else f"//{url}")
    return parts.hostname or "127.0.0.1", parts.port or 2379


async def _member(name: str, ident: int, url: str, *, in_use: bool, timeout: float) -> tuple[MemberHealth, int | None]:
    """One member's own status, and the id of the leader it follows (None when it has none or did not answer)."""
    if not url:
        return MemberHealth(name, f"{ident:x}", url, healthy=False, error="has not started (no client URL)"), None
    host, port = _host_port(url)
    client = aetcd.Client(host=host, port=port, timeout=int(max(1, timeout)))
    try:
        status = await asyncio.wait_for(client.status(), timeout)
    except Exception as exc:  # down, refusing, or slow: what the page shows, not an error of the page
        reason = str(exc).strip() or type(exc).__name__
        return MemberHealth(name, f"{ident:x}", url, healthy=False, in_use=in_use, error=reason[:200]), None
    finally:
        try:
            await asyncio.wait_for(client.close(), timeout)
        except Exception:  # noqa: S110 — a channel to a dead member may not close cleanly
            pass
    leader_id = status.leader.id if status.leader is not None else None
    return MemberHealth(
        name, f"{ident:x}", url, healthy=leader_id is not None, in_use=in_use, db_size=int(status.db_size),
        version=str(status.version), raft_term=int(status.raft_term),
        error="" if leader_id is not None else "has no leader",
    ), leader_id


async def probe(store: Store, *, timeout: float = TIMEOUT) -> EtcdHealth:
    """Every member etcd lists, each asked for its own status at once."""
    try:
        listed = await asyncio.wait_for(_members(store), timeout)
    except Exception as exc:
        return EtcdHealth(error=f"cannot list the etcd members through {store.endpoint}: {str(exc).strip() or type(exc).__name__}")
    in_use = _host_port(store.endpoint)
    answers = await asyncio.gather(*(
        _member(name, ident, url, in_use=_host_port(url) == in_use, timeout=timeout) for name, ident, url in listed
    ))
    leaders = {leader for _, leader in answers if leader is not None}
    members = [
        MemberHealth(**{**m.__dict__, "leader": True}) if int(m.id, 16) in leaders else m
        for m, _ in answers
    ]
    return EtcdHealth(sorted(members, key=lambda m: m.name))


async def _members(store: Store) -> list[tuple[str, int, str]]:
    out = []
    async for m in store.etcd.members():
        urls = list(m.client_urls)
        out.append((m.name or f"{m.id:x}", int(m.id), urls[0] if urls else ""))
    return out


class EtcdProbe:
    """`probe`, at most once per `ttl` seconds whoever asks."""

    def __init__(self, store: Store, *, ttl: float = 5.0) -> None:
        self.store = store
        self.ttl = ttl
        self._last: EtcdHealth | None = None
        self._at = 0.0
        self._lock = asyncio.Lock()

    async def get(self) -> EtcdHealth:
        async with self._lock:
            if self._last is None or time.monotonic() - self._at >= self.ttl:
                self._last = await probe(self.store)
                self._at = time.monotonic()
            return self._last
