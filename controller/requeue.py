"""One sync of a controller's key with the retries every controller here uses on its WorkQueue."""
from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from dlxc.client.errors import ApiError, Conflict, NotFound
from dlxc.client.workqueue import WorkQueue

__all__ = ["sync_or_requeue"]


async def sync_or_requeue(queue: WorkQueue[str], name: str, sync: Callable[[str], Awaitable[None]], log: logging.Logger) -> None:
    try:
        await sync(name)
    except (Conflict, NotFound):
        queue.add_after(name, 0.05)  # read a stale copy; the informer will have the new one shortly
    except ApiError as exc:
        log.warning("%s: sync failed: %s", name, exc.message)
        queue.add_after(name, 0.5)
