"""Moving containers between nodes and draining a node: workflows over the API, shared by the CLI and the dashboard.

A move is cold, through a backup: stop the container (spec.state), back it up on its node (a
consistent, stopped copy), delete it there *keeping its directory* (the annotation
dlxc.io/keep-rootfs-for: BACKUP makes the old node's kubelet rename it aside instead of removing
it, kubelet/keep.py), create it again bound to the target node from that archive (the target's
kubelet streams it from the old node's through the apiserver, so no shared --backup-dir is
needed), wait until it runs *on the target*, then delete the move's backup, which removes the
archive and the kept directory on the old node. Downtime is stop request to Running on the
target. Never two copies running: the old one is stopped first.

A failure before the delete just starts it again where it was. A failure after it (the target
cannot fetch or unpack the archive, the copy does not run there in time, or it was placed
elsewhere meanwhile) is reported (`warn`), the target's copy removed, and the container created
again on its old node with the same backup: that node's kubelet renames the kept directory back
(no unpacking), it runs where it was, and the backup is kept for a later try.

A drain cordons the node, then moves every container on it elsewhere, a few at a time. Containers
with `failover: Never` asked not to leave their node: they block the drain (nothing is changed, not
even the cordon) unless forced. Each moved copy carries dlxc.io/drained-from=NODE, so `dlxc uncordon
NODE --restore` can move them back.

`client` is anything with the methods of dlxc.client.api.Client used here (the dashboard passes its
in-process client, behind the API's authorization). Failures raise MoveError with the message a user reads.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

from dlxc.client.errors import AlreadyExists, ApiError, NotFound
from dlxc.client.guarded import patch_guarded
from schemas.backup import backup_name, spec_document
from schemas.base import Obj
from schemas.node import node_ready
from schemas.wire import (
    DRAINED_FROM_ANNOTATION,
    KEEP_ROOTFS_ANNOTATION,
    MOVING_MEMBER_PREFIX,
    RESTORE_ANNOTATION,
    SET_LABEL,
)

__all__ = [
    "DRAINED_FROM",
    "MOVE_LABEL",
    "MoveError",
    "Moved",
    "create_backup",
    "get_or_none",
    "move_all",
    "move_container",
    "node_is_ready",
    "pick_node",
    "prepare_drain",
    "wait_backup",
    "wait_running",
]

MOVE_LABEL = "dlxc.io/move"
DRAINED_FROM = DRAINED_FROM_ANNOTATION
Say = Callable[[str], None]
T = TypeVar("T")


class MoveError(Exception):
    """A step could not be done; the message says what and why. `reported`: already given to `warn`
    (a move says why it failed before it says how it rolled back)."""

    reported = False


def _report(exc: BaseException, warn: Say) -> None:
    if isinstance(exc, MoveError) and not exc.reported:
        warn(str(exc))
        exc.reported = True


@dataclass(frozen=True)
class Moved:
    name: str
    source: str
    target: str
    downtime: float
    backup: str


def _quiet(_: str) -> None:
    pass


async def get_or_none(client: Any, plural: str, name: str) -> Obj | None:
    try:
        return await client.get(plural, name)  # type: ignore[no-any-return]
    except NotFound:
        return None


node_is_ready = node_ready


async def pick_node(client: Any, wanted: str | None, *, container: Obj, exclude: str | None = None) -> str:
    """Where `container` (what is to run there) goes: `wanted` if it exists, is Ready, is not cordoned
    and the scheduler's filters let it run there; else the node the scheduler's own filters and
    scorers pick among all but `exclude`, on the cluster as it is now (the container not counted
    where it runs): its nodeSelector, affinity, room and ports hold as for any placement."""
    if wanted is not None:
        node = await get_or_none(client, "nodes", wanted)
        if node is None:
            raise MoveError(f"node {wanted} does not exist")
        if not node_is_ready(node):
            raise MoveError(f"node {wanted} is not Ready; choose another node")
        if (node.get("spec") or {}).get("unschedulable"):
            raise MoveError(f"node {wanted} is cordoned; uncordon it first or choose another node")
        candidates = [node]
    else:
        nodes, _ = await client.list("nodes")
        candidates = [n for n in nodes if n["metadata"]["name"] != exclude]
    from scheduler.config import load_settings
    from scheduler.whatif import explain

    containers, _ = await client.list("containers")
    name = container["metadata"]["name"]
    copy = {**container, "spec": {k: v for k, v in container["spec"].items() if k != "nodeName"}}
    decision = explain(candidates, containers, [copy], load_settings())[0]
    if decision.node is None:
        if wanted is not None:
            why = decision.rejected_nodes[0][1] if decision.rejected_nodes else decision.message
            raise MoveError(f"container {name} cannot run on node {wanted}: {why}")
        raise MoveError(f"container {name} fits on no other node: {decision.message}")
    return decision.node


async def create_backup(client: Any, container: str, *, labels: dict[str, str] | None = None) -> Obj:
    """A new Backup of `container` (which must exist), named CONTAINER-YYYYMMDD-HHMMSS."""
    if await get_or_none(client, "containers", container) is None:
        raise MoveError(f"container {container} does not exist; nothing to back up")
    for _ in range(3):
        name = backup_name(container, datetime.now(timezone.utc))
        try:
            return await client.create("backups", {"metadata": {"name": name, "labels": labels or {}}, "spec": {"container": container}})  # type: ignore[no-any-return]
        except AlreadyExists:
            await asyncio.sleep(1.0)  # two backups within one second: the next second's name
    raise MoveError(f"could not name a new backup of {container}: backups made every second already exist")


async def wait_backup(client: Any, name: str, *, timeout: float) -> Obj:
    """The Backup once Completed; a Failed one, or none by the deadline, raises with its message."""
    return await _wait_phase(client, "backups", name, "Completed", timeout=timeout, gone_is_error=True)


async def wait_running(client: Any, name: str, *, timeout: float) -> Obj:
    """The Container once Running; Failed, or not Running by the deadline, raises with its message."""
    return await _wait_phase(client, "containers", name, "Running", timeout=timeout, gone_is_error=False)


async def _wait_phase(client: Any, plural: str, name: str, phase: str, *, timeout: float, gone_is_error: bool) -> Obj:
    kind = plural[:-1]
    deadline = time.monotonic() + timeout
    while True:
        obj = await get_or_none(client, plural, name)
        if obj is None and gone_is_error:
            raise MoveError(f"{kind} {name} was deleted while waiting for it")
        status = (obj or {}).get("status") or {}
        if obj is not None and status.get("phase") == phase:
            return obj
        if status.get("phase") == "Failed":
            raise MoveError(f"{kind} {name} failed: {status.get('message', '')}")
        if time.monotonic() > deadline:
            raise MoveError(f"{kind} {name} is still {status.get('phase', 'Pending')} after {timeout:g}s: {status.get('message', '')}")
        await asyncio.sleep(0.3)


async def _gone(client: Any, name: str, *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while await get_or_none(client, "containers", name) is not None:
        if time.monotonic() > deadline:
            raise MoveError(f"container {name} was not removed within {timeout:g}s")
        await asyncio.sleep(0.2)


async def _stopped(client: Any, name: str, *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        obj = await get_or_none(client, "containers", name)
        if obj is None:
            raise MoveError(f"container {name} was deleted during the move")
        if (obj.get("status") or {}).get("phase") == "Stopped":
            return
        if time.monotonic() > deadline:
            raise MoveError(f"container {name} did not stop within {timeout:g}s")
        await asyncio.sleep(0.2)


async def _running_on(client: Any, name: str, node: str, *, timeout: float) -> None:
    """Running on `node`; a copy placed elsewhere meanwhile (its node went NotReady) is a failure, not a move."""
    obj = await wait_running(client, name, timeout=timeout)
    if obj["spec"].get("nodeName") != node:
        raise MoveError(f"container {name} runs on node {obj['spec'].get('nodeName')}, not {node}: it was placed again meanwhile")


def _body(live: Obj, *, node: str, backup: str, annotations: dict[str, str], state: str) -> Obj:
    doc = spec_document(live)  # drops the one-shot annotations, dlxc.io/keep-rootfs-for among them
    if live["metadata"].get("ownerReferences"):
        doc["metadata"]["ownerReferences"] = live["metadata"]["ownerReferences"]  # a set's member stays its member
    doc["metadata"]["annotations"] = {**doc["metadata"]["annotations"], **annotations, RESTORE_ANNOTATION: backup}
    doc["spec"]["nodeName"] = node
    doc["spec"]["state"] = state  # the live spec says Stopped: the move stopped it
    return doc


async def _to_the_end(work: Awaitable[T]) -> T:
    """Await `work` to its end even if the caller is cancelled meanwhile (Ctrl-C), then pass the
    cancel on: a move between its delete and its create must finish, or the container is gone.
    (Only the caller's cancel: a loop torn down, as asyncio.run's second Ctrl-C does, cancels the
    work too; `dlxc move`/`drain` take later presses themselves, see dlxc.cli.move.finish_moves_on_interrupt.)"""
    task = asyncio.ensure_future(work)
    cancelled = False
    while True:
        try:
            result = await asyncio.shield(task)
            break
        except asyncio.CancelledError as exc:
            if task.cancelled():
                raise
            if not task.done():
                cancelled = True  # the caller's: wait on for the work
                continue
            if cancelled:
                raise asyncio.CancelledError from exc
            raise
        except BaseException as exc:
            if cancelled:
                raise asyncio.CancelledError from exc
            raise
    if cancelled:
        raise asyncio.CancelledError
    return result


async def move_container(
    client: Any, name: str, *, to: str | None, say: Say = _quiet, warn: Say = _quiet, timeout: float = 600.0,
    annotations: dict[str, str] | None = None, strip: tuple[str, ...] = (),
) -> Moved:
    """Move one container; see the module's docstring. `annotations` are added to (and `strip` removed
    from) the new copy. The steps share `timeout`; rolling back after a failure gets a `timeout` of
    its own (a container left deleted is worse than a late answer). An API error is a MoveError."""
    try:
        return await _move(client, name, to=to, say=say, warn=warn, timeout=timeout, annotations=annotations or {}, strip=strip)
    except ApiError as exc:
        raise MoveError(f"container {name}: {exc.message}") from exc


async def _move(client: Any, name: str, *, to: str | None, say: Say, warn: Say, timeout: float,
                annotations: dict[str, str], strip: tuple[str, ...]) -> Moved:
    end = time.monotonic() + timeout

    def left() -> float:
        return max(0.0, end - time.monotonic())

    live = await get_or_none(client, "containers", name)
    if live is None:
        raise MoveError(f"container {name} does not exist")
    source = live["spec"].get("nodeName")
    if not source:
        raise MoveError(f"container {name} is not on a node yet; nothing to move")
    if live["metadata"].get("deletionTimestamp"):
        raise MoveError(f"container {name} is being deleted")
    if to == source:
        raise MoveError(f"container {name} is already on node {source}")
    target = await pick_node(client, to, exclude=source, container=live)
    state = live["spec"].get("state", "Running")
    # A ContainerSet creates a missing member from its template at once: held while this moves it
    # (marked before the stop, so the set controller has seen the mark long before the delete).
    owner = (live["metadata"].get("labels") or {}).get(SET_LABEL)
    if owner:
        await _hold_member(client, owner, name, seconds=2 * timeout + 120)
    try:
        return await _stop_archive_replace(client, live, source=source, target=target, state=state, left=left, timeout=timeout,
                                           say=say, warn=warn, annotations=annotations, strip=strip)
    finally:
        if owner:
            await _to_the_end(_release_member(client, owner, name))


async def _hold_member(client: Any, owner: str, member: str, *, seconds: float) -> None:
    until = datetime.now(timezone.utc) + timedelta(seconds=seconds)
    await client.patch("containersets", owner, {"metadata": {"annotations": {
        MOVING_MEMBER_PREFIX + member: until.strftime("%Y-%m-%dT%H:%M:%SZ")}}})


async def _release_member(client: Any, owner: str, member: str) -> None:
    try:
        await client.patch("containersets", owner, {"metadata": {"annotations": {MOVING_MEMBER_PREFIX + member: None}}})
    except NotFound:
        pass  # the set was deleted meanwhile


async def _stop_archive_replace(client: Any, live: Obj, *, source: str, target: str, state: str, left: Callable[[], float],
                                timeout: float, say: Say, warn: Say, annotations: dict[str, str], strip: tuple[str, ...]) -> Moved:
    name = live["metadata"]["name"]
    started = time.monotonic()
    if state == "Running":
        say(f"{name}: stopping on {source}")
        await client.patch("containers", name, {"spec": {"state": "Stopped"}})
    try:
        await _stopped(client, name, timeout=left())
        say(f"{name}: archiving on {source}")
        made = await create_backup(client, name, labels={MOVE_LABEL: "true"})
        backup = (await wait_backup(client, made["metadata"]["name"], timeout=left()))["metadata"]["name"]
        live = await get_or_none(client, "containers", name) or live
    except BaseException as exc:
        if state == "Running":
            _report(exc, warn)
            await _to_the_end(client.patch("containers", name, {"spec": {"state": "Running"}}))
            warn(f"move of {name} failed before it left {source}; it is started there again")
        raise
    # The copy on the target loses `strip`; a copy put back on the source keeps every annotation it had.
    moved = {**live, "metadata": {**live["metadata"], "annotations": {
        k: v for k, v in (live["metadata"].get("annotations") or {}).items() if k not in strip}}}
    # From the delete on the move runs to a copy somewhere, whatever interrupts its caller.
    await _to_the_end(_replace(client, name, live, moved, source=source, target=target, backup=backup, state=state,
                               annotations=annotations, left=left, timeout=timeout, say=say, warn=warn))
    return Moved(name, source, target, time.monotonic() - started, backup)


async def _replace(client: Any, name: str, live: Obj, moved: Obj, *, source: str, target: str, backup: str, state: str,
                   annotations: dict[str, str], left: Callable[[], float], timeout: float, say: Say, warn: Say) -> None:
    """Delete the stopped, archived container on `source` and create it on `target` from `backup`
    until it runs there, then delete the backup (its archive and the kept directory go); on failure,
    create it on `source` again (from its kept directory), the backup kept."""
    # The old node keeps the container's directory (renamed aside) until the backup is deleted.
    await client.patch("containers", name, {"metadata": {"annotations": {KEEP_ROOTFS_ANNOTATION: backup}}})
    await client.delete("containers", name)
    await _gone(client, name, timeout=max(left(), 30.0))  # the delete is sent: see it through
    say(f"{name}: restoring on {target} (its old rootfs kept on {source} until it runs)")
    try:
        await client.create("containers", _body(moved, node=target, backup=backup, annotations=annotations, state=state))
        if state == "Running":
            await _running_on(client, name, target, timeout=left())
    except BaseException as exc:
        _report(exc, warn)
        if isinstance(exc, ApiError):
            warn(f"container {name}: {exc.message}")
        warn(f"move of {name} to {target} failed; creating it again on {source} from its kept rootfs")
        current = await get_or_none(client, "containers", name)
        if current is not None and current["spec"].get("nodeName") != source:
            await client.delete("containers", name)
            await _gone(client, name, timeout=timeout)
            current = None
        if current is None:  # (else the node controller already placed it back there)
            await client.create("containers", _body(live, node=source, backup=backup, annotations={}, state=state))
        if state == "Running":
            await _running_on(client, name, source, timeout=timeout)
        warn(f"container {name} runs on {source} again (backup {backup} kept)")
        raise
    await client.delete("backups", backup)


async def move_all(client: Any, names: list[str], *, to: str | None, max_parallel: int, deadline: float,
                   annotations: dict[str, str], strip: tuple[str, ...] = (), say: Say = _quiet,
                   warn: Say = _quiet) -> tuple[list[str], list[str]]:
    """Move `names` (each to `to`, or to the least loaded Ready node), up to `max_parallel` at once;
    (moved, failed) lines. A move is never cancelled halfway (one between its delete and its create
    runs to a copy somewhere); each move gets what is left of `deadline`."""
    gate = asyncio.Semaphore(max_parallel)
    moved: list[str] = []
    failed: list[str] = []
    end = time.monotonic() + deadline

    async def one(name: str) -> None:
        if gate.locked():
            say(f"{name}: waiting (--max-parallel {max_parallel} moves already running)")
        async with gate:
            left = end - time.monotonic()
            if left <= 0:
                failed.append(f"{name}: not moved, the deadline passed")
                return
            try:
                result = await move_container(client, name, to=to, say=say, warn=warn, timeout=left,
                                              annotations=annotations, strip=strip)
            except MoveError as exc:
                failed.append(f"{name}: not moved: {exc}")
                return
            except Exception as exc:  # noqa: BLE001 - one container's failure is a line; the others go on
                failed.append(f"{name}: not moved: {type(exc).__name__}: {exc}")
                return
            line = f"{name}: {result.source} -> {result.target} (downtime {result.downtime:.1f}s)"
            say(line)
            moved.append(line)

    await asyncio.gather(*(one(n) for n in names))
    return moved, failed


async def prepare_drain(client: Any, node: str, *, force: bool, force_hint: str = "drain with --force") -> list[str]:
    """Check that `node` can be drained, cordon it, and return the containers to move off it (by name).
    Raises MoveError, having changed nothing, for a missing node or (without `force`) containers
    with failover: Never (the message ends with `force_hint`, how the caller forces a drain)."""
    current = await get_or_none(client, "nodes", node)
    if current is None:
        raise MoveError(f"node {node} does not exist")
    containers, _ = await client.list("containers", field_selector=f"spec.nodeName={node}")
    names = sorted(c["metadata"]["name"] for c in containers if not c["metadata"].get("deletionTimestamp"))
    pinned = sorted(c["metadata"]["name"] for c in containers if c["spec"].get("failover") == "Never")
    if pinned and not force:
        raise MoveError(f"containers with failover: Never are on {node}: {', '.join(pinned)}; they block the drain "
                        f"(nothing was changed): move them yourself, or {force_hint}")
    if names and not node_is_ready(current):
        # (An empty NotReady node is just cordoned.)
        raise MoveError(f"node {node} is not Ready, so its kubelet cannot stop and archive its containers (nothing was "
                        f"changed): they fail over by themselves once it stays NotReady past the eviction timeout; "
                        f"`dlxc node remove {node}` if the host is gone for good")
    await patch_guarded(client, "nodes", node,
                        lambda now: None if (now.get("spec") or {}).get("unschedulable") else {"spec": {"unschedulable": True}})
    return names
