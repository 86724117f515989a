"""Apply: create what is missing, update what differs, prune what the set no longer holds; the library under `dlxc apply` and `dlxc sync`."""
from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from dlxc.apply.inventory import (
    Inventory,
    Member,
    prune_candidates,
    prune_skip_reason,
    source_key,
)
from dlxc.apply.manifests import Manifest
from dlxc.apply.threeway import Merge, applied_fields, plan_merge, recorded
from dlxc.client.errors import ApiError, Conflict, NotFound
from schemas import KINDS, kind_for_plural
from schemas.base import Obj
from schemas.wire import APPLYSET_LABEL, LAST_APPLIED_ANNOTATION

if TYPE_CHECKING:
    from dlxc.client.api import Client

__all__ = [
    "PRUNE_SKIPPED", "ApplyResult", "DryRun", "apply_one", "apply_set", "creation", "delete_one", "desired_wire", "image_change",
    "plan_apply", "rebuild_warning",
]

LIST_THRESHOLD = 8
PRUNE_SKIPPED = "prune skipped"  # the action of the one result, with no ref, that says why nothing was pruned
DryRun = Literal["none", "client", "server"]


@dataclass(frozen=True)
class ApplyResult:
    ref: str
    action: str  # created | configured | unchanged | pruned | deleted | not found | failed | refused (image change) | prune skipped
    fields: tuple[str, ...] = ()  # what differed, for configured
    message: str = ""  # why, for failed
    source: str = ""
    obj: Obj | None = field(default=None, compare=False)  # the live object afterwards (or now, in a dry run)
    warnings: tuple[str, ...] = ()  # what the user should know before it happens (an image change)

    @property
    def failed(self) -> bool:
        return self.action in ("failed", "refused")


def _mode(dry_run: bool | str) -> DryRun:
    if dry_run is True:
        return "server"
    if dry_run in (False, None, "none", ""):
        return "none"
    if dry_run not in ("client", "server"):
        raise ValueError(f"dry run must be none, client or server, not {dry_run!r}")
    return dry_run  # type: ignore[return-value]


def _message(exc: ApiError) -> str:
    """The server's message and every field it named, on one line."""
    fields = [f"{d.get('field')}: {d.get('message')}" for d in exc.details if d.get("field")]
    return "; ".join([exc.message, *[f for f in fields if f not in exc.message]])


def desired_wire(manifest: Manifest, *, applyset: str | None = None) -> Obj:
    wire = manifest.obj.to_wire()
    wire.pop("status", None)
    meta = wire["metadata"]
    wire["metadata"] = {k: meta[k] for k in ("name", "labels", "annotations") if k in meta}
    if applyset:
        wire["metadata"]["labels"] = {**wire["metadata"].get("labels", {}), APPLYSET_LABEL: applyset}
    return wire


def plan_apply(manifest: Manifest, live: Obj, *, applyset: str | None = None) -> Merge:
    """What applying `manifest` over `live` writes (dlxc.apply.threeway); `dlxc diff` shows the same."""
    desired = desired_wire(manifest, applyset=applyset)
    applied = applied_fields(manifest.obj)
    if applyset:
        applied["metadata"]["labels"] = {**applied["metadata"].get("labels", {}), APPLYSET_LABEL: applyset}
    return plan_merge(desired=desired, applied=applied, live=live)


def creation(manifest: Manifest, desired: Obj) -> tuple[Obj, tuple[str, ...]]:
    """The body that creates the object (the manifest, defaults filled, with its record) and any warning."""
    record, warnings = recorded(applied_fields(manifest.obj))
    annotations = {k: v for k, v in (desired["metadata"].get("annotations") or {}).items() if k != LAST_APPLIED_ANNOTATION}
    if record is not None:
        annotations[LAST_APPLIED_ANNOTATION] = record
    body = {**desired, "metadata": {**desired["metadata"], "annotations": annotations}}
    return body, tuple(f"{manifest.ref}: {w}" for w in warnings)


def image_change(desired: Obj, live: Obj | None) -> tuple[str, str] | None:
    """(old, new) image when applying would change an existing container's image, which rebuilds its rootfs."""
    if live is None or desired.get("kind") != "Container":
        return None
    old, new = (live.get("spec") or {}).get("image"), (desired.get("spec") or {}).get("image")
    return (old, new) if old and new and old != new else None


def rebuild_warning(ref: str, change: tuple[str, str]) -> str:
    return (
        f"{ref}: image {change[0]} -> {change[1]}: the rootfs is rebuilt from the new image "
        "and the data in it is lost (mounts are kept)"
    )


def _refusal(change: tuple[str, str]) -> str:
    return (
        f"spec.image: changing the image from {change[0]} to {change[1]} rebuilds the rootfs and loses the data in it; "
        "apply with --force-rebuild to do it"
    )


_UNREAD: Obj = {}


async def apply_one(
    client: Client,
    manifest: Manifest,
    *,
    dry_run: bool | str = False,
    applyset: str | None = None,
    known: Obj | None = _UNREAD,
    force_rebuild: bool = False,
) -> ApplyResult:
    """Make the live object match the manifest; a client dry run only reads, a server dry run writes nothing.

    `known` is the live object from a recent list (None: it did not exist), which saves a GET
    per object; a stale one only costs a 409 and a re-read. An image change of an existing
    container is refused without `force_rebuild` (dry runs only warn): it rebuilds the rootfs.
    """
    mode = _mode(dry_run)
    plural = kind_for_plural(manifest.kind).plural
    desired = desired_wire(manifest, applyset=applyset)
    for _ in range(10):
        try:
            if known is not _UNREAD:
                live, known = known, _UNREAD
                if live is None:
                    raise NotFound(manifest.ref)
            else:
                live = await client.get(plural, manifest.name)
        except NotFound:
            if mode == "client":
                return ApplyResult(manifest.ref, "created", source=manifest.source, obj=None)
            body, warnings = creation(manifest, desired)
            try:
                made = await client.create(plural, body, dry_run=mode == "server")
                return ApplyResult(manifest.ref, "created", source=manifest.source, obj=made, warnings=warnings)
            except Conflict:
                continue  # created meanwhile: compare against it
        owner = (live.get("metadata", {}).get("labels") or {}).get(APPLYSET_LABEL)
        if applyset and owner and owner != applyset:
            return ApplyResult(
                manifest.ref, "failed", source=manifest.source, obj=live,
                message=f"belongs to applyset {owner!r}, not {applyset!r}; delete it or apply it with --applyset {owner}",
            )
        # A plain apply of one member keeps it in its set; only an apply of the set may change that.
        plan = plan_apply(manifest, live, applyset=applyset or owner)
        warnings = tuple(f"{manifest.ref}: {w}" for w in plan.warnings)
        changed = plan.changed
        update = {
            **plan.obj,
            "metadata": {
                **plan.obj["metadata"],
                "resourceVersion": live["metadata"]["resourceVersion"],
                "finalizers": live["metadata"].get("finalizers", []),
            },
        }
        if not changed:
            if not plan.record_changed or mode != "none":
                return ApplyResult(manifest.ref, "unchanged", source=manifest.source, obj=live)
            try:  # nothing to change but the record (the first apply since records, or a field just taken over)
                done = await client.replace(plural, update)
                return ApplyResult(manifest.ref, "unchanged", source=manifest.source, obj=done, warnings=warnings)
            except Conflict:
                continue
        rebuild = image_change(plan.obj, live)
        if rebuild:
            warnings += (rebuild_warning(manifest.ref, rebuild),)
        if rebuild and not force_rebuild and mode == "none":
            return ApplyResult(manifest.ref, "refused", changed, source=manifest.source, obj=live, message=_refusal(rebuild))
        if mode == "client":
            return ApplyResult(manifest.ref, "configured", changed, source=manifest.source, obj=live, warnings=warnings)
        try:
            done = await client.replace(plural, update, dry_run=mode == "server")
            return ApplyResult(manifest.ref, "configured", changed, source=manifest.source, obj=done, warnings=warnings)
        except Conflict:
            continue
    raise Conflict(f"{manifest.ref} keeps changing; try again")


async def delete_one(client: Client, plural: str, name: str, *, ref: str) -> ApplyResult:
    try:
        await client.delete(plural, name)
    except NotFound:
        return ApplyResult(ref, "not found")
    return ApplyResult(ref, "deleted")


async def apply_set(
    client: Client,
    manifests: list[Manifest],
    *,
    applyset: str | None = None,
    prune: bool = False,
    dry_run: bool | str = False,
    inventory_dir: Path | None = None,
    read_sources: Iterable[str] | None = None,
    unreadable: Sequence[str] = (),
    missing_roots: Sequence[str] = (),
    allow_empty_prune: bool = False,
    force_rebuild: bool = False,
    all_or_nothing: bool = False,
) -> list[ApplyResult]:
    """Apply every manifest (one failure does not stop the others), then prune, then record the set.

    An image change of an existing container needs `force_rebuild`; without it that object is
    refused, and with `all_or_nothing` (`dlxc apply`) nothing at all is written; nor is anything
    when the server refuses one of several objects in a dry run of them all, made first.

    Without `prune` nothing is ever deleted. With it, only objects in the set's inventory
    (see dlxc.apply.inventory) that the manifests no longer hold are deleted, and only when their
    recorded file was among `read_sources` (every file this run read; default: the manifests'
    files) or is gone. The whole prune is skipped, with one PRUNE_SKIPPED result saying why, when
    a path in `missing_roots` is missing, a file in `unreadable` could not be read, an apply
    failed, or no manifest was given while the set has members (unless `allow_empty_prune`).
    """
    if prune and not applyset:
        raise ValueError("--prune needs an applyset")
    mode = _mode(dry_run)
    results: list[ApplyResult] = []
    # Many objects of a kind: one LIST instead of a GET each, so a sync round of an unchanged
    # folder is a few requests. A few: GETs, which do not read a whole large cluster.
    listed: dict[str, dict[str, Obj]] = {}
    counts = Counter(m.kind for m in manifests)
    for kind_name in sorted(k for k, n in counts.items() if n > LIST_THRESHOLD):
        items, _ = await client.list(kind_for_plural(kind_name).plural)
        listed[kind_name] = {o["metadata"]["name"]: o for o in items}
    prefetched: dict[str, Obj | None] = {}
    if all_or_nothing and mode == "none" and not force_rebuild:
        # Read every container first: an image change refused after others were written would
        # leave half an apply behind. The reads are reused below, so this costs no extra request.
        refused = []
        for manifest in manifests:
            if manifest.kind != "Container":
                continue
            try:
                live = listed["Container"].get(manifest.name) if "Container" in listed else await client.get("containers", manifest.name)
            except NotFound:
                live = None
            except ApiError as exc:
                if exc.retryable:
                    raise
                continue  # the apply below reports it for this object
            prefetched[manifest.ref] = live
            rebuild = image_change(desired_wire(manifest), live)
            if rebuild:
                refused.append(ApplyResult(manifest.ref, "refused", ("spec.image",), _refusal(rebuild), manifest.source, live))
        if refused:
            return refused
    async def attempt(manifest: Manifest, dry_run: str) -> ApplyResult:
        """apply_one from what was read already; a refusal is that object's failed result."""
        if manifest.ref in prefetched:
            known = prefetched[manifest.ref]
        else:
            known = listed[manifest.kind].get(manifest.name) if manifest.kind in listed else _UNREAD
        try:
            return await apply_one(client, manifest, dry_run=dry_run, applyset=applyset, known=known, force_rebuild=force_rebuild)
        except ApiError as exc:
            if exc.retryable:
                raise  # the server is unreachable or unavailable: the whole round fails and is retried
            return ApplyResult(manifest.ref, "failed", message=_message(exc), source=manifest.source)

    if all_or_nothing and mode == "none" and len(manifests) > 1:
        # The server's own checks next (admission policy, a claimed address, a name), writing
        # nothing: a refusal only the server can make, met after others were written, would also
        # leave half an apply behind. Costs one dry-run request per object, and only here.
        rejected = _same_address_twice(manifests)  # each passes the server alone; the second write would fail
        for manifest in manifests:
            checked = await attempt(manifest, "server")
            if checked.failed:
                rejected.append(checked)
        if rejected:
            return rejected
    for manifest in manifests:
        results.append(await attempt(manifest, mode))
    if not applyset or inventory_dir is None:
        return results
    inventory = Inventory.load(inventory_dir, applyset)
    keep = {(m.kind, m.name) for m in manifests}
    pruned: set[tuple[str, str]] = set()
    skipped = prune_skip_reason(
        missing_roots=missing_roots, unreadable=sorted(set(unreadable)), failed=[r.ref for r in results if r.failed],
        loaded=len(manifests), recorded=len(inventory.members), allow_empty=allow_empty_prune,
    ) if prune else ""
    if skipped:
        results.append(ApplyResult("", PRUNE_SKIPPED, message=skipped))
    elif prune:
        live: list[tuple[str, Obj]] = []
        for kind in KINDS:
            items, _ = await client.list(kind.plural, label_selector=f"{APPLYSET_LABEL}={applyset}")
            live += [(kind.name, obj) for obj in items]
        read = {source_key(s) for s in (read_sources if read_sources is not None else (m.source for m in manifests))}
        # A member's file that still exists but was not read (a subfolder without -R, another
        # path) says nothing about the member: keep it.
        unseen = {
            m.source for m in inventory.members.values()
            if source_key(m.source) not in read and not m.source.startswith("<") and os.path.exists(source_key(m.source))
        }
        for kind_name, obj in prune_candidates(inventory, live, keep=keep, protected_sources=unseen):
            name = obj["metadata"]["name"]
            ref = f"{kind_name.lower()}/{name}"
            source = _shown(inventory.members[(kind_name, name)].source)
            if mode == "none":
                try:
                    await client.delete(kind_for_plural(kind_name).plural, name)
                except NotFound:
                    pass  # gone already: what prune wanted
                except ApiError as exc:
                    results.append(ApplyResult(ref, "failed", message=exc.message, source=source, obj=obj))
                    continue
            pruned.add((kind_name, name))
            results.append(ApplyResult(ref, "pruned", source=source, obj=obj))
    if mode == "none":
        members = {k: m for k, m in inventory.members.items() if k not in pruned}
        by_ref = {m.ref: m for m in manifests}
        for result in results:
            manifest = by_ref.get(result.ref)
            uid = (result.obj or {}).get("metadata", {}).get("uid")
            if manifest is not None and uid and not result.failed:
                members[(manifest.kind, manifest.name)] = Member(manifest.kind, manifest.name, uid, source_key(manifest.source))
        inventory.members = members
        inventory.save(inventory_dir)
    return results


def _same_address_twice(manifests: list[Manifest]) -> list[ApplyResult]:
    """A failure for each Container asking for a static cluster address an earlier manifest asks for."""
    asked: dict[str, str] = {}
    clashes = []
    for manifest in manifests:
        if manifest.kind != "Container":
            continue
        ipv4 = ((desired_wire(manifest).get("spec") or {}).get("network") or {}).get("ipv4")
        if not ipv4:
            continue
        address = str(ipv4).split("/", 1)[0]
        if address in asked:
            clashes.append(ApplyResult(manifest.ref, "failed", source=manifest.source, message=(
                f"spec.network.ipv4: {address} is asked for by {asked[address]} too; an address belongs to one container")))
        else:
            asked[address] = manifest.ref
    return clashes


def _shown(source: str) -> str:
    """A recorded (absolute) source as the user wrote it, more or less: relative when under the current folder."""
    if source.startswith("<") or not os.path.isabs(source):
        return source
    relative = os.path.relpath(source)
    return source if relative.startswith("..") else relative
