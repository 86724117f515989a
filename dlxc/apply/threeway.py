"""The three-way merge of apply: what the manifest sets, what the last apply set and what is live decide what apply writes.

kubectl's rule (its `last-applied-configuration`): a field the manifest sets is set; a field the
last apply set that the manifest no longer has is removed (the server's default then); a field
in neither was set by someone else (`dlxc label`, `dlxc scale`, the autoscaler, a restart) and
is kept. The record is the annotation `dlxc.io/last-applied`: the fields the manifest wrote, as
canonical JSON. Per field shape, taken from the kind's pydantic model:

- maps (labels, annotations, env, nodeSelector, a set template's labels, ...) merge by key, and
  a map dropped from the manifest loses only the keys the last apply had set;
- structs (network, autoscale, updateStrategy, a set's template, ...) merge by field, and a
  struct dropped from the manifest goes as a whole;
- lists (mounts, command, args, skipOrdinals, a cluster's scripts, ...) are replaced as a whole:
  they are short, and an item set by someone else cannot be told from one the manifest removed.

An object without a record (applied before records existed, or made by `dlxc run`) is compared
two-way once, as apply always did, and gets the record with that write. The autoscaler owns
`spec.replicas` of a ContainerSet with `spec.autoscale`: apply never writes it there (a create
does, from the manifest or the default).
"""
from __future__ import annotations

import functools
import json
import types
import typing
from dataclasses import dataclass
from typing import Any, Union

from pydantic import BaseModel

from dlxc.apply.diff import IMPERATIVE_ANNOTATIONS, drifted_paths, user_view
from schemas import kinds
from schemas.base import Model, Obj
from schemas.wire import APPLYSET_LABEL, LAST_APPLIED_ANNOTATION

__all__ = [
    "LAST_APPLIED_MAX", "MapOf", "Merge", "Struct", "applied_fields", "controller_owned", "merge", "plan_merge",
    "read_record", "record_text", "recorded", "shape_of",
]

# kubectl's limit on all of an object's annotations together; the record is the largest by far.
# A larger record would also near the apiserver's 1 MiB body limit, the object being in it twice.
LAST_APPLIED_MAX = 256 * 1024


@dataclass(frozen=True)
class MapOf:
    """A map with keys chosen by the user: merged by key."""

    value: Shape


@dataclass(frozen=True)
class Struct:
    """A model's fields by wire name: merged by field, removed as a whole."""

    fields: dict[str, Shape]


Shape = Union[MapOf, Struct, None]  # None: a scalar or a list, replaced whole


def _shape_of_type(tp: Any, seen: frozenset[type]) -> Shape:
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        shapes = [_shape_of_type(a, seen) for a in typing.get_args(tp) if a is not type(None)]
        return shapes[0] if len(shapes) == 1 else None
    if origin is typing.Annotated:
        return _shape_of_type(typing.get_args(tp)[0], seen)
    if origin is dict:
        return MapOf(_shape_of_type(typing.get_args(tp)[1], seen))
    if isinstance(tp, type) and issubclass(tp, BaseModel) and tp not in seen:
        return _shape_of_model(tp, seen | {tp})
    return None


def _shape_of_model(model: type[BaseModel], seen: frozenset[type]) -> Struct:
    return Struct({(f.alias or name): _shape_of_type(f.annotation, seen) for name, f in model.model_fields.items()})


@functools.lru_cache(maxsize=None)
def shape_of(kind: str) -> Struct:
    """The shape of a kind's metadata and spec, the parts apply merges."""
    whole = _shape_of_model(kinds.model_for_kind(kind), frozenset())
    return Struct({"metadata": whole.fields["metadata"], "spec": whole.fields["spec"]})


def _child(shape: Shape, key: str) -> Shape:
    if isinstance(shape, MapOf):
        return shape.value
    if isinstance(shape, Struct):
        return shape.fields.get(key)
    return None


def merge(live: Obj, applied: Obj, last: Obj, shape: Shape) -> Obj:
    """The new value of one map or struct: `live` with what `last` set and `applied` does not removed,
    and `applied` set over it. Pure; each argument may lack any key."""
    out = dict(live)
    for key, before in last.items():
        if key in applied or key not in out:
            continue
        child = _child(shape, key)
        if isinstance(child, MapOf) and isinstance(before, dict) and isinstance(out[key], dict):
            out[key] = merge(out[key], {}, before, child)  # only the keys the last apply had set
        else:
            del out[key]
    for key, value in applied.items():
        child = _child(shape, key)
        if child is not None and isinstance(value, dict) and isinstance(out.get(key), dict):
            before = last.get(key)
            out[key] = merge(out[key], value, before if isinstance(before, dict) else {}, child)
        else:
            out[key] = value
    return out


def _mask(full: Any, written: Any) -> Any:
    """`full` cut down to the keys in `written`; below a list, everything (a list is replaced whole)."""
    if isinstance(full, dict) and isinstance(written, dict):
        return {k: _mask(v, written[k]) for k, v in full.items() if k in written}
    return full


def applied_fields(obj: Model) -> Obj:
    """What a manifest wrote (defaults it left out are not), in wire form: the fields apply owns."""
    full = obj.to_wire()
    written = obj.model_dump(by_alias=True, exclude_unset=True, mode="json")
    applied = _mask(full, written)
    applied.pop("status", None)
    meta = applied.get("metadata") or {}
    applied["metadata"] = {k: meta[k] for k in ("name", "labels", "annotations") if k in meta}
    return applied


def record_text(applied: Obj) -> str:
    """Canonical JSON on one line, ASCII only: the same manifest always gives the same text, and
    nothing in it can end a line or a value (annotations must be config-safe)."""
    return json.dumps(applied, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def read_record(live: Obj) -> Obj | None:
    """The fields the last apply wrote, or None without a readable record."""
    text = ((live.get("metadata") or {}).get("annotations") or {}).get(LAST_APPLIED_ANNOTATION)
    if not text:
        return None
    try:
        record = json.loads(text)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def recorded(applied: Obj) -> tuple[str | None, tuple[str, ...]]:
    """The record of what a manifest wrote (less the applyset label, the set's, and any record the
    manifest carries itself), or None and why when it is over LAST_APPLIED_MAX."""
    meta = _merged_part(applied)["metadata"]
    if "labels" in meta:
        labels = {k: v for k, v in meta["labels"].items() if k != APPLYSET_LABEL}
        if labels or APPLYSET_LABEL not in meta["labels"]:
            meta["labels"] = labels
        else:
            del meta["labels"]  # only the set's label: the manifest wrote none
    text = record_text({**applied, "metadata": {"name": (applied.get("metadata") or {}).get("name"), **meta}})
    if len(text) <= LAST_APPLIED_MAX:
        return text, ()
    return None, (
        f"the manifest is {len(text)} bytes as JSON, over the {LAST_APPLIED_MAX}-byte limit of the "
        f"{LAST_APPLIED_ANNOTATION} annotation: it is not recorded, so apply compares this object two-way "
        "(fields set by others are reverted)",
    )


def controller_owned(obj: Obj) -> list[tuple[str, ...]]:
    """Paths a controller writes, which apply leaves alone on update: the replicas of an autoscaled set."""
    if obj.get("kind") == "ContainerSet" and (obj.get("spec") or {}).get("autoscale"):
        return [("spec", "replicas")]
    return []


def _without(obj: Obj, paths: list[tuple[str, ...]]) -> Obj:
    for path in paths:
        *parents, leaf = path
        node = obj
        for key in parents:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict) and leaf in node:
            obj = json.loads(json.dumps(obj))  # a copy: the arguments stay as they were
            node = obj
            for key in parents:
                node = node[key]
            del node[leaf]
    return obj


def _merged_part(obj: Obj) -> Obj:
    """The part of an object apply merges: metadata's labels and annotations (less the record) and spec."""
    meta = obj.get("metadata") or {}
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k != LAST_APPLIED_ANNOTATION}
    part: Obj = {"metadata": {}, "spec": dict(obj.get("spec") or {})}
    if "labels" in meta:
        part["metadata"]["labels"] = dict(meta["labels"] or {})
    if "annotations" in meta:
        part["metadata"]["annotations"] = annotations
    return part


def _two_way_last(live: Obj) -> Obj:
    """Without a record, apply acts as if the last apply had set every field it may change: everything
    live is the manifest's, less the imperative annotations and the applyset label, as before records."""
    view = user_view(live)
    meta = view["metadata"]
    return {
        "metadata": {
            "labels": {k: v for k, v in meta["labels"].items() if k != APPLYSET_LABEL},
            "annotations": {k: v for k, v in meta["annotations"].items() if k not in IMPERATIVE_ANNOTATIONS},
        },
        "spec": view["spec"],
    }


@dataclass(frozen=True)
class Merge:
    obj: Obj  # what apply writes: apiVersion, kind, metadata (name, labels, annotations with the record), spec
    changed: tuple[str, ...]  # dotted paths of the manifest-owned fields this write changes
    record: str | None  # the record written; None when it is over LAST_APPLIED_MAX
    record_changed: bool  # the stored record is not `record`: a write is due even if nothing else changes
    two_way: bool  # there was no record to merge with
    warnings: tuple[str, ...] = ()


def plan_merge(*, desired: Obj, applied: Obj, live: Obj) -> Merge:
    """The object apply writes over `live`: `desired` is the manifest's whole object (defaults filled),
    `applied` the fields it wrote (applied_fields; both with the applyset label when there is one)."""
    kind = desired.get("kind") or live.get("kind") or "Container"
    stored, warnings = recorded(applied)
    record = read_record(live)
    if record is None:
        want, last = _merged_part(desired), _two_way_last(live)
    else:
        want, last = _merged_part(applied), _merged_part(record)
    base, shape = _merged_part(live), shape_of(kind)
    part = merge(base, want, last, shape)
    # What the object will be decides who owns what: an autoscale kept from someone else's write
    # owns replicas as much as one the manifest sets.
    owned = controller_owned({"kind": kind, **part})
    if owned:
        part = merge(base, _without(want, owned), _without(last, owned), shape)
    annotations = dict(part["metadata"].get("annotations") or {})
    if stored is not None:
        annotations[LAST_APPLIED_ANNOTATION] = stored
    obj = {
        "apiVersion": desired.get("apiVersion") or live.get("apiVersion"),
        "kind": kind,
        "metadata": {
            "name": (desired.get("metadata") or {}).get("name"),
            "labels": part["metadata"].get("labels") or {},
            "annotations": annotations,
        },
        "spec": part["spec"],
    }
    old = ((live.get("metadata") or {}).get("annotations") or {}).get(LAST_APPLIED_ANNOTATION)
    return Merge(
        obj=obj,
        changed=tuple(drifted_paths(obj, live)),
        record=stored,
        record_changed=old != stored,
        two_way=record is None,
        warnings=warnings,
    )
