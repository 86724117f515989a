"""GitOps sync: keep the cluster equal to a folder of manifests, report each object's sync state and health, and watch for changes."""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, Field

from dlxc.apply.applier import PRUNE_SKIPPED, ApplyResult, apply_set
from dlxc.apply.inventory import applyset_id, default_inventory_dir
from dlxc.apply.manifests import LoadError, load_manifests, source_files
from dlxc.client.api import Client
from dlxc.client.errors import ApiError
from dlxc.tasks import cancel_and_wait
from schemas.base import Obj

log = logging.getLogger("dlxc.sync")

__all__ = ["ObjectReport", "SyncReport", "SyncSettings", "health_of", "run_sync", "sync_once"]


class SyncSettings(BaseModel):
    paths: list[str]
    prune: bool = False
    interval: float = Field(default=60.0, gt=0, description="Seconds between re-applies that correct drift.")
    applyset: str | None = Field(default=None, description="Default: derived from the paths.")
    inventory_dir: Path | None = Field(default=None, description="Default: ~/.local/state/dlxc/applysets.")
    force_rebuild: bool = Field(default=False, description="Apply image changes, which rebuild the rootfs and lose its data.")
    allow_empty_prune: bool = Field(default=False, description="Let --prune delete every member when the folder holds no objects.")

    def set_id(self) -> str:
        return self.applyset or applyset_id(self.paths)

    def record_dir(self) -> Path:
        return self.inventory_dir or default_inventory_dir()


@dataclass(frozen=True)
class ObjectReport:
    ref: str
    source: str
    sync: str  # InSync | Drifted | Missing | Pruned | Extra | Failed
    action: str  # what this round did: created | configured | pruned | - | failed
    health: str  # the phase from status, or - when there is no object
    detail: str = ""
    warnings: tuple[str, ...] = ()

    @property
    def in_sync(self) -> bool:
        return self.sync == "InSync"


@dataclass
class SyncReport:
    objects: list[ObjectReport] = field(default_factory=list)
    errors: list[LoadError] = field(default_factory=list)
    failure: str = ""  # the whole round failed (e.g. the apiserver is unreachable); the next round retries
    prune_skipped: str = ""  # why --prune deleted nothing this round (a missing folder, a broken file, a failed apply)

    @property
    def clean(self) -> bool:
        return not self.errors and not self.failure and all(o.in_sync for o in self.objects)


def health_of(obj: Obj | None) -> str:
    """Health as the phase the kubelet reports: Running, Pending, Failed, ... or - when the object is gone."""
    if obj is None:
        return "-"
    status = obj.get("status") or {}
    return str(status.get("phase") or "Pending")


def _report(result: ApplyResult, *, applied: bool) -> ObjectReport:
    health = health_of(result.obj)
    if result.action == "created":
        return ObjectReport(result.ref, result.source, "Missing", "created" if applied else "-", health)
    if result.action == "configured":
        detail = ", ".join(result.fields)
        return ObjectReport(
            result.ref, result.source, "Drifted", "configured" if applied else "-", health, detail, result.warnings
        )
    if result.action == "unchanged":
        return ObjectReport(result.ref, result.source, "InSync", "-", health)
    if result.action == "pruned":
        if applied:
            return ObjectReport(result.ref, result.source, "Pruned", "pruned", "-", "removed from the folder")
        return ObjectReport(result.ref, result.source, "Extra", "-", health, "removed from the folder; --prune deletes it")
    return ObjectReport(result.ref, result.source, "Failed", "failed", health, result.message)


async def sync_once(client: Client, settings: SyncSettings, *, apply: bool = True) -> SyncReport:
    """One round: read the folder, apply or only compare, prune; a broken file is reported and stops nothing but the prune."""
    read = source_files(settings.paths, recursive=True)
    manifests, errors = load_manifests(settings.paths, recursive=True)
    results = await apply_set(
        client,
        manifests,
        applyset=settings.set_id(),
        # a status check lists what a prune would delete, so it asks for the prune in dry run
        prune=settings.prune or not apply,
        dry_run="none" if apply else "client",
        inventory_dir=settings.record_dir(),
        read_sources=read,
        unreadable=[e.source for e in errors],
        missing_roots=[p for p in settings.paths if not Path(p).exists()],
        allow_empty_prune=settings.allow_empty_prune,
        force_rebuild=settings.force_rebuild,
    )
    skipped = next((r.message for r in results if r.action == PRUNE_SKIPPED), "")
    objects = [_report(r, applied=apply) for r in results if r.action != PRUNE_SKIPPED]
    return SyncReport(objects, errors, prune_skipped=skipped)


WATCH_AGAIN_AFTER = 5.0  # seconds before a failed or ended file watch is made again


async def _watch_files(paths: list[str], changed: asyncio.Event, ready: asyncio.Event, *, again_after: float = WATCH_AGAIN_AFTER) -> None:
    """Set `changed` on every change under `paths`, for as long as the sync runs. A watch that fails
    (inotify limits) or ends (a watched folder removed) is made again, and a path missing at first is
    watched once it exists: a dead watcher used to leave `sync --watch` syncing on its interval only,
    saying nothing. A change that lands while no watch is up is caught by the interval's round."""
    import watchfiles

    failures, watched = 0, None
    while True:
        roots = [p for p in paths if Path(p).exists()]
        if watched is not None and set(roots) - set(watched):
            changed.set()  # a path that appeared may hold files already: sync now, not at the interval
        watched = roots
        ready.set()
        delay = again_after
        if roots:
            # While a path is missing the watch is made again every `again_after`, to take it in once it exists.
            looking = asyncio.Event()
            timer = asyncio.get_running_loop().call_later(again_after, looking.set) if len(roots) < len(paths) else None
            try:
                async for _ in watchfiles.awatch(*roots, debounce=300, step=50, stop_event=looking):
                    changed.set()
                    failures = 0
                if looking.is_set():
                    continue
                log.warning("the watch of %s ended; watching again in %gs", ", ".join(roots), delay)
                changed.set()  # what ended it (a folder removed) is a change: sync now
            except Exception as exc:
                # A failure that lasts (inotify limits) is said less and less often, and starts no round.
                delay = min(again_after * 2 ** failures, 300.0)
                failures += 1
                log.warning("watching %s failed: %s; watching again in %gs", ", ".join(roots), exc, delay)
            finally:
                if timer is not None:
                    timer.cancel()
        await asyncio.sleep(delay)


async def run_sync(
    client: Client,
    settings: SyncSettings,
    on_report: Callable[[SyncReport], None],
    *,
    watch: bool = True,
    rounds: int | None = None,
) -> SyncReport:
    """Sync, then (with watch) again on every file change and every `interval` seconds; returns the last report.

    `rounds` bounds the loop so tests can run it; None runs until cancelled.
    """
    changed, ready = asyncio.Event(), asyncio.Event()
    watcher = asyncio.create_task(_watch_files(settings.paths, changed, ready)) if watch else None
    try:
        if watcher is not None:
            await ready.wait()
        done = 0
        while True:
            changed.clear()
            try:
                report = await sync_once(client, settings)
            except ApiError as exc:
                # Level-triggered: a failed round changes nothing that the next round cannot redo.
                report = SyncReport(failure=exc.message)
            on_report(report)
            done += 1
            if not watch or (rounds is not None and done >= rounds):
                return report
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(changed.wait(), timeout=settings.interval)
    finally:
        if watcher is not None:
            await cancel_and_wait(watcher)
            if not watcher.cancelled() and watcher.exception() is not None:
                raise watcher.exception()  # type: ignore[misc]  # the file watcher died: said, not swallowed
