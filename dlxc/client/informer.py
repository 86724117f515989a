"""An informer: a local cache of one kind kept current by list + watch, relisting on 410."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from dlxc.client.api import Client, backoff_delays
from dlxc.client.errors import ApiError, Gone
from schemas.base import Obj

__all__ = ["Handler", "Informer"]

log = logging.getLogger("dlxc.client")

Handler = Callable[[str, Obj | None, Obj | None], Awaitable[None]]


class Informer:
    """A local cache of one kind kept current by list + watch; relists on 410 and on broken watches.

    The handler gets (name, old, new) for every change; on a relist it gets the differences
    between the old cache and the new list, so nothing is missed and nothing repeated.
    """

    def __init__(
        self,
        client: Client,
        plural: str,
        handler: Handler,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> None:
        self.client = client
        self.plural = plural
        self.handler = handler
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.cache: dict[str, Obj] = {}
        self.synced = asyncio.Event()
        self.resource_version = "0"

    async def _relist(self) -> None:
        items, rv = await self.client.list(
            self.plural, label_selector=self.label_selector, field_selector=self.field_selector
        )
        fresh = {o["metadata"]["name"]: o for o in items}
        old_cache, self.cache = self.cache, fresh
        self.resource_version = rv
        for name in old_cache.keys() - fresh.keys():
            await self.handler(name, old_cache[name], None)
        for name, obj in fresh.items():
            old = old_cache.get(name)
            if old is None or old["metadata"]["resourceVersion"] != obj["metadata"]["resourceVersion"]:
                await self.handler(name, old, obj)
        self.synced.set()

    async def run(self) -> None:
        """List, then watch forever; never returns unless cancelled."""
        delays = backoff_delays()
        need_list = True
        while True:
            try:
                if need_list:
                    await self._relist()
                    need_list = False
                async for kind, obj in self.client.watch(
                    self.plural,
                    resource_version=self.resource_version,
                    label_selector=self.label_selector,
                    field_selector=self.field_selector,
                    bookmarks=True,
                ):
                    delays = backoff_delays()
                    if kind == "BOOKMARK":
                        self.resource_version = obj["metadata"]["resourceVersion"]
                        continue
                    name = obj["metadata"]["name"]
                    old = self.cache.get(name)
                    if kind == "DELETED":
                        self.cache.pop(name, None)
                        new = None
                    else:
                        self.cache[name] = obj
                        new = obj
                    self.resource_version = obj["metadata"]["resourceVersion"]
                    await self.handler(name, old, new)
                # The server closed the stream (e.g. it restarted): resume from where we were.
            except Gone:
                need_list = True
            except ApiError as exc:
                delay = next(delays)
                log.warning("%s informer: %s; retrying in %.1fs", self.plural, exc.message, delay)
                await asyncio.sleep(delay)
