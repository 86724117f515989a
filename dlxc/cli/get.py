"""`dlxc get containers|nodes|events|leases [NAME] [-o wide|yaml|json|name] [-l SELECTOR] [--for KIND/NAME]`."""
from __future__ import annotations

from typing import Any

import typer

from dlxc.cli import console
from dlxc.cli.common import fail, with_client
from dlxc.client import Client
from schemas import kind_for_plural
from schemas.quantity import format_bytes

__all__ = ["container_rows", "event_rows", "get", "lease_rows", "node_rows"]

Obj = dict[str, Any]


def _ready(node: Obj) -> str:
    cond = next((c for c in node.get("status", {}).get("conditions", []) if c.get("type") == "Ready"), None)
    state = "Ready" if cond and cond.get("status") == "True" else "NotReady"
    if node.get("spec", {}).get("unschedulable"):
        state += ",SchedulingDisabled"
    return state


def _gib(value: int | float | None) -> str:
    return format_bytes(int(value)) if value else "-"


def container_rows(items: list[Obj], *, wide: bool) -> tuple[list[str], list[list[str]]]:
    headers = ["NAME", "PHASE", "NODE", "IP", "AGE"]
    if wide:
        headers += ["IMAGE", "CPU", "MEMORY", "MESSAGE"]
    rows = []
    for obj in items:
        spec, status = obj.get("spec", {}), obj.get("status", {})
        row = [
            obj["metadata"]["name"],
            status.get("phase", "Pending"),
            spec.get("nodeName") or "<none>",
            status.get("ip") or "<none>",
            console.age(obj["metadata"].get("creationTimestamp")),
        ]
        if wide:
            cpu = spec.get("cpu")
            row += [spec.get("image", ""), f"{cpu:g}" if cpu else "-", spec.get("memory") or "-", status.get("message", "")]
        rows.append(row)
    return headers, rows


def node_rows(items: list[Obj], *, wide: bool) -> tuple[list[str], list[list[str]]]:
    headers = ["NAME", "STATUS", "CONTAINERS", "CPU", "MEMORY", "AGE"]
    if wide:
        headers += ["ADDRESSES", "VERSION", "LXCPATH"]
    rows = []
    for obj in items:
        status = obj.get("status", {})
        alloc = status.get("allocatable", {})
        row = [
            obj["metadata"]["name"],
            _ready(obj),
            f"{status.get('containerCount', 0)}/{alloc.get('containers', 0)}",
            f"{alloc.get('cpu', 0):g}",
            _gib(alloc.get("memory")),
            console.age(obj["metadata"].get("creationTimestamp")),
        ]
        if wide:
            row += [",".join(status.get("addresses", [])), status.get("version", ""), status.get("lxcPath", "")]
        rows.append(row)
    return headers, rows


def event_rows(items: list[Obj], *, wide: bool) -> tuple[list[str], list[list[str]]]:
    """kubectl-style: newest last, with how often it was seen."""
    headers = ["LAST SEEN", "TYPE", "REASON", "OBJECT", "COUNT", "MESSAGE"]
    if wide:
        headers += ["SOURCE", "FIRST SEEN"]
    rows = []
    ordered = sorted(items, key=lambda o: o.get("status", {}).get("lastTimestamp") or "")
    for obj in ordered:
        spec, status = obj.get("spec", {}), obj.get("status", {})
        involved = spec.get("involvedObject", {})
        row = [
            console.age(status.get("lastTimestamp")),
            spec.get("type", ""),
            spec.get("reason", ""),
            f"{str(involved.get('kind', '')).lower()}/{involved.get('name', '')}",
            str(status.get("count", 1)),
            spec.get("message", ""),
        ]
        if wide:
            source = spec.get("source", {})
            row += [",".join(v for v in (source.get("component"), source.get("host")) if v) or "-", console.age(status.get("firstTimestamp"))]
        rows.append(row)
    return headers, rows


def lease_rows(items: list[Obj], *, wide: bool) -> tuple[list[str], list[list[str]]]:
    headers = ["NAME", "HOLDER", "RENEWED", "DURATION"]
    rows = [
        [
            obj["metadata"]["name"],
            obj.get("spec", {}).get("holderIdentity") or "<none>",
            console.age(obj.get("spec", {}).get("renewTime")),
            f"{obj.get('spec', {}).get('leaseDurationSeconds', 0)}s",
        ]
        for obj in items
    ]
    return headers, rows


ROWS = {"Container": container_rows, "Node": node_rows, "Event": event_rows, "Lease": lease_rows}


def _for_selector(value: str) -> str:
    """`container/web` as a field selector on the events about it."""
    kind_word, _, name = value.partition("/")
    try:
        kind = kind_for_plural(kind_word)
    except KeyError:
        fail(f"--for {value!r}: unknown kind {kind_word!r}; use e.g. container/NAME or node/NAME", code=2)
    if not name:
        fail(f"--for {value!r}: give KIND/NAME, e.g. container/web", code=2)
    return f"involvedObject.kind={kind.name},involvedObject.name={name}"


def get(
    kind: str = typer.Argument(..., help="containers, nodes, events or leases"),
    name: str = typer.Argument(None, help="One object by name."),
    output: str = typer.Option("table", "--output", "-o", help="table, wide, yaml, json or name."),
    selector: str = typer.Option(None, "--selector", "-l", help="Label selector, e.g. app=web,tier!=db."),
    for_object: str = typer.Option(None, "--for", help="Only events about KIND/NAME, e.g. container/web."),
) -> None:
    """List objects, or show one."""
    try:
        found = kind_for_plural(kind)
    except KeyError:
        fail(f"unknown kind {kind!r}; use containers, nodes, events or leases")
    if for_object and found.name != "Event":
        fail("--for only applies to events", code=2)
    field_selector = _for_selector(for_object) if for_object else None
    if output not in ("table", "wide", "yaml", "json", "name"):
        fail(f"unknown output format {output!r}; use table, wide, yaml, json or name")

    async def go(client: Client) -> None:
        if name:
            obj = await client.get(found.plural, name)
            items = [obj]
        else:
            items, _ = await client.list(found.plural, label_selector=selector, field_selector=field_selector)
        if output in ("json", "yaml"):
            data: Any = obj if name else {"apiVersion": "dlxc.io/v1", "kind": f"{found.name}List", "items": items}
            (console.print_json if output == "json" else console.print_yaml)(data)
            return
        if output == "name":
            for item in items:
                console.out(f"{found.name.lower()}/{item['metadata']['name']}")
            return
        if not items:
            console.error(f"no {found.plural} found")
            return
        headers, table = ROWS[found.name](items, wide=output == "wide")
        console.print_table(headers, table)

    with_client(go)
