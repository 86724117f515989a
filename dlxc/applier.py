"""Apply: create what is missing, update what differs, leave the rest; the library under `dlxc apply`."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dlxc.client import Client
from dlxc.errors import Conflict, NotFound
from dlxc.manifests import Manifest
from schemas import kind_for_plural

__all__ = ["ApplyResult", "apply_one", "delete_one", "desired_wire", "differs"]

Obj = dict[str, Any]


@dataclass(frozen=True)
class ApplyResult:
    ref: str
    action: str  # created | configured | unchanged | deleted | not found


def desired_wire(manifest: Manifest) -> Obj:
    wire = manifest.obj.to_wire()
    wire.pop("status", None)
    meta = wire["metadata"]
    wire["metadata"] = {k: meta[k] for k in ("name", "labels", "annotations") if k in meta}
    return wire


def _user_view(obj: Obj) -> Obj:
    """The fields a manifest owns: labels, annotations and spec (less the scheduler's nodeName)."""
    spec = {k: v for k, v in (obj.get("spec") or {}).items() if k != "nodeName"}
    meta = obj.get("metadata", {})
    return {"labels": meta.get("labels") or {}, "annotations": meta.get("annotations") or {}, "spec": spec}


def differs(desired: Obj, live: Obj) -> bool:
    return _user_view(desired) != _user_view(live)


async def apply_one(client: Client, manifest: Manifest, *, dry_run: bool = False) -> ApplyResult:
    plural = kind_for_plural(manifest.kind).plural
    desired = desired_wire(manifest)
    for _ in range(10):
        try:
            live = await client.get(plural, manifest.name)
        except NotFound:
            try:
                await client.create(plural, desired, dry_run=dry_run)
                return ApplyResult(manifest.ref, "created")
            except Conflict:
                continue  # created meanwhile: compare against it
        if not differs(desired, live):
            return ApplyResult(manifest.ref, "unchanged")
        update = {
            **desired,
            "metadata": {
                **desired["metadata"],
                "resourceVersion": live["metadata"]["resourceVersion"],
                "finalizers": live["metadata"].get("finalizers", []),
            },
        }
        if live.get("spec", {}).get("nodeName"):
            update["spec"] = {**desired["spec"], "nodeName": live["spec"]["nodeName"]}
        try:
            await client.replace(plural, update, dry_run=dry_run)
            return ApplyResult(manifest.ref, "configured")
        except Conflict:
            continue
    raise Conflict(f"{manifest.ref} keeps changing; try again")


async def delete_one(client: Client, plural: str, name: str, *, ref: str) -> ApplyResult:
    try:
        await client.delete(plural, name)
    except NotFound:
        return ApplyResult(ref, "not found")
    return ApplyResult(ref, "deleted")
