"""What differs between a manifest's object and the live one: drifted field paths and a unified diff."""
from __future__ import annotations

import difflib
from typing import Any

import yaml

from schemas.base import Obj
from schemas.wire import (
    ADOPTED_ROOTFS_ANNOTATION,
    DRAINED_FROM_ANNOTATION,
    LAST_APPLIED_ANNOTATION,
    RESTART_ANNOTATION,
    RESTORE_ANNOTATION,
    SNAPSHOT_RESTORE_ANNOTATION,
    SNAPSHOTS_ANNOTATION,
)

__all__ = ["IMPERATIVE_ANNOTATIONS", "comparable_live", "drifted_fields", "drifted_paths", "pins_address", "unified_diff", "user_view"]

# Annotations set by imperative verbs (`dlxc restart`, `dlxc adopt`), not by manifests: a live
# value is neither drift nor removed by apply/sync unless the manifest itself sets the key.
IMPERATIVE_ANNOTATIONS = frozenset({
    RESTART_ANNOTATION, ADOPTED_ROOTFS_ANNOTATION, RESTORE_ANNOTATION, SNAPSHOTS_ANNOTATION, SNAPSHOT_RESTORE_ANNOTATION,
    DRAINED_FROM_ANNOTATION,
})


def _without_cluster_address(spec: Obj) -> Obj:
    """The cluster network is the default, and its address is the apiserver's to choose and to keep
    (it cannot change): `network: {type: cluster, ipv4: ...}` reads as no network field."""
    network = spec.get("network")
    if isinstance(network, dict) and network.get("type", "cluster") == "cluster" and not set(network) - {"type", "ipv4"}:
        spec = {k: v for k, v in spec.items() if k != "network"}
    return spec


def pins_address(obj: Obj | None) -> bool:
    """Whether the object asks for a cluster address of its own (`network.ipv4`): then the address is
    compared like any field (it cannot change, and saying nothing hid what apply then failed on)."""
    network = ((obj or {}).get("spec") or {}).get("network")
    return isinstance(network, dict) and bool(network.get("ipv4"))


def user_view(obj: Obj, *, keep_address: bool = False) -> Obj:
    """The fields a manifest may own: name, labels, annotations (less apply's own record) and spec
    (less the scheduler's nodeName and, unless `keep_address`, the apiserver's cluster address)."""
    spec = {k: v for k, v in (obj.get("spec") or {}).items() if k != "nodeName"}
    if not keep_address:
        spec = _without_cluster_address(spec)
    elif isinstance(spec.get("network"), dict) and "type" not in spec["network"]:
        spec = {**spec, "network": {"type": "cluster", **spec["network"]}}  # the default, as stored
    meta = obj.get("metadata") or {}
    return {
        "metadata": {
            "name": meta.get("name"),
            "labels": meta.get("labels") or {},
            "annotations": {k: v for k, v in (meta.get("annotations") or {}).items() if k != LAST_APPLIED_ANNOTATION},
        },
        "spec": spec,
    }


def _paths(a: Any, b: Any, prefix: str) -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        found: list[str] = []
        for key in sorted(set(a) | set(b), key=str):
            found += _paths(a.get(key), b.get(key), f"{prefix}.{key}" if prefix else str(key))
        return found
    return [] if a == b else [prefix]


def comparable_live(desired: Obj, live: Obj) -> Obj:
    """The live object less the imperative annotations the desired one does not set itself."""
    own = (desired.get("metadata") or {}).get("annotations") or {}
    annotations = (live.get("metadata") or {}).get("annotations") or {}
    if not any(k in IMPERATIVE_ANNOTATIONS and k not in own for k in annotations):
        return live
    kept = {k: v for k, v in annotations.items() if k in own or k not in IMPERATIVE_ANNOTATIONS}
    return {**live, "metadata": {**live["metadata"], "annotations": kept}}


def drifted_fields(desired: Obj, live: Obj) -> list[str]:
    """Dotted paths of every manifest-owned field whose live value is not the desired one."""
    keep = pins_address(desired)
    return _paths(user_view(desired, keep_address=keep), user_view(comparable_live(desired, live), keep_address=keep), "")


def drifted_paths(new: Obj, live: Obj) -> list[str]:
    """Dotted paths of every field whose live value is not the one in `new` (a merged object: no exceptions)."""
    keep = pins_address(new)
    return _paths(user_view(new, keep_address=keep), user_view(live, keep_address=keep), "")


def _dump(obj: Obj | None, *, keep_address: bool = False) -> list[str]:
    if obj is None:
        return []
    return yaml.safe_dump(user_view(obj, keep_address=keep_address), sort_keys=True, default_flow_style=False).splitlines(keepends=True)


def unified_diff(desired: Obj | None, live: Obj | None, *, ref: str, merged: bool = False, pinned: bool | None = None) -> str:
    """`diff -u` of the live object against the would-be one; '' when they agree.

    /dev/null stands for the side that does not exist, as in git, so a missing object
    shows as all added lines and an object about to be pruned as all removed lines.
    A `merged` desired object (dlxc.apply.threeway) already holds what apply keeps, so
    every difference is shown; a plain manifest's does not, and imperative annotations are
    left out of the live side. The cluster address shows only when `pinned` (the manifest names
    one; default: whether `desired` does).
    """
    before = f"live/{ref}" if live is not None else "/dev/null"
    after = f"desired/{ref}" if desired is not None else "/dev/null"
    if live is not None and desired is not None and not merged:
        live = comparable_live(desired, live)
    # A merged object always carries the live address: whether the manifest names one is the caller's to say.
    keep = pins_address(desired) if pinned is None else pinned
    return "".join(difflib.unified_diff(_dump(live, keep_address=keep), _dump(desired, keep_address=keep), fromfile=before, tofile=after))
