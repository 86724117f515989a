"""The nodes page's Drain button: `dlxc drain`'s own workflow (dlxc.apply.moves), run by this apiserver for an admin.

The checks and the cordon happen in the request, so a refusal (a viewer, a missing node, containers
with failover: Never) is its answer and changes nothing. The moves then run here in the background,
as the admin who asked, behind the API's authorization (apiserver.ui.actions.LocalClient), up to
MAX_PARALLEL at once; their progress lines are kept for the nodes page, whose streams each line wakes. Like a `dlxc drain` whose
terminal is closed, a drain ends with this apiserver: a move cut off between its delete and its
create leaves the container in its move's backup (`dlxc backup restore` brings it back); running
the drain again moves what is left.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass, field

from apiserver.ui.actions import LocalClient
from dlxc.apply.moves import DRAINED_FROM, MoveError, move_all, prepare_drain
from dlxc.client.errors import Conflict

__all__ = ["DrainRun", "Drains"]

log = logging.getLogger("dlxc.apiserver.ui.drains")
MAX_PARALLEL = 2  # as `dlxc drain`'s default
DEADLINE = 600.0  # seconds, as `dlxc drain`'s default --deadline
# What a drain writes: refused up front, before the cordon, for anyone who may not do all of it.
NEEDS = (("patch", "nodes"), ("patch", "containers"), ("delete", "containers"), ("create", "containers"),
         ("create", "backups"), ("delete", "backups"))


@dataclass
class DrainRun:
    node: str
    by: str
    total: int
    lines: deque[str] = field(default_factory=lambda: deque(maxlen=20))
    moved: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    done: bool = False
    started: float = field(default_factory=time.time)

    @property
    def summary(self) -> str:
        if self.done:
            return f"node/{self.node} drained: {len(self.moved)} moved, {len(self.failed)} not"
        return f"draining node/{self.node}: moving {self.total} containers"


class Drains:
    """The drains this apiserver runs (the latest per node)."""

    def __init__(self) -> None:
        self.runs: dict[str, DrainRun] = {}
        self.watchers: set[asyncio.Event] = set()  # one per open nodes page, set on every progress line
        self._tasks: set[asyncio.Task[None]] = set()

    def _note(self, run: DrainRun, line: str) -> None:
        run.lines.append(line)
        for event in self.watchers:
            event.set()

    async def start(self, client: LocalClient, node: str) -> DrainRun:
        for verb, plural in NEEDS:
            client.authorize(verb, plural)
        running = self.runs.get(node)
        if running is not None and not running.done:
            raise Conflict(f"node/{node} is being drained already ({running.summary}, asked by {running.by})")
        try:
            names = await prepare_drain(client, node, force=False, force_hint="drain it with `dlxc drain --force`")
        except MoveError as exc:
            raise Conflict(str(exc)) from None
        run = DrainRun(node, client.identity.name, len(names))
        self.runs[node] = run
        self._note(run, f"node/{node} cordoned; moving {len(names)} containers")
        task = asyncio.create_task(self._moves(client, run, names), name=f"drain-{node}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return run

    async def _moves(self, client: LocalClient, run: DrainRun, names: list[str]) -> None:
        try:
            run.moved, run.failed = await move_all(
                client, names, to=None, max_parallel=MAX_PARALLEL, deadline=DEADLINE,
                annotations={DRAINED_FROM: run.node}, say=lambda line: self._note(run, line),
                warn=lambda line: self._note(run, line))
        except Exception as exc:  # an API error no move step turned into MoveError: said on the page, logged
            log.exception("drain of node %s failed", run.node)
            run.failed.append(f"the drain stopped: {exc}")
        finally:
            run.done = True
            self._note(run, run.summary)
