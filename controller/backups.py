"""Scheduled backups: for every Container with spec.backup, create a Backup when its cron schedule is due and prune to `keep`.

Schedules are read in the controller's local timezone (the server's: set TZ for another). What ran
last is read from the objects, never remembered: each scheduled Backup carries the time it was
scheduled for (annotation dlxc.io/scheduled-for) and is named after it, so a restarted or newly
elected controller decides the same, and a create repeated after a crash is AlreadyExists, not a
second backup. A controller that was down across several scheduled times makes *one* backup when
it returns (for the latest missed time), not one per missed time.

Pruning keeps the newest `keep` scheduled backups of a container (by scheduled time) and deletes
older ones that are Completed or Failed; Pending or Running ones are left until they end. Backups
made by hand (`dlxc backup create`) are never pruned.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timezone

from pydantic import BaseModel

from dlxc.client.api import Client
from dlxc.client.errors import AlreadyExists, ApiError, NotFound
from schemas.backup import backup_name
from schemas.base import Obj, iso_time
from schemas.wire import CONTAINER_LABEL

__all__ = ["BackupScheduler", "BackupSchedulerSettings", "SCHEDULED_ANNOTATION", "due_backup", "to_prune"]

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
    """Names of scheduled backups to delete: all but the newest `keep` by scheduled time, if they have ended."""
    ordered = sorted(backups, key=lambda b: (b["metadata"].get("annotations", {}).get(SCHEDULED_ANNOTATION, ""), b["metadata"]["name"]))
    old = ordered[:-keep] if keep > 0 else ordered
    return [b["metadata"]["name"] for b in old
            if (b.get("status") or {}).get("phase") in ("Completed", "Failed") and not b["metadata"].get("deletionTimestamp")]


class BackupScheduler:
    def __init__(self, client: Client, settings: BackupSchedulerSettings | None = None, *,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.client = client
        self.settings = settings or BackupSchedulerSettings()
        # The local timezone: cron schedules are wall-clock times of the server.
        self.clock = clock or (lambda: datetime.now().astimezone())

    async def run(self) -> None:
        while True:
            try:
                await self.tick(self.clock())
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
