"""`dlxc get containers|nodes [NAME] [-o wide|yaml|json|name] [-l SELECTOR]`."""
from __future__ import annotations

from typing import Any

import typer

from dlxc.cli import console
from dlxc.cli.common import fail, with_client
from dlxc.client import Client
from schemas import kind_for_plural
from schemas.quantity import format_bytes

__all__ = ["container_rows", "get", "node_rows"]

Obj = dict[str, Any]


def _ready(node: Obj) -> str:
    cond = next((c for c in node.get("status", {}).get("conditions", []) if c.get("type") == "Ready"), None)
    state = "Ready" if cond and cond.get("status") == "True" else "NotReady"
    if node.get("spec", {}).get("unschedulable"):
        state += ",SchedulingDisabled"
    return state


def _human(value: int | float | None) -> str:
    """Bytes for a table: exact binary units when they fit, else one decimal of the largest."""
    if not value:
        return "-"
    exact = format_bytes(int(value))
    if len(exact) <= 6:
        return exact
    for unit, size in (("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
        if value >= size:
            return f"{value / size:.1f}{unit}"
    return f"{int(value)}B"


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
            _human(alloc.get("memory")),
            console.age(obj["metadata"].get("creationTimestamp")),
        ]
        if wide:
            row += [",".join(status.get("addresses", [])), status.get("version", ""), status.get("lxcPath", "")]
        rows.append(row)
    return headers, rows


def get(
    kind: str = typer.Argument(..., help="containers or nodes"),
    name: str = typer.Argument(None, help="One object by name."),
    output: str = typer.Option("table", "--output", "-o", help="table, wide, yaml, json or name."),
    selector: str = typer.Option(None, "--selector", "-l", help="Label selector, e.g. app=web,tier!=db."),
) -> None:
    """List objects, or show one."""
    try:
        found = kind_for_plural(kind)
    except KeyError:
        fail(f"unknown kind {kind!r}; use containers or nodes")
    if output not in ("table", "wide", "yaml", "json", "name"):
        fail(f"unknown output format {output!r}; use table, wide, yaml, json or name")

    async def go(client: Client) -> None:
        if name:
            obj = await client.get(found.plural, name)
            items = [obj]
        else:
            items, _ = await client.list(found.plural, label_selector=selector)
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
        rows = container_rows if found.name == "Container" else node_rows
        headers, table = rows(items, wide=output == "wide")
        console.print_table(headers, table)

    with_client(go)
