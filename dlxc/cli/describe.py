"""`dlxc describe container|node|set NAME`: spec, status, conditions, events and placement, in that order."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer
import yaml

from dlxc.cli import console
from dlxc.cli.common import fail, with_client
from dlxc.cli.completion import complete_kinds, complete_names
from dlxc.cli.placement import placement_lines
from dlxc.client.events import one_line
from schemas import Kind, kind_for_plural
from schemas.wire import LAST_APPLIED_ANNOTATION

if TYPE_CHECKING:
    from dlxc.client.api import Client
    from schemas.base import Obj

__all__ = ["describe", "describe_lines", "events_for"]


def _pairs(mapping: dict[str, str] | None) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted((mapping or {}).items())) or "<none>"


# apply's three-way-merge record is a copy of the whole manifest as JSON: a wall of text in a
# human view (kubectl's describe hides last-applied-configuration too); get -o yaml/json keep it.
HIDDEN_ANNOTATIONS = frozenset({LAST_APPLIED_ANNOTATION})


def _annotations(mapping: dict[str, str] | None) -> dict[str, str]:
    return {k: v for k, v in (mapping or {}).items() if k not in HIDDEN_ANNOTATIONS}


def _block(data: Any) -> list[str]:
    if not data:
        return ["  <none>"]
    text = yaml.safe_dump(data, sort_keys=False, default_flow_style=False).rstrip("\n")
    return ["  " + line for line in text.splitlines()]


async def events_for(client: Client, kind: str, name: str) -> list[Obj]:
    """The events about one object (a field selector on the server), oldest first."""
    items, _ = await client.list(
        "events", field_selector=f"involvedObject.kind={kind},involvedObject.name={name}"
    )
    return sorted(items, key=_event_time)


def _event_time(event: Obj) -> str:
    status = event.get("status") or {}
    return str(status.get("lastTimestamp") or event.get("metadata", {}).get("creationTimestamp") or "")


def describe_lines(obj: Obj, events: list[Obj]) -> list[str]:
    """The whole description as lines; pure, so its layout is tested exactly."""
    meta, status = obj.get("metadata") or {}, dict(obj.get("status") or {})
    conditions = status.pop("conditions", []) or []
    placement = status.pop("placement", None)
    revisions = status.pop("revisions", None) or []
    decisions = status.pop("autoscale", None) or []
    created = meta.get("creationTimestamp")
    lines = [
        f"Name:         {meta.get('name')}",
        f"Kind:         {obj.get('kind')}",
        f"Labels:       {_pairs(meta.get('labels'))}",
        f"Annotations:  {_pairs(_annotations(meta.get('annotations')))}",
        f"Created:      {created} ({console.age(created)} ago)" if created else "Created:      <unknown>",
        "Spec:",
        *_block(obj.get("spec")),
        "Status:",
        *_block(status),
    ]
    if conditions:
        rows = [
            [c.get("type", ""), c.get("status", ""), c.get("reason", "") or "-", console.age(c.get("lastTransitionTime")), c.get("message", "")]
            for c in conditions
        ]
        lines += ["Conditions:", *console.format_table(["TYPE", "STATUS", "REASON", "AGE", "MESSAGE"], rows, indent="  ")]
    else:
        lines.append("Conditions:   <none>")
    if events:
        rows = [
            [
                (e.get("spec") or {}).get("type", ""),
                (e.get("spec") or {}).get("reason", ""),
                console.age(_event_time(e) or None),
                str((e.get("status") or {}).get("count", 1)),
                one_line((e.get("spec") or {}).get("message", "")),
            ]
            for e in events
        ]
        lines += ["Events:", *console.format_table(["TYPE", "REASON", "AGE", "COUNT", "MESSAGE"], rows, indent="  ")]
    else:
        lines.append("Events:       <none>")
    if placement:
        lines += ["Placement:", *("  " + line for line in placement_lines(placement))]
    if revisions:
        rows = [[str(r.get("revision", "")), r.get("hash", ""), ((r.get("template") or {}).get("spec") or {}).get("image", "")]
                for r in revisions]
        lines += ["Revisions:", *console.format_table(["REVISION", "HASH", "IMAGE"], rows, indent="  ")]
    if decisions:
        rows = [
            [console.age(d.get("time")), str(d.get("current", "")), str(d.get("desired", "")),
             f"{d['usagePercent']:g}%" if d.get("usagePercent") is not None else "-", f"{d.get('targetPercent', 0):g}%",
             d.get("message", "")]
            for d in decisions
        ]
        lines += ["Autoscale decisions:", *console.format_table(["AGE", "CURRENT", "DESIRED", "USAGE", "TARGET", "WHY"], rows, indent="  ")]
    return lines


async def describe_object(client: Client, kind: Kind, name: str) -> None:
    obj = await client.get(kind.plural, name)
    for line in describe_lines(obj, await events_for(client, kind.name, name)):
        console.out(line)


def describe(
    kind: str = typer.Argument(..., help="container, node, set or cluster", autocompletion=complete_kinds),
    name: str = typer.Argument(..., help="Name of the object.", autocompletion=complete_names),
) -> None:
    """Show one object in full: spec, status, conditions, events and why it was placed where it is."""
    try:
        found = kind_for_plural(kind)
    except KeyError:
        fail(f"unknown kind {kind!r}; use container, node, set or cluster")
    with_client(lambda client: describe_object(client, found, name))
