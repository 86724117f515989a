"""Where the apiservers of the cluster answer: each one publishes its advertised URL, so clients can learn them all.

Each apiserver started with an advertised URL keeps one key, `/PREFIX/\\x00apiservers/URL`, attached
to its heartbeat session (apiserver/heartbeats.py): when the apiserver dies or is cut off, its
session expires and etcd deletes the key, so the list (`GET /apiservers`) holds the live ones only,
as Kubernetes' `kubernetes` Endpoints do. A joining host gets the list with its credential; the
kubelet refreshes it (dlxc.client.api.Client.refresh_servers), so the loss of the host it joined
through does not cut it off.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from apiserver.storage import Store
from dlxc.client.errors import ApiError

__all__ = ["ApiServerEndpoints", "SECTION"]

log = logging.getLogger("dlxc.apiserver.endpoints")

SECTION = "apiservers"


class ApiServerEndpoints:
    def __init__(self, store: Store, url: str | None, *, session: Callable[[], int | None], interval: float = 1.0) -> None:
        self.store = store
        self.url = url.rstrip("/") if url else None
        self.session = session  # the heartbeat session's etcd lease id, None until granted
        self.interval = interval
        self.published: int | None = None  # the session the key is attached to now

    async def servers(self) -> list[str]:
        """Every live apiserver's advertised URL, sorted."""
        return sorted(v.decode() for v in await self.store.values_raw(self.store.raw_key(SECTION)))

    async def publish(self) -> bool:
        """Attach this apiserver's key to the current session, when it is not yet (a new session: again)."""
        lease = self.session()
        if self.url is None or lease is None or lease == self.published:
            return False
        await self.store.put_raw(self.store.raw_key(SECTION, self.url), self.url.encode(), lease=lease)
        self.published = lease
        return True

    async def run(self) -> None:
        try:
            while True:
                try:
                    await self.publish()
                except ApiError as exc:
                    log.warning("cannot publish this apiserver's URL %s: %s", self.url, exc.message)
                await asyncio.sleep(self.interval)
        finally:
            if self.url is not None and self.published is not None:
                # A clean stop leaves the list at once, not after the session's TTL.
                with contextlib.suppress(ApiError, asyncio.CancelledError):
                    await asyncio.wait_for(self.store.delete_raw(self.store.raw_key(SECTION, self.url)), 2.0)
