"""The Scheduled event rides on the bind; against an apiserver too old to take it, the scheduler binds
as before and posts the event on its own."""
from __future__ import annotations

import asyncio
from typing import Any

from dlxc.client.errors import Invalid
from scheduler.framework import Decision
from scheduler.loop import Scheduler
from schemas.base import Obj
from sched_builders import container


class Api:
    """The calls the binding step makes; `old` refuses an event in a binding as an older apiserver does."""

    def __init__(self, *, old: bool) -> None:
        self.old = old
        self.binds: list[tuple[str, str, Obj | None]] = []
        self.posted: list[Obj] = []

    async def bind(self, name: str, node: str, *, placement: Obj | None = None, resource_version: str | None = None,
                   event: Obj | None = None) -> Obj:
        if event is not None and self.old:
            raise Invalid("binding has unknown fields", details=[{"field": "event", "message": "unknown field"}])
        self.binds.append((name, node, event))
        return {}

    async def record_event(self, involved: Obj, **event: Any) -> Obj:
        self.posted.append({"name": involved["metadata"]["name"], **event})
        return {}


async def bind_two(api: Api) -> Scheduler:
    scheduler = Scheduler(api)  # type: ignore[arg-type]
    for name in ("web", "db"):
        await scheduler._record_and_bind(container(name), Decision("n1", message="node n1 scored 90.0 of 100 (1/1 nodes fit)"))
    await asyncio.sleep(0.05)  # the recorder's sender
    return scheduler


def test_the_scheduled_event_is_sent_with_the_bind() -> None:
    api = Api(old=False)
    scheduler = asyncio.run(bind_two(api))
    assert [(name, node, event["spec"]["reason"], event["spec"]["message"], event["spec"]["source"]["component"])
            for name, node, event in api.binds] == [
        ("web", "n1", "Scheduled", "assigned to node n1; node n1 scored 90.0 of 100 (1/1 nodes fit)", "scheduler"),
        ("db", "n1", "Scheduled", "assigned to node n1; node n1 scored 90.0 of 100 (1/1 nodes fit)", "scheduler"),
    ]
    assert not api.posted
    assert scheduler.bound == 2


def test_an_older_apiserver_gets_the_bind_alone_and_the_event_posted_apart() -> None:
    api = Api(old=True)
    scheduler = asyncio.run(bind_two(api))
    assert api.binds == [("web", "n1", None), ("db", "n1", None)]  # asked once, then never again with an event
    assert [(e["name"], e["reason"], e["message"]) for e in api.posted] == [
        ("web", "Scheduled", "assigned to node n1; node n1 scored 90.0 of 100 (1/1 nodes fit)"),
        ("db", "Scheduled", "assigned to node n1; node n1 scored 90.0 of 100 (1/1 nodes fit)"),
    ]
    assert scheduler.bound == 2 and not scheduler.event_with_bind
