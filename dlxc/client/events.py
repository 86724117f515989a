"""Recording Events without ever holding up the caller: a bounded queue and one background sender.

Why fire-and-forget and not an awaited write with a short timeout: a reconcile or a scheduling
decision must not wait on the apiserver for something only a human reads, and an apiserver that is
slow or down would otherwise add its timeout to every step that records an event. `record()` only
puts the event on a queue and returns; one task per recorder posts them in order (and ends when the
queue is empty). When the queue is
full (the apiserver is down for long), new events are dropped and counted, which is also what keeps
an outage from growing memory. An event that fails to post is logged and dropped, never retried:
the status condition that goes with it carries the same fact, and the next transition says more.

The server turns the same event (same object, type, reason, message and source) into one object
whose count rises, so a repeated failure shows as one line with a count, not one line per retry.

Events that queue up while a post is in flight go together in the next one (`POST .../eventbatches`,
up to BATCH): a scheduler binding tens of containers a second records every Scheduled event in a
few requests a second, where one request per event fell behind and dropped most of them.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, Protocol

from dlxc.tasks import cancel_and_wait

if TYPE_CHECKING:  # the CLI imports one_line: no pydantic at run time
    from schemas.base import Obj

__all__ = ["NORMAL", "WARNING", "EventRecorder", "one_line"]

log = logging.getLogger("dlxc.events")

NORMAL = "Normal"
WARNING = "Warning"
QUEUE_SIZE = 1024  # events waiting to be sent; more than this and the apiserver is not taking them
BATCH = 100  # events in one post at most (the apiserver's limit)
SEND_TIMEOUT = 10.0  # seconds one post may take before it is given up
MESSAGE_LIMIT = 300


class EventSink(Protocol):
    """The one call the recorder needs (dlxc.client.api.Client provides it). A sink that also has
    `record_events(bodies) -> answers` (the Client does) gets what queued up in one call."""

    def record_event(self, involved: Obj, *, reason: str, message: str, type: str, component: str,
                     host: str) -> Awaitable[Any]: ...


def one_line(message: str) -> str:
    """An event's message is one line (the first), so `get events` and `describe` stay one row per event."""
    lines = [line.strip() for line in str(message).strip().splitlines() if line.strip()]
    return (lines[0] if lines else "")[:MESSAGE_LIMIT]


class EventRecorder:
    """`record()` returns at once; a background task posts the events in order, best effort."""

    def __init__(self, sink: EventSink, *, component: str, host: str = "", queue_size: int = QUEUE_SIZE,
                 send_timeout: float = SEND_TIMEOUT) -> None:
        self.sink = sink
        self.component = component
        self.host = host
        self.send_timeout = send_timeout
        self.queue: asyncio.Queue[tuple[Obj, str, str, str]] = asyncio.Queue(maxsize=queue_size)
        self.dropped = 0  # not sent: the queue was full, or the post failed
        self._sender: asyncio.Task[None] | None = None

    def record(self, kind: str, name: str, *, type: str, reason: str, message: str) -> None:
        """Queue an event about object `kind`/`name`; never raises, never waits."""
        involved = {"kind": kind, "metadata": {"name": name}}
        try:
            self.queue.put_nowait((involved, type, reason, one_line(message)))
        except asyncio.QueueFull:
            self.dropped += 1
            log.info("%s/%s: event %s dropped: %d events already wait to be sent", kind, name, reason, self.queue.qsize())
            return
        if self._sender is None or self._sender.done():
            self._sender = asyncio.get_running_loop().create_task(self._send_all())

    async def _send_all(self) -> None:
        # Runs while there is something to send, then ends: no task outlives the events it carries.
        while not self.queue.empty():
            if self.queue.qsize() > 1 and hasattr(self.sink, "record_events"):
                await self._send_batch()
                continue
            involved, type, reason, message = self.queue.get_nowait()
            try:
                await asyncio.wait_for(
                    self.sink.record_event(involved, reason=reason, message=message, type=type,
                                           component=self.component, host=self.host),
                    self.send_timeout,
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # an event is never worth failing for: the condition says it too
                self.dropped += 1
                log.info("%s: event %s not recorded: %s", involved["metadata"]["name"], reason, exc)
            finally:
                self.queue.task_done()

    async def _send_batch(self) -> None:
        """Everything queued (up to BATCH) in one post; an event the server refused is logged and dropped."""
        from dlxc.client.verbs import event_body

        batch = [self.queue.get_nowait() for _ in range(min(BATCH, self.queue.qsize()))]
        bodies = [event_body(involved, reason=reason, message=message, type=type, component=self.component, host=self.host)
                  for involved, type, reason, message in batch]
        try:
            answers = await asyncio.wait_for(self.sink.record_events(bodies), self.send_timeout)  # type: ignore[attr-defined]
            for (involved, _, reason, _), answer in zip(batch, answers):
                if answer.get("code") != 201:
                    self.dropped += 1
                    log.info("%s: event %s not recorded: %s", involved["metadata"]["name"], reason, answer.get("message"))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # as for one event: never worth failing for
            self.dropped += len(batch)
            log.info("%d events not recorded: %s", len(batch), exc)
        finally:
            for _ in batch:
                self.queue.task_done()

    async def flush(self) -> None:
        """Wait until every queued event was sent (or given up): for tests and a clean shutdown."""
        await self.queue.join()

    async def close(self) -> None:
        if self._sender is not None:
            await cancel_and_wait(self._sender)
            self._sender = None
