"""One handling of a key from a kubelet worker's WorkQueue, with the retries its workers share."""
from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from dlxc.client.errors import ApiError
from dlxc.client.workqueue import WorkQueue

__all__ = ["API_RETRY_S", "FAILURE_RETRY_S", "handle_or_retry"]

API_RETRY_S = 2.0  # the apiserver refused or was away: soon again
FAILURE_RETRY_S = 5.0  # a bug or the host (disk, LXC): again, slower, with the traceback logged


async def handle_or_retry(queue: WorkQueue[str], name: str, handle: Callable[[str], Awaitable[None]],
                          log: logging.Logger, label: str) -> None:
    """`handle(name)`; on failure, `name` goes back on `queue`. `label` names the work in the log, as "backup %s"."""
    what = label % name
    try:
        await handle(name)
    except ApiError as exc:
        log.warning("%s: %s; retrying", what, exc.message)
        queue.add_after(name, API_RETRY_S)
    except Exception:
        log.exception("%s failed unexpectedly; retrying", what)
        queue.add_after(name, FAILURE_RETRY_S)
