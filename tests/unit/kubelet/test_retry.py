"""A kubelet worker's key goes back on its queue when handling it fails: soon for the API, slower for the rest."""
from __future__ import annotations

import asyncio
import logging

import pytest

from dlxc.client.errors import ApiError, Conflict
from dlxc.client.workqueue import WorkQueue
from kubelet.retry import API_RETRY_S, FAILURE_RETRY_S, handle_or_retry

log = logging.getLogger("test.retry")


def retry_of(failure: BaseException | None, caplog: pytest.LogCaptureFixture) -> float | None:
    """How far ahead the key was put back (None: not at all) after `handle` raised `failure`."""

    async def scenario() -> float | None:
        queue: WorkQueue[str] = WorkQueue()

        async def handle(name: str) -> None:
            assert name == "b1"
            if failure is not None:
                raise failure

        loop = asyncio.get_running_loop()
        start = loop.time()
        await handle_or_retry(queue, "b1", handle, log, "backup %s")
        timer = queue._timers.get("b1")
        return None if timer is None else round(timer.when() - start, 1)

    with caplog.at_level(logging.WARNING, logger="test.retry"):
        return asyncio.run(scenario())


def test_success_puts_nothing_back(caplog: pytest.LogCaptureFixture) -> None:
    assert retry_of(None, caplog) is None
    assert caplog.records == []


@pytest.mark.parametrize("failure", [ApiError("etcd is away"), Conflict("stale copy")], ids=["api-error", "conflict"])
def test_an_api_error_retries_soon_with_a_warning(failure: ApiError, caplog: pytest.LogCaptureFixture) -> None:
    assert retry_of(failure, caplog) == API_RETRY_S
    (record,) = caplog.records
    assert (record.levelname, record.getMessage()) == ("WARNING", f"backup b1: {failure.message}; retrying")


def test_anything_else_retries_later_with_its_traceback(caplog: pytest.LogCaptureFixture) -> None:
    assert retry_of(OSError(28, "No space left on device"), caplog) == FAILURE_RETRY_S
    (record,) = caplog.records
    assert (record.levelname, record.getMessage()) == ("ERROR", "backup b1 failed unexpectedly; retrying")
    assert record.exc_info is not None and isinstance(record.exc_info[1], OSError)
