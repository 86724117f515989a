"""The EventRecorder: record() never waits or raises; a full queue drops; messages are one line."""
from __future__ import annotations

import asyncio
from typing import Any

from dlxc.client.events import EventRecorder, one_line


class SlowSink:
    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.posted: list[tuple[str, str, str, str, str]] = []

    async def record_event(self, involved: Any, *, reason: str, message: str, type: str, component: str, host: str) -> None:
        await asyncio.sleep(self.delay)
        self.posted.append((involved["metadata"]["name"], type, reason, message, component))


class GatedSink:
    """A sink whose posts cannot finish until `released` is set: a record() that awaited it would never return."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.released = asyncio.Event()
        self.posted: list[tuple[str, str, str, str, str]] = []

    async def record_event(self, involved: Any, *, reason: str, message: str, type: str, component: str, host: str) -> None:
        self.entered.set()
        await self.released.wait()
        self.posted.append((involved["metadata"]["name"], type, reason, message, component))


def test_record_returns_at_once_and_posts_in_order() -> None:
    async def scenario() -> None:
        sink = GatedSink()
        rec = EventRecorder(sink, component="kubelet", host="n1")
        # `released` is set only after both calls returned: had record() waited on the sink, it would hang here.
        first = rec.record("Container", "web", type="Normal", reason="Created", message="created")
        second = rec.record("Container", "web", type="Normal", reason="Started", message="started\nand a log tail")
        assert first is None and second is None  # plain calls: nothing left for the caller to await
        await sink.entered.wait()  # the sender is inside a post, blocked ...
        assert sink.posted == []  # ... and both record() calls had returned regardless
        sink.released.set()
        await rec.flush()
        assert sink.posted == [("web", "Normal", "Created", "created", "kubelet"),
                               ("web", "Normal", "Started", "started", "kubelet")]

    asyncio.run(asyncio.wait_for(scenario(), 5))  # a record() that waited on the sink fails here, not hangs


def test_a_full_queue_drops_and_a_slow_post_is_given_up() -> None:
    async def scenario() -> None:
        sink = SlowSink(10.0)  # an apiserver that never answers
        rec = EventRecorder(sink, component="scheduler", queue_size=2, send_timeout=0.05)
        for i in range(4):
            rec.record("Container", f"c{i}", type="Warning", reason="FailedScheduling", message="no node")
        # record() never yields, so the sender has not run yet: c0 and c1 wait, c2 and c3 found it full.
        assert rec.dropped == 2
        await rec.flush()
        assert rec.dropped == 4 and sink.posted == []  # each post timed out, none raised

    asyncio.run(scenario())


class BatchSink(SlowSink):
    """Also takes several events in one call, as the Client does (POST .../eventbatches)."""

    def __init__(self, delay: float, *, refuse: str = "") -> None:
        super().__init__(delay)
        self.refuse = refuse
        self.batches: list[list[str]] = []

    async def record_events(self, events: list[Any]) -> list[Any]:
        await asyncio.sleep(self.delay)
        self.batches.append([e["spec"]["involvedObject"]["name"] for e in events])
        return [{"code": 422, "message": "no"} if e["spec"]["reason"] == self.refuse else {"code": 201, "object": e} for e in events]


def test_what_queues_up_during_a_post_goes_in_one_batch() -> None:
    async def scenario() -> None:
        sink = BatchSink(0.05, refuse="Bad")
        rec = EventRecorder(sink, component="scheduler")
        rec.record("Container", "c0", type="Normal", reason="Scheduled", message="assigned to node n1")
        await asyncio.sleep(0.01)  # c0 alone: posted as one event
        for i in range(1, 5):
            rec.record("Container", f"c{i}", type="Normal", reason="Bad" if i == 3 else "Scheduled", message="m")
        await rec.flush()
        assert [p[0] for p in sink.posted] == ["c0"]
        assert sink.batches == [["c1", "c2", "c3", "c4"]]  # queued while c0 was in flight: one request
        assert rec.dropped == 1  # the one the server refused

    asyncio.run(scenario())


def test_one_line() -> None:
    assert one_line("  start failed: x\nlxc-start ... ERROR tail\n") == "start failed: x"
    assert one_line("") == ""
    assert len(one_line("x" * 1000)) == 300
