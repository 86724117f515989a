"""What the pages show, computed from API objects: pure functions, no I/O, so tables of cases test them."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlencode

from schemas.base import Obj
from schemas.quantity import parse_bytes

__all__ = [
    "PHASES",
    "Bar",
    "ContainerRow",
    "Filter",
    "Leader",
    "NodeView",
    "age",
    "container_row",
    "human_bytes",
    "leaders",
    "node_views",
    "phase_counts",
    "placement_view",
    "sort_direction",
    "sort_key",
    "sort_rows",
    "table_changes",
    "warning_events",
]

PHASES = ("Pending", "Scheduled", "Creating", "Running", "Stopped", "Failed", "Terminating")
SORT_KEYS = ("name", "phase", "node", "ip", "image", "cpu", "memory", "age")


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def age(stamp: Any, *, now: datetime) -> str:
    """Like kubectl: 45s, 12m, 3h, 5d; '' when unknown."""
    when = _time(stamp)
    if when is None:
        return ""
    seconds = max(0, int((now - when).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def human_bytes(size: float | None) -> str:
    if size is None:
        return ""
    value = float(size)
    for unit in ("B", "Ki", "Mi", "Gi", "Ti"):
        if value < 1024 or unit == "Ti":
            return f"{value:.0f}{unit}" if unit == "B" or value >= 100 else f"{value:.1f}{unit}"
        value /= 1024
    return ""


def _bytes(value: Any) -> int | None:
    try:
        return parse_bytes(value) if value not in (None, "") else None
    except ValueError:
        return None


@dataclass(frozen=True)
class ContainerRow:
    name: str
    phase: str
    state: str  # the desired power state, spec.state
    node: str
    ip: str
    image: str
    cpu_used: float | None  # cores, "cpu.cores" of the kubelet's latest sample
    cpu_limit: float | None
    memory_used: int | None
    memory_limit: int | None
    created: str
    deleting: bool

    @property
    def cpu_text(self) -> str:
        used = f"{self.cpu_used:.2f}" if self.cpu_used is not None else "–"
        return f"{used} / {self.cpu_limit:g}" if self.cpu_limit else used

    @property
    def memory_text(self) -> str:
        used = human_bytes(self.memory_used) if self.memory_used is not None else "–"
        return f"{used} / {human_bytes(self.memory_limit)}" if self.memory_limit else used


def container_row(obj: Obj, usage: dict[str, float] | None = None) -> ContainerRow:
    """A table row; `usage` is the container's latest sample, served by its kubelet (never in the object)."""
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    metrics = usage or {}
    meta = obj.get("metadata") or {}
    cpu = metrics.get("cpu.cores")
    memory = metrics.get("memory.bytes")
    return ContainerRow(
        name=meta.get("name", ""),
        phase="Terminating" if meta.get("deletionTimestamp") else status.get("phase") or "Pending",
        state=spec.get("state") or "Running",
        node=spec.get("nodeName") or status.get("nodeName") or "",
        ip=status.get("ip") or "",
        image=spec.get("image") or "",
        cpu_used=float(cpu) if isinstance(cpu, (int, float)) else None,
        cpu_limit=spec.get("cpu"),
        memory_used=int(memory) if isinstance(memory, (int, float)) else None,
        memory_limit=_bytes(spec.get("memory")),
        created=meta.get("creationTimestamp") or "",
        deleting=bool(meta.get("deletionTimestamp")),
    )


@dataclass(frozen=True)
class Filter:
    """The containers table's query: what the URL says, so a filtered, sorted table can be bookmarked."""

    q: str = ""
    phase: str = ""
    node: str = ""
    sort: str = "name"
    desc: bool = False

    @classmethod
    def from_query(cls, query: Any) -> Filter:
        sort = query.get("sort") or "name"
        return cls(
            q=(query.get("q") or "").strip()[:200],
            phase=query.get("phase") if query.get("phase") in PHASES else "",
            node=(query.get("node") or "").strip()[:253],
            sort=sort if sort in SORT_KEYS else "name",
            desc=query.get("desc") in ("1", "true"),
        )

    def matches(self, row: ContainerRow) -> bool:
        if self.phase and row.phase != self.phase:
            return False
        if self.node and row.node != self.node:
            return False
        if self.q:
            needle = self.q.lower()
            return any(needle in text.lower() for text in (row.name, row.image, row.node, row.ip))
        return True

    def query(self, **changes: Any) -> str:
        """This filter as a query string, with some fields changed (for sort links)."""
        values = {"q": self.q, "phase": self.phase, "node": self.node, "sort": self.sort, "desc": "1" if self.desc else ""}
        values.update({k: ("1" if v is True else "" if v is False else v) for k, v in changes.items()})
        return urlencode({k: v for k, v in values.items() if v})


def table_changes(
    events: list[Any], flt: Filter, *, usage: dict[str, dict[str, float]] | None = None,
) -> tuple[dict[str, bool], dict[str, ContainerRow | None]]:
    """What a batch of watch events does to a filtered table: per container, whether its row was
    shown before the batch and the row to show after it (None: not shown). Only the ends of the
    batch matter, so a row changed twice is drawn once and one added then deleted not at all."""
    first: dict[str, bool] = {}
    last: dict[str, ContainerRow | None] = {}
    for event in events:
        name = event.obj["metadata"]["name"]
        if name not in first:
            before = container_row(event.prev) if event.prev is not None else None
            first[name] = before is not None and flt.matches(before)
        after = container_row(event.obj, (usage or {}).get(name)) if event.kind == "PUT" else None
        last[name] = after if after is not None and flt.matches(after) else None
    return first, last


def _sort_value(row: ContainerRow, key: str) -> Any:
    if key == "cpu":
        return row.cpu_used if row.cpu_used is not None else -1.0
    if key == "memory":
        return row.memory_used if row.memory_used is not None else -1
    if key == "age":
        return row.created  # ISO stamps sort as times; newest last
    if key == "ip":
        return tuple(int(p) for p in row.ip.split(".")) if row.ip.count(".") == 3 and row.ip.replace(".", "").isdigit() else (999,)
    return getattr(row, key)


def sort_rows(rows: list[ContainerRow], key: str, *, desc: bool = False) -> list[ContainerRow]:
    """Sorted by the column, then by name, so equal values keep a stable order. Age sorts youngest first."""
    by_name = sorted(rows, key=lambda r: r.name)
    if key == "age":
        desc = not desc
    return sorted(by_name, key=lambda r: _sort_value(r, key), reverse=desc) if key != "name" else (by_name[::-1] if desc else by_name)


NUMERIC_KEYS = ("cpu", "memory", "ip")


def sort_key(row: ContainerRow, key: str) -> str:
    """The row's value for `key` as the page's script compares it when it places a live row (a
    number for numeric columns, else a string; ties go by name), so a row sent later lands where
    sort_rows would have put it."""
    value = _sort_value(row, key)
    if key == "ip":
        parts = list(value) if len(value) == 4 else [256, 0, 0, 0]  # not an address: after every address
        return str(((parts[0] * 256 + parts[1]) * 256 + parts[2]) * 256 + parts[3])
    if key in NUMERIC_KEYS:
        return repr(float(value))
    return str(value)


def sort_direction(key: str, *, desc: bool) -> int:
    """1 for ascending values, -1 for descending (age sorts youngest first, so its creation stamps descend)."""
    return -1 if desc != (key == "age") else 1


def phase_counts(containers: list[Obj]) -> list[tuple[str, int]]:
    """Every phase in lifecycle order, with how many containers are in it (zeros kept, for a steady layout)."""
    counts = Counter(container_row(c).phase for c in containers)
    return [(phase, counts.get(phase, 0)) for phase in PHASES]


@dataclass(frozen=True)
class Bar:
    label: str
    used: float
    total: float
    text: str

    @property
    def percent(self) -> int:
        return 0 if self.total <= 0 else max(0, min(100, round(100 * self.used / self.total)))

    @property
    def level(self) -> str:
        return "high" if self.percent >= 90 else "mid" if self.percent >= 70 else "low"


@dataclass(frozen=True)
class NodeView:
    name: str
    ready: str  # "True" | "False" | "Unknown"
    unschedulable: bool
    bars: list[Bar]
    conditions: list[Obj]
    containers: list[str] = field(default_factory=list)
    version: str = ""
    heartbeat: str = ""


def _ready(node: Obj) -> str:
    for cond in (node.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return str(cond.get("status") or "Unknown")
    return "Unknown"


def node_views(nodes: list[Obj], containers: list[Obj], *, now: datetime) -> list[NodeView]:
    """Each node with its requested CPU, memory and disk (the sum of its containers' specs, which is
    what the scheduler fills) and its container count, against what it can allocate."""
    on: dict[str, list[Obj]] = {}
    for c in containers:
        node = (c.get("spec") or {}).get("nodeName")
        if node:
            on.setdefault(node, []).append(c)
    views = []
    for node in sorted(nodes, key=lambda n: n["metadata"]["name"]):
        name = node["metadata"]["name"]
        status = node.get("status") or {}
        alloc = status.get("allocatable") or status.get("capacity") or {}
        mine = on.get(name, [])
        cpu = sum(float((c.get("spec") or {}).get("cpu") or 0) for c in mine)
        memory = sum(_bytes((c.get("spec") or {}).get("memory")) or 0 for c in mine)
        disk = sum(_bytes((c.get("spec") or {}).get("disk")) or 0 for c in mine)
        count = len(mine)
        bars = [
            Bar("CPU", cpu, float(alloc.get("cpu") or 0), f"{cpu:g} / {float(alloc.get('cpu') or 0):g} cores"),
            Bar("Memory", memory, float(alloc.get("memory") or 0), f"{human_bytes(memory)} / {human_bytes(alloc.get('memory') or 0)}"),
            Bar("Disk", disk, float(alloc.get("disk") or 0), f"{human_bytes(disk)} / {human_bytes(alloc.get('disk') or 0)}"),
            Bar("Containers", count, float(alloc.get("containers") or 0), f"{count} / {int(alloc.get('containers') or 0)}"),
        ]
        views.append(NodeView(
            name=name, ready=_ready(node), unschedulable=bool((node.get("spec") or {}).get("unschedulable")), bars=bars,
            conditions=list(status.get("conditions") or []), containers=sorted(c["metadata"]["name"] for c in mine),
            version=status.get("version") or "", heartbeat=age(status.get("lastHeartbeatTime"), now=now),
        ))
    return views


def warning_events(events: list[Obj], *, limit: int = 20) -> list[Obj]:
    """The newest Warning events first."""
    warnings = [e for e in events if (e.get("spec") or {}).get("type") == "Warning"]
    return sorted(warnings, key=lambda e: (e.get("status") or {}).get("lastTimestamp") or "", reverse=True)[:limit]


def events_for(events: list[Obj], kind: str, name: str, *, limit: int = 50) -> list[Obj]:
    mine = [e for e in events if ((e.get("spec") or {}).get("involvedObject") or {}) .get("name") == name
            and e["spec"]["involvedObject"].get("kind") == kind]
    return sorted(mine, key=lambda e: (e.get("status") or {}).get("lastTimestamp") or "", reverse=True)[:limit]


@dataclass(frozen=True)
class Leader:
    lease: str
    holder: str
    renewed: str
    fresh: bool
    transitions: int


def leaders(leases: list[Obj], node_names: set[str], *, now: datetime) -> list[Leader]:
    """The control plane's leader leases (the ones not named after a node, which are heartbeats),
    with whether the holder renewed within the lease's duration."""
    out = []
    for lease in sorted(leases, key=lambda x: x["metadata"]["name"]):
        name = lease["metadata"]["name"]
        if name in node_names:
            continue
        spec = lease.get("spec") or {}
        renewed = _time(spec.get("renewTime"))
        duration = float(spec.get("leaseDurationSeconds") or 15)
        fresh = bool(spec.get("holderIdentity")) and renewed is not None and (now - renewed).total_seconds() <= duration
        out.append(Leader(name, spec.get("holderIdentity") or "", age(spec.get("renewTime"), now=now), fresh,
                          int(spec.get("leaseTransitions") or 0)))
    return out


@dataclass(frozen=True)
class Candidate:
    node: str
    total: float
    scores: list[tuple[str, float]]


def placement_view(placement: Obj | None) -> dict[str, Any] | None:
    """status.placement, with the plugins in one order for the chosen node and every runner-up."""
    if not placement:
        return None
    weights = placement.get("weights") or {}
    chosen = placement.get("scores") or {}
    plugins = sorted(set(weights) | set(chosen) | {p for r in placement.get("runnersUp") or [] for p in r.get("scores") or {}})
    candidates = []
    if placement.get("node"):
        candidates.append(Candidate(placement["node"], float(placement.get("total") or 0), [(p, float(chosen.get(p, 0))) for p in plugins]))
    for runner in placement.get("runnersUp") or []:
        scores = runner.get("scores") or {}
        candidates.append(Candidate(runner.get("node", ""), float(runner.get("total") or 0), [(p, float(scores.get(p, 0))) for p in plugins]))
    return {
        "node": placement.get("node"), "plugins": plugins, "weights": weights, "candidates": candidates,
        "nodes": placement.get("nodes", 0), "feasible": placement.get("feasible", 0),
        "rejected": sorted((placement.get("rejected") or {}).items()), "message": placement.get("message") or "",
        "time": placement.get("time") or "",
    }


def now_utc() -> datetime:
    return datetime.now(timezone.utc)
