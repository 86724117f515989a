"""Scheduled backups: for every Container with spec.backup, create a Backup when its cron schedule is due and prune to `keep`.

Schedules are read in the controller's local timezone (the server's: set TZ for another). What ran
last is read from the objects, never remembered: each scheduled Backup carries the time it was
scheduled for (annotation dlxc.io/scheduled-for) and is named after it, so a restarted or newly
elected controller decides the same, and a create repeated after a crash is AlreadyExists, not a
second backup. A controller that was down across several scheduled times makes *one* backup when
it returns (for the latest missed time), not one per missed time.

Pruning counts only Completed backups: the newest `keep` Completed scheduled backups of a container
(by scheduled time) are kept and older Completed ones deleted, so failed nights never push a good
archive out. Of the Failed ones only the newest is kept, so its reason stays readable, and it too
goes once a newer backup has Completed. Pending or Running ones are never pruned. Backups made by
hand (`dlxc backup create`) are never pruned.

Archives whose node is gone: only the kubelet that wrote an archive can remove it, so a Backup
whose `status.node` is no longer a registered Node (removed with `dlxc node remove`, or lost)
would keep its finalizer forever once deleted. Each pass (`unreachable`, pure, then `settle`)
marks such a Completed backup's status (message: the archive is unreachable) with a Warning
Event, and releases the finalizer of such a deleted one, saying in an Event that its file, if
the node ever returns, is left on it.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

from pydantic import BaseModel

from dlxc.client.api import Client
from dlxc.client.errors import AlreadyExists, ApiError, Conflict, NotFound
from schemas.backup import backup_name
from schemas.base import Obj, iso_time
from schemas.wire import BACKUP_FINALIZER, CONTAINER_LABEL

__all__ = [
    "BackupScheduler", "BackupSchedulerSettings", "MarkUnreachable", "ReleaseFinalizer", "SCHEDULED_ANNOTATION", "due_backup",
    "local_time", "to_prune", "unreachable",
]

log = logging.getLogger("dlxc.controller.backups")
SCHEDULED_ANNOTATION = "dlxc.io/scheduled-for"
SCHEDULED_LABEL = "dlxc.io/scheduled"


class BackupSchedulerSettings(BaseModel):
    period: float = 10.0  # how often schedules are checked: a backup starts at most this late


def _parse(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def local_time(instant: datetime) -> datetime:
    """`instant` in the server's local timezone (TZ, else /etc/localtime) as a zone that knows its DST
    rules: cron schedules are wall-clock times, and a fixed UTC offset (`astimezone()`) would read
    yesterday's 03:00 as still to come once the clocks go back, and back up again at 01:00."""
    from dateutil import tz

    return instant.astimezone(tz.tzlocal())


def due_backup(now: datetime, last_run: datetime, schedule: str) -> datetime | None:
    """The scheduled time to back up for now, or None.

    `last_run` is the scheduled time of the last backup (or when the policy began). Every time the
    schedule fires in (last_run, now] was missed or is due; only the latest is returned: one
    backup, however many were missed. Times are compared in `now`'s timezone."""
    from croniter import croniter

    zone = now.tzinfo
    start = last_run.astimezone(zone)
    fire = croniter(schedule, start).get_next(datetime)
    if fire > now:
        return None
    latest = croniter(schedule, now).get_prev(datetime)
    # get_prev from an instant that is itself a firing time returns the one before it.
    nxt = croniter(schedule, latest).get_next(datetime)
    if nxt <= now:
        latest = nxt
    return latest if latest > start else None


def to_prune(backups: list[Obj], keep: int) -> list[str]:
    """Names of scheduled backups to delete, oldest first: Completed ones past the newest `keep` Completed,
    and Failed ones but the newest, which goes too once a newer Completed exists. Pending or Running
    ones are never pruned (they have not ended), and failures never push a Completed one out."""
    def scheduled(b: Obj) -> tuple[str, str]:
        return b["metadata"].get("annotations", {}).get(SCHEDULED_ANNOTATION, ""), b["metadata"]["name"]

    live = sorted((b for b in backups if not b["metadata"].get("deletionTimestamp")), key=scheduled)
    completed = [b for b in live if (b.get("status") or {}).get("phase") == "Completed"]
    failed = [b for b in live if (b.get("status") or {}).get("phase") == "Failed"]
    doomed = completed[:-keep] if keep > 0 else completed
    if failed:
        newest = failed[-1]
        superseded = bool(completed) and scheduled(completed[-1]) > scheduled(newest)
        doomed += failed if superseded else failed[:-1]
    return [b["metadata"]["name"] for b in sorted(doomed, key=scheduled)]


@dataclass(frozen=True)
class MarkUnreachable:
    """A Completed backup whose node is gone: say so in its status, once."""

    backup: str
    message: str


@dataclass(frozen=True)
class ReleaseFinalizer:
    """A deleted backup whose node is gone: nobody else can remove its archive, so let it go."""

    backup: str
    resource_version: str
    finalizers: tuple[str, ...]
    message: str


def unreachable(backups: list[Obj], nodes: set[str]) -> list[MarkUnreachable | ReleaseFinalizer]:
    """What to do about backups whose archive sits on a node that is no longer registered."""
    actions: list[MarkUnreachable | ReleaseFinalizer] = []
    for backup in backups:
        meta, status = backup["metadata"], backup.get("status") or {}
        node = status.get("node")
        if not node or node in nodes:
            continue
        where = f"{status.get('location') or 'its archive'} on node {node}"
        if meta.get("deletionTimestamp"):
            if BACKUP_FINALIZER in meta.get("finalizers", []):
                rest = tuple(f for f in meta["finalizers"] if f != BACKUP_FINALIZER)
                actions.append(ReleaseFinalizer(meta["name"], meta["resourceVersion"], rest,
                                                f"node {node} is gone: {where} could not be removed (it stays there if the "
                                                "node returns); the backup is deleted without it"))
        elif status.get("phase") == "Completed":
            message = f"archive unreachable: node {node} is gone (no longer registered); {where} cannot be read or restored"
            if status.get("message") != message:
                actions.append(MarkUnreachable(meta["name"], message))
    return actions


class BackupScheduler:
    def __init__(self, client: Client, settings: BackupSchedulerSettings | None = None, *,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.client = client
        self.settings = settings or BackupSchedulerSettings()
        self.clock = clock or (lambda: local_time(datetime.now(timezone.utc)))

    async def run(self) -> None:
        while True:
            try:
                await self.tick(self.clock())
                await self.settle()
            except ApiError as exc:
                log.warning("backup schedules: %s; trying again in %gs", exc.message, self.settings.period)
            await asyncio.sleep(self.settings.period)

    async def tick(self, now: datetime) -> list[str]:
        """One pass over every container with a policy; returns the Backups it created."""
        containers, _ = await self.client.list("containers")
        scheduled, _ = await self.client.list("backups", label_selector=f"{SCHEDULED_LABEL}=true")
        by_container: dict[str, list[Obj]] = {}
        for backup in scheduled:
            by_container.setdefault(backup["spec"]["container"], []).append(backup)
        created = []
        for container in containers:
            policy = container["spec"].get("backup")
            meta = container["metadata"]
            if not policy or meta.get("deletionTimestamp"):
                continue
            name = meta["name"]
            mine = by_container.get(name, [])
            times = [t for b in mine if (t := _parse(b["metadata"].get("annotations", {}).get(SCHEDULED_ANNOTATION)))]
            last = max(times) if times else (_parse(meta.get("creationTimestamp")) or now)
            when = due_backup(now, last, policy["schedule"])
            if when is not None:
                made = await self._create(name, when)
                if made is not None:
                    created.append(made["metadata"]["name"])
                    mine.append(made)
            for old in to_prune(mine, int(policy.get("keep", 7))):
                try:
                    await self.client.delete("backups", old)
                    log.info("%s: pruned backup %s (keep %s)", name, old, policy.get("keep"))
                except NotFound:
                    pass
        return created

    async def settle(self) -> list[MarkUnreachable | ReleaseFinalizer]:
        """One pass over backups whose node is gone (see the module's docstring); returns what it did."""
        backups, _ = await self.client.list("backups")
        nodes, _ = await self.client.list("nodes")
        actions = unreachable(backups, {n["metadata"]["name"] for n in nodes})
        by_name = {b["metadata"]["name"]: b for b in backups}
        for action in actions:
            try:
                if isinstance(action, ReleaseFinalizer):
                    await self.client.patch("backups", action.backup, {"metadata": {
                        "finalizers": list(action.finalizers), "resourceVersion": action.resource_version}})
                    reason = "ArchiveAbandoned"
                else:
                    await self.client.patch_status("backups", action.backup, {"message": action.message})
                    reason = "ArchiveUnreachable"
            except (NotFound, Conflict):
                continue  # gone, or changed since the list: the next pass judges again
            log.warning("backup %s: %s", action.backup, action.message)
            try:
                await self.client.record_event({"kind": "Backup", **by_name[action.backup]}, reason=reason,
                                               message=action.message, type="Warning", component="controller")
            except ApiError as exc:
                log.info("backup %s: event not recorded: %s", action.backup, exc.message)
        return actions

    async def _create(self, container: str, when: datetime) -> Obj | None:
        name = backup_name(container, when)
        body = {"metadata": {"name": name, "labels": {SCHEDULED_LABEL: "true", CONTAINER_LABEL: container},
                             "annotations": {SCHEDULED_ANNOTATION: iso_time(when)}},
                "spec": {"container": container}}
        try:
            made = await self.client.create("backups", body)
        except AlreadyExists:
            return None  # made by an earlier pass (or another controller) for this very time
        log.info("%s: scheduled backup %s created (for %s)", container, name, iso_time(when))
        return made
