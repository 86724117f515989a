"""Binds go in batches: what is decided while a bind request is in flight goes together in the next one
(POST .../bindingbatches), each item settled by its own answer; an apiserver too old for batches gets
one request per bind from then on."""
from __future__ import annotations

import asyncio
from typing import Any

import pytest

from dlxc.client.errors import ApiError, NotFound, TemporaryError
from scheduler.config import SchedulerSettings
from scheduler.loop import Scheduler
from schemas.base import Obj
from sched_builders import container, node_obj


class Api:
    """The binding calls, answering from `answers` (name -> code) and holding each request until `go` is set."""

    def __init__(self, *, batch_error: ApiError | None = None, answers: dict[str, int] | None = None) -> None:
        self.batch_error = batch_error
        self.answers = answers or {}
        self.requests: list[list[str]] = []  # the names of each request, in order; a single bind is a list of one
        self.singles: list[tuple[str, str]] = []
        self.go = asyncio.Event()

    async def bind_batch(self, bindings: list[Obj]) -> list[Obj]:
        self.requests.append([b["name"] for b in bindings])
        await self.go.wait()
        if self.batch_error is not None:
            raise self.batch_error
        assert all(b["event"]["spec"]["reason"] == "Scheduled" and b["resourceVersion"] == "1" for b in bindings)
        answers = []
        for b in bindings:
            code = self.answers.get(b["name"], 201)
            answers.append({"name": b["name"], "code": code, "resourceVersion": "2"} if code == 201 else
                           {"name": b["name"], "code": code, "reason": "x", "message": f"{b['name']} refused", "details": []})
        return answers

    async def bind(self, name: str, node: str, *, placement: Obj | None = None, resource_version: str | None = None,
                   event: Obj | None = None) -> Obj:
        self.requests.append([name])
        self.singles.append((name, node))
        await self.go.wait()
        return {}


def scheduler_with(api: Api, names: list[str], **settings: Any) -> Scheduler:
    scheduler = Scheduler(api, SchedulerSettings(bind_concurrency=1, **settings))  # type: ignore[arg-type]
    scheduler.cache.update_node(node_obj("n1", containers=100))
    for name in names:
        scheduler.containers.cache[name] = container(name)
    return scheduler


async def decide_all(scheduler: Scheduler, names: list[str], api: Api) -> None:
    for name in names:
        await scheduler.schedule_one(name)
    api.go.set()
    while scheduler.in_flight:
        await asyncio.gather(*scheduler.in_flight)


def test_decisions_made_while_a_bind_is_in_flight_go_together() -> None:
    names = [f"c{i}" for i in range(5)]
    api = Api()

    async def go() -> Scheduler:
        scheduler = scheduler_with(api, names)
        await decide_all(scheduler, names, api)
        return scheduler

    scheduler = asyncio.run(go())
    # The first goes at once, alone; the rest were decided while it was in flight.
    assert api.requests == [["c0"], ["c1", "c2", "c3", "c4"]]
    assert scheduler.bound == 5 and scheduler.batch_binds
    assert sorted(scheduler.assumed) == names  # until the watch shows each bound


def test_a_batch_is_never_larger_than_bind_batch() -> None:
    names = [f"c{i}" for i in range(6)]
    api = Api()

    async def go() -> None:
        api.go.set()  # the deciding worker waits for room below: the binds must go through meanwhile
        await decide_all(scheduler_with(api, names, bind_batch=2), names, api)

    asyncio.run(go())
    assert api.requests == [["c0"], ["c1", "c2"], ["c3", "c4"], ["c5"]]


def test_each_item_is_settled_by_its_own_answer() -> None:
    names = ["first", "ok", "taken", "gone", "broken"]
    api = Api(answers={"taken": 409, "gone": 404, "broken": 503})

    async def go() -> Scheduler:
        scheduler = scheduler_with(api, names)
        await decide_all(scheduler, names, api)
        return scheduler

    scheduler = asyncio.run(go())
    assert api.requests == [["first"], ["ok", "taken", "gone", "broken"]]
    assert scheduler.bound == 2
    assert sorted(scheduler.assumed) == ["first", "ok"]  # every lost bind let its assumption go
    # Only what may go through later is tried again: not a container bound elsewhere or deleted.
    assert scheduler.queue.failures("broken") == 1
    assert (scheduler.queue.failures("taken"), scheduler.queue.failures("gone")) == (0, 0)


def test_a_failed_request_lets_every_item_go_and_retries_each() -> None:
    names = ["a", "b", "c"]
    api = Api(batch_error=TemporaryError("etcd unavailable"))

    async def go() -> Scheduler:
        scheduler = scheduler_with(api, names)
        await decide_all(scheduler, names, api)
        return scheduler

    scheduler = asyncio.run(go())
    assert api.requests == [["a"], ["b", "c"]]  # "a" went alone, as a single bind
    assert scheduler.bound == 1 and list(scheduler.assumed) == ["a"]
    assert [scheduler.queue.failures(n) for n in names] == [0, 1, 1]
    assert scheduler.batch_binds


@pytest.mark.parametrize("old", [NotFound("404: Not Found"), ApiError("Method Not Allowed")], ids=["404", "405"])
def test_an_apiserver_without_batches_gets_one_request_per_bind(old: ApiError) -> None:
    if type(old) is ApiError:
        old.status = 405
    names = [f"c{i}" for i in range(5)]
    api = Api(batch_error=old)

    async def go() -> Scheduler:
        scheduler = scheduler_with(api, names[:3])
        await decide_all(scheduler, names[:3], api)
        for name in names[3:]:
            scheduler.containers.cache[name] = container(name)
            await scheduler.schedule_one(name)
        while scheduler.in_flight:
            await asyncio.gather(*scheduler.in_flight)
        return scheduler

    scheduler = asyncio.run(go())
    # Asked once; its items then bound one by one, and every bind after that on its own.
    assert api.requests == [["c0"], ["c1", "c2"], ["c1"], ["c2"], ["c3"], ["c4"]]
    assert [name for name, _ in api.singles] == ["c0", "c1", "c2", "c3", "c4"]
    assert scheduler.bound == 5 and not scheduler.batch_binds


def test_decisions_wait_while_a_full_batch_waits() -> None:
    """The deciding worker runs ahead of the binds by one full request at most."""
    names = [f"c{i}" for i in range(4)]
    api = Api()

    async def go() -> Scheduler:
        scheduler = scheduler_with(api, names, bind_batch=2)

        async def decide() -> None:  # as the one deciding worker does, in queue order
            for name in names:
                await scheduler.schedule_one(name)

        decider = asyncio.create_task(decide())
        for _ in range(5):
            await asyncio.sleep(0)
        # c0 in flight, c1 and c2 wait for the next request, c3 (decided) waits for room.
        assert api.requests == [["c0"]] and [c["metadata"]["name"] for c, _ in scheduler.to_bind] == ["c1", "c2"]
        assert not decider.done()
        api.go.set()
        await decider
        while scheduler.in_flight:
            await asyncio.gather(*scheduler.in_flight)
        return scheduler

    scheduler = asyncio.run(go())
    assert api.requests == [["c0"], ["c1", "c2"], ["c3"]]
    assert scheduler.bound == 4


def test_conflict_on_a_changed_container_decides_it_again() -> None:
    api = Api(answers={"b": 409})

    async def go() -> Scheduler:
        scheduler = scheduler_with(api, ["a", "b", "c"])
        for name in ("a", "b", "c"):
            await scheduler.schedule_one(name)
        scheduler.containers.cache["b"] = {**container("b"), "metadata": {"name": "b", "resourceVersion": "7"}}
        api.go.set()
        while scheduler.in_flight:
            await asyncio.gather(*scheduler.in_flight)
        return scheduler

    scheduler = asyncio.run(go())
    assert api.requests == [["a"], ["b", "c"]]
    assert scheduler.bound == 2 and sorted(scheduler.assumed) == ["a", "c"]
    assert len(scheduler.queue) == 1  # "b" changed while its bind was in flight: queued again at once
