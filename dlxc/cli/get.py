"""`dlxc get containers|nodes|sets|events|leases [NAME] [-w] [-o wide|yaml|json|name] [-l SELECTOR] [--for KIND/NAME]`."""
from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import typer

from dlxc.cli import console
from dlxc.cli.common import fail, with_client
from dlxc.cli.completion import GET_OUTPUTS, complete_get_output, complete_kinds, complete_names, complete_object_refs
from dlxc.client.events import one_line
from schemas import Kind, kind_for_plural

if TYPE_CHECKING:
    from dlxc.client.api import Client
    from schemas.base import Obj

__all__ = [
    "cluster_rows", "container_rows", "event_rows", "set_rows", "field_value", "get", "labels_of", "lease_rows", "node_ready", "node_rows", "rows_for",
    "show", "sort_items", "watch",
]


def node_ready(node: Obj) -> str:
    cond = next((c for c in node.get("status", {}).get("conditions", []) if c.get("type") == "Ready"), None)
    state = "Ready" if cond and cond.get("status") == "True" else "NotReady"
    if node.get("spec", {}).get("unschedulable"):
        state += ",SchedulingDisabled"
    return state


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
            node_ready(obj),
            f"{status.get('containerCount', 0)}/{alloc.get('containers', 0)}",
            f"{alloc.get('cpu', 0):g}",
            console.human_bytes(alloc.get("memory")),
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
            one_line(spec.get("message", "")),
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


def set_rows(items: list[Obj], *, wide: bool) -> tuple[list[str], list[list[str]]]:
    """READY is Running/wanted, as kubectl shows a StatefulSet; UP-TO-DATE counts members on the current template."""
    headers = ["NAME", "READY", "UP-TO-DATE", "AGE"]
    if wide:
        headers += ["IMAGE", "REVISION", "AUTOSCALE", "MESSAGE"]
    rows = []
    for obj in items:
        spec, status = obj.get("spec", {}), obj.get("status", {})
        row = [
            obj["metadata"]["name"],
            f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 1)}",
            str(status.get("updatedReplicas", 0)),
            console.age(obj["metadata"].get("creationTimestamp")),
        ]
        if wide:
            auto = spec.get("autoscale")
            progressing = next((c for c in status.get("conditions", []) if c.get("type") == "Progressing"), {})
            row += [
                ((spec.get("template") or {}).get("spec") or {}).get("image", ""),
                str(status.get("currentRevision") or "-"),
                f"{auto.get('min', 1)}..{auto['max']} @{auto['targetCPUPercent']:g}%" if auto else "-",
                progressing.get("message", ""),
            ]
        rows.append(row)
    return headers, rows


def cluster_rows(items: list[Obj], *, wide: bool) -> tuple[list[str], list[list[str]]]:
    from dlxc.cli.cluster import cluster_rows as rows

    return rows(items)


ROWS = {
    "Container": container_rows, "Node": node_rows, "Event": event_rows, "Lease": lease_rows, "ContainerSet": set_rows,
    "ContainerCluster": cluster_rows,
}


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


def labels_of(obj: Obj) -> dict[str, str]:
    """The labels in effect: for a node, its kubelet's (metadata) overlaid by the user's (spec.labels), as the scheduler reads them."""
    labels = dict((obj.get("metadata") or {}).get("labels") or {})
    if obj.get("kind") == "Node":
        labels.update((obj.get("spec") or {}).get("labels") or {})
    return labels


def rows_for(
    kind: Kind, items: list[Obj], *, wide: bool, label_columns: list[str] | None = None, show_labels: bool = False
) -> tuple[list[str], list[list[str]]]:
    """The table for a kind; `-L key` adds a column per label key, `--show-labels` one LABELS column."""
    headers, rows = ROWS[kind.name](items, wide=wide)
    if kind.name == "Event":
        # events are sorted by time inside event_rows; label columns follow that order
        items = sorted(items, key=lambda o: o.get("status", {}).get("lastTimestamp") or "")
    for key in label_columns or []:
        headers = [*headers, key.rsplit("/", 1)[-1].upper()]
        rows = [[*row, labels_of(obj).get(key, "")] for row, obj in zip(rows, items)]
    if show_labels:
        headers = [*headers, "LABELS"]
        rows = [[*row, ",".join(f"{k}={v}" for k, v in sorted(labels_of(obj).items())) or "<none>"] for row, obj in zip(rows, items)]
    return headers, rows


def field_value(obj: Obj, path: str) -> Any:
    """The value at a JSONPath-ish field: `.metadata.name`, `{.status.phase}`, `spec.cpu`; None when absent."""
    value: Any = obj
    for part in path.strip().strip("{}").lstrip(".").split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def sort_items(items: list[Obj], path: str) -> list[Obj]:
    """Sorted by the field; objects without it first, numbers by value, everything else as text."""

    def key(obj: Obj) -> tuple[int, float, str]:
        value = field_value(obj, path)
        if value is None:
            return (0, 0.0, "")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return (1, float(value), "")
        return (2, 0.0, value if isinstance(value, str) else str(value))

    return sorted(items, key=key)


def _check_sort_path(path: str) -> str:
    cleaned = path.strip().strip("{}")
    parts = cleaned.lstrip(".").split(".")
    if not cleaned.startswith(".") or not all(p and p.replace("_", "").replace("-", "").isalnum() for p in parts):
        fail(f"--sort-by {path!r}: use a field path such as .metadata.name or .status.phase")
    return cleaned


async def show(
    client: Client,
    kind: Kind,
    *,
    name: str | None = None,
    output: str = "table",
    selector: str | None = None,
    field_selector: str | None = None,
    label_columns: list[str] | None = None,
    show_labels: bool = False,
    sort_by: str | None = None,
) -> None:
    """Print one object or a list in the chosen format; `dlxc shell`'s `list` runs this too."""
    if name:
        obj = await client.get(kind.plural, name)
        items = [obj]
    else:
        items, _ = await client.list(kind.plural, label_selector=selector, field_selector=field_selector)
        if sort_by:
            items = sort_items(items, sort_by)
    if output in ("json", "yaml"):
        data: Any = obj if name else {"apiVersion": "dlxc.io/v1", "kind": f"{kind.name}List", "items": items}
        (console.print_json if output == "json" else console.print_yaml)(data)
        return
    if output == "name":
        for item in items:
            console.out(f"{kind.name.lower()}/{item['metadata']['name']}")
        return
    if not items:
        # An empty list is an answer, not a failure: exit 0, the remark on stderr only.
        console.note(f"no {kind.plural} found")
        return
    headers, table = rows_for(kind, items, wide=output == "wide", label_columns=label_columns, show_labels=show_labels)
    if sort_by and kind.name == "Event":
        order = {id(o): i for i, o in enumerate(items)}
        by_time = sorted(items, key=lambda o: o.get("status", {}).get("lastTimestamp") or "")
        table = [row for _, row in sorted(zip(by_time, table), key=lambda pair: order[id(pair[0])])]
    console.print_table(headers, table)


async def watch(
    client: Client,
    kind: Kind,
    *,
    name: str | None,
    output: str,
    selector: str | None,
    timeout: float | None,
    label_columns: list[str] | None = None,
    show_labels: bool = False,
) -> None:
    """List, then follow changes: a live table on a terminal, one line per change when piped.

    An Informer does the following, so an expired resourceVersion (410) or a restarted
    apiserver means a quiet relist, not an error.
    """
    items, rv = await client.list(kind.plural, label_selector=selector)
    if name:
        items = [i for i in items if i["metadata"]["name"] == name]

    def line(obj: Obj) -> list[str]:
        return rows_for(kind, [obj], wide=output == "wide", label_columns=label_columns, show_labels=show_labels)[1][0]

    live: console.LiveTable | None = None

    async def changed(obj_name: str, old: Obj | None, new: Obj | None) -> None:
        if name and obj_name != name:
            return
        if live is not None:
            live.update(line(new) if new is not None else None, key=obj_name)
        elif output == "name":
            console.out(f"{kind.name.lower()}/{obj_name}")
        else:
            event = "DELETED" if new is None else ("ADDED" if old is None else "MODIFIED")
            (console.print_json if output == "json" else console.print_yaml)({"type": event, "object": new or old})

    from dlxc.client.informer import Informer

    informer = Informer(client, kind.plural, changed, label_selector=selector)
    # Seeded with the first list, so its own first relist reports only what changed since.
    informer.cache = {o["metadata"]["name"]: o for o in items}
    informer.resource_version = rv

    async def follow() -> None:
        try:
            await asyncio.wait_for(informer.run(), timeout)
        except asyncio.TimeoutError:
            pass  # --timeout ends a watch without an error, like `kubectl get -w --request-timeout`

    if output in ("table", "wide"):
        headers = rows_for(kind, [], wide=output == "wide", label_columns=label_columns, show_labels=show_labels)[0]
        with console.LiveTable(headers) as table:
            table.start([line(o) for o in items])
            live = table
            await follow()
        return
    for obj in items:
        await changed(obj["metadata"]["name"], None, obj)
    await follow()


def get(
    kind: str = typer.Argument(..., help="containers, nodes, sets, clusters, events or leases", autocompletion=complete_kinds),
    name: str = typer.Argument(None, help="One object by name.", autocompletion=complete_names),
    output: str = typer.Option("table", "--output", "-o", help="table, wide, yaml, json or name.", autocompletion=complete_get_output),
    selector: str = typer.Option(None, "--selector", "-l", help="Label selector, e.g. app=web,tier!=db."),
    watch_: bool = typer.Option(False, "--watch", "-w", help="After listing, follow changes (a live table on a terminal)."),
    timeout: str = typer.Option(None, "--timeout", help="With -w: stop watching after this long, e.g. 30s."),
    for_object: str = typer.Option(None, "--for", help="Only events about KIND/NAME, e.g. container/web.", autocompletion=complete_object_refs),
    label_columns: list[str] = typer.Option(None, "--label-columns", "-L", help="A column with this label's value; repeatable or comma-separated."),
    show_labels: bool = typer.Option(False, "--show-labels", help="A LABELS column with every label."),
    sort_by: str = typer.Option(None, "--sort-by", help="Sort a list by a field, e.g. .metadata.name or .status.phase."),
) -> None:
    """List objects, or show one; with -w keep the table current."""
    try:
        found = kind_for_plural(kind)
    except KeyError:
        fail(f"unknown kind {kind!r}; use containers, nodes, sets, clusters, events or leases")
    if for_object and found.name != "Event":
        fail("--for only applies to events", code=2)
    field_selector = _for_selector(for_object) if for_object else None
    if output not in GET_OUTPUTS:
        fail(f"unknown output format {output!r}; use table, wide, yaml, json or name")
    if selector:
        from schemas.labels import check_label_selector

        try:
            check_label_selector(selector)
        except ValueError as exc:
            fail(str(exc), code=2)
    columns = [key.strip() for value in label_columns or [] for key in value.split(",") if key.strip()]
    sort_path = _check_sort_path(sort_by) if sort_by else None
    seconds = None
    if timeout is not None:
        from dlxc.client.waiter import parse_duration  # here: the waiter loads the models

        try:
            seconds = parse_duration(timeout)
        except ValueError as exc:
            fail(str(exc))

    async def go(client: Client) -> None:
        if watch_:
            await watch(
                client, found, name=name, output=output, selector=selector, timeout=seconds,
                label_columns=columns, show_labels=show_labels,
            )
        else:
            await show(
                client, found, name=name, output=output, selector=selector, field_selector=field_selector,
                label_columns=columns, show_labels=show_labels, sort_by=sort_path,
            )

    with_client(go, streaming=watch_)
