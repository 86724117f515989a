from __future__ import annotations

from datetime import datetime, timezone

import pytest

from apiserver.storage import WatchEvent
from apiserver.ui import views

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)


def ct(name: str, *, phase: str | None = None, node: str = "", ip: str = "", cpu: float | None = None, memory: str | None = None,
       used_cpu: float | None = None, used_mem: int | None = None, created: str = "2026-01-01T11:00:00Z", **meta: object) -> dict:
    spec: dict = {"image": "busybox"}
    if node:
        spec["nodeName"] = node
    if cpu is not None:
        spec["cpu"] = cpu
    if memory is not None:
        spec["memory"] = memory
    metrics = {k: v for k, v in (("cpu.cores", used_cpu), ("memory.bytes", used_mem)) if v is not None}
    status = {"phase": phase, "ip": ip} if phase else {}
    # Usage is not in the object: the row takes the kubelet's sample beside it (the "usage" key here).
    return {"metadata": {"name": name, "creationTimestamp": created, **meta}, "spec": spec, "status": status, "usage": metrics}


@pytest.mark.parametrize(
    ("obj", "phase", "cpu", "memory"),
    [
        (ct("a"), "Pending", "–", "–"),
        (ct("a", phase="Running", cpu=2, memory="512Mi", used_cpu=0.25, used_mem=64 * 2**20), "Running", "0.25 / 2", "64.0Mi / 512Mi"),
        (ct("a", phase="Running", deletionTimestamp="2026-01-01T11:59:00Z"), "Terminating", "–", "–"),
        (ct("a", phase="Stopped", memory="bogus"), "Stopped", "–", "–"),
    ],
    ids=["new", "running-with-metrics", "deleting", "unparseable-memory"],
)
def test_container_row(obj: dict, phase: str, cpu: str, memory: str) -> None:
    row = views.container_row(obj, obj.get("usage"))
    assert (row.phase, row.cpu_text, row.memory_text) == (phase, cpu, memory)


@pytest.mark.parametrize(
    ("query", "shown"),
    [
        ({}, ["db", "web-1", "web-2"]),
        ({"q": "WEB"}, ["web-1", "web-2"]),
        ({"q": "10.0.0.3"}, ["db"]),
        ({"phase": "Running"}, ["db", "web-1"]),
        ({"phase": "Nonsense"}, ["db", "web-1", "web-2"]),
        ({"node": "n2"}, ["web-2"]),
        ({"sort": "cpu", "desc": "1"}, ["db", "web-1", "web-2"]),
        ({"sort": "ip"}, ["db", "web-1", "web-2"]),  # 10.0.0.3 before 10.0.0.20: numbers, not text
        ({"sort": "age"}, ["web-2", "web-1", "db"]),
        ({"sort": "name", "desc": "1"}, ["web-2", "web-1", "db"]),
        ({"sort": "rm -rf"}, ["db", "web-1", "web-2"]),
    ],
    ids=["all", "text", "ip", "phase", "unknown-phase-ignored", "node", "cpu-desc", "ip-numeric", "age-youngest-first",
         "name-desc", "unknown-sort-is-name"],
)
def test_filter_and_sort(query: dict, shown: list[str]) -> None:
    rows = [views.container_row(o, o["usage"]) for o in (
        ct("web-1", phase="Running", node="n1", ip="10.0.0.20", used_cpu=0.5, created="2026-01-01T10:00:00Z"),
        ct("web-2", phase="Pending", node="n2", created="2026-01-01T11:00:00Z"),
        ct("db", phase="Running", node="n1", ip="10.0.0.3", used_cpu=1.5, created="2026-01-01T09:00:00Z"),
    )]
    flt = views.Filter.from_query(query)
    assert [r.name for r in views.sort_rows([r for r in rows if flt.matches(r)], flt.sort, desc=flt.desc)] == shown


def test_filter_query_round_trips_for_bookmarks() -> None:
    flt = views.Filter.from_query({"q": "web", "phase": "Running", "sort": "cpu", "desc": "1"})
    assert flt.query() == "q=web&phase=Running&sort=cpu&desc=1"
    assert flt.query(sort="name", desc=False) == "q=web&phase=Running&sort=name"
    assert views.Filter.from_query(dict(p.split("=") for p in flt.query().split("&"))) == flt


@pytest.mark.parametrize(("stamp", "text"), [("2026-01-01T11:59:15Z", "45s"), ("2026-01-01T11:48:00Z", "12m"),
                                             ("2026-01-01T09:00:00Z", "3h"), ("2025-12-27T12:00:00Z", "5d"), ("", ""), ("x", "")])
def test_age(stamp: str, text: str) -> None:
    assert views.age(stamp, now=NOW) == text


def test_node_views_fill_bars_from_the_specs_of_the_containers_on_each_node() -> None:
    node = {"metadata": {"name": "n1"}, "spec": {"unschedulable": True},
            "status": {"allocatable": {"cpu": 4, "memory": 8 * 2**30, "disk": 100 * 2**30, "containers": 10},
                       "conditions": [{"type": "Ready", "status": "True"}], "lastHeartbeatTime": "2026-01-01T11:59:58Z"}}
    bare = {"metadata": {"name": "n0"}}
    cts = [ct("a", node="n1", cpu=3, memory="4Gi"), ct("b", node="n1", cpu=0.6, memory="3Gi"), ct("c")]
    n0, n1 = views.node_views([node, bare], cts, now=NOW)
    assert (n0.name, n0.ready, [b.percent for b in n0.bars]) == ("n0", "Unknown", [0, 0, 0, 0])
    assert (n1.ready, n1.unschedulable, n1.containers, n1.heartbeat) == ("True", True, ["a", "b"], "2s")
    assert [(b.label, b.percent, b.level) for b in n1.bars] == [
        ("CPU", 90, "high"), ("Memory", 88, "mid"), ("Disk", 0, "low"), ("Containers", 20, "low")]
    assert n1.bars[0].text == "3.6 / 4 cores"


def test_leaders_skip_node_heartbeats_and_tell_fresh_from_expired() -> None:
    def lease(name: str, holder: str | None, renewed: str) -> dict:
        return {"metadata": {"name": name}, "spec": {"holderIdentity": holder, "renewTime": renewed, "leaseDurationSeconds": 15}}

    got = views.leaders([lease("n1", "n1", "2026-01-01T11:59:59Z"), lease("scheduler", "host-a", "2026-01-01T11:59:50Z"),
                         lease("controller", "host-b", "2026-01-01T11:58:00Z"), lease("orphan", None, "")], {"n1"}, now=NOW)
    assert [(x.lease, x.holder, x.fresh) for x in got] == [("controller", "host-b", False), ("orphan", "", False), ("scheduler", "host-a", True)]


def test_phase_counts_keep_every_phase_in_order() -> None:
    counts = views.phase_counts([ct("a", phase="Running"), ct("b", phase="Running"), ct("c")])
    assert counts[:4] == [("Pending", 1), ("Scheduled", 0), ("Creating", 0), ("Running", 2)]
    assert [p for p, _ in counts] == list(views.PHASES)


def test_warning_events_newest_first() -> None:
    def event(name: str, kind: str, last: str) -> dict:
        return {"metadata": {"name": name}, "spec": {"type": kind}, "status": {"lastTimestamp": last}}

    got = views.warning_events([event("old", "Warning", "2026-01-01T10:00:00Z"), event("info", "Normal", "2026-01-01T11:00:00Z"),
                                event("new", "Warning", "2026-01-01T11:30:00Z")])
    assert [e["metadata"]["name"] for e in got] == ["new", "old"]


def test_placement_view_lines_up_every_candidate_on_the_same_plugins() -> None:
    got = views.placement_view({
        "node": "n1", "total": 80, "scores": {"spread": 100, "fit": 60}, "weights": {"fit": 1, "spread": 1},
        "runnersUp": [{"node": "n2", "total": 50, "scores": {"fit": 40, "affinity": 70}}],
        "nodes": 3, "feasible": 2, "rejected": {"NodeUnschedulable": 1},
    })
    assert got is not None
    assert got["plugins"] == ["affinity", "fit", "spread"]
    assert [(c.node, c.total, c.scores) for c in got["candidates"]] == [
        ("n1", 80.0, [("affinity", 0.0), ("fit", 60.0), ("spread", 100.0)]),
        ("n2", 50.0, [("affinity", 70.0), ("fit", 40.0), ("spread", 0.0)]),
    ]
    assert got["rejected"] == [("NodeUnschedulable", 1)]
    assert views.placement_view(None) is None


def put(name: str, *, phase: str | None = "Running", prev_phase: str | None = None, new: bool = False) -> WatchEvent:
    prev = None if new else ct(name, phase=prev_phase or phase)
    return WatchEvent("PUT", ct(name, phase=phase), prev, 0)


def gone(name: str, phase: str = "Running") -> WatchEvent:
    return WatchEvent("DELETE", ct(name, phase=phase), ct(name, phase=phase), 0)


@pytest.mark.parametrize(
    ("events", "query", "expected"),
    [
        ([put("a", new=True)], {}, {"a": (False, "Running")}),
        ([put("a", prev_phase="Pending")], {}, {"a": (True, "Running")}),
        ([gone("a")], {}, {"a": (True, None)}),
        ([put("a", phase="Stopped", prev_phase="Running")], {"phase": "Running"}, {"a": (True, None)}),
        ([put("a", phase="Running", prev_phase="Stopped")], {"phase": "Running"}, {"a": (False, "Running")}),
        ([put("a", phase="Stopped", prev_phase="Pending")], {"phase": "Running"}, {"a": (False, None)}),
        ([put("a", new=True, phase="Pending"), put("a", prev_phase="Pending")], {}, {"a": (False, "Running")}),
        ([put("a", prev_phase="Pending"), gone("a")], {}, {"a": (True, None)}),
        ([put("a", new=True), gone("a")], {}, {"a": (False, None)}),
        ([put("b", new=True), put("a", prev_phase="Pending")], {}, {"b": (False, "Running"), "a": (True, "Running")}),
    ],
    ids=["added", "changed", "deleted", "leaves-the-filter", "enters-the-filter", "never-shown", "added-then-changed",
         "changed-then-deleted", "added-then-deleted", "two-rows"],
)
def test_table_changes_keep_only_the_ends_of_a_batch(events: list[WatchEvent], query: dict, expected: dict) -> None:
    first, last = views.table_changes(events, views.Filter.from_query(query))
    assert {name: (first[name], row.phase if row else None) for name, row in last.items()} == expected


def test_table_changes_draw_rows_with_the_served_usage() -> None:
    """Usage is not in the objects: a row redrawn for a watch event carries the kubelet's latest sample."""
    _, last = views.table_changes([put("a", prev_phase="Pending"), put("b", prev_phase="Pending")], views.Filter(),
                                  usage={"a": {"cpu.cores": 0.5, "memory.bytes": 2.0**20}})
    assert (last["a"].cpu_text, last["a"].memory_text) == ("0.50", "1.0Mi")
    assert (last["b"].cpu_text, last["b"].memory_text) == ("–", "–")


def _placed(rows: list[views.ContainerRow], key: str, *, desc: bool) -> list[str]:
    """Rows put one by one where the page's script (app.js placeRows) puts a live row: a binary search
    over data-k (numbers for numeric columns) in the table's direction, ties by name."""
    numeric = key in views.NUMERIC_KEYS
    direction = views.sort_direction(key, desc=desc)

    def compare(a: views.ContainerRow, b: views.ContainerRow) -> int:
        ka, kb = views.sort_key(a, key), views.sort_key(b, key)
        va, vb = (float(ka), float(kb)) if numeric else (ka, kb)
        by_key = (va > vb) - (va < vb)
        return by_key * direction if by_key else (a.name > b.name) - (a.name < b.name)

    shown: list[views.ContainerRow] = []
    for row in rows:
        lo, hi = 0, len(shown)
        while lo < hi:
            mid = (lo + hi) // 2
            if compare(shown[mid], row) <= 0:
                lo = mid + 1
            else:
                hi = mid
        shown.insert(lo, row)
    return [r.name for r in shown]


LIVE_ROWS = [
    ct("m", phase="Running", node="n2", ip="10.0.0.20", used_cpu=0.5, used_mem=300, created="2026-01-01T10:00:00Z"),
    ct("b", phase="Pending", created="2026-01-01T11:30:00Z"),
    ct("z", phase="Running", node="n1", ip="10.0.0.3", used_cpu=0.5, used_mem=9000, created="2026-01-01T09:00:00Z"),
    ct("a", phase="Failed", node="n1", ip="9.1.1.1", used_cpu=2.0, used_mem=100, created="2026-01-01T10:00:00Z"),
    ct("k", phase="Running", node="n10", ip="10.0.0.100", used_cpu=0.05, used_mem=300, created="2026-01-01T11:59:00Z"),
]


@pytest.mark.parametrize("key", views.SORT_KEYS)
@pytest.mark.parametrize("desc", [False, True], ids=["asc", "desc"])
def test_a_live_row_lands_where_the_server_sort_puts_it(key: str, desc: bool) -> None:
    rows = [views.container_row(o, o["usage"]) for o in LIVE_ROWS]
    expected = [r.name for r in views.sort_rows(rows, key, desc=desc)]
    assert _placed(rows, key, desc=desc) == expected
    assert _placed(rows[::-1], key, desc=desc) == expected


@pytest.mark.parametrize(
    ("ip", "key"),
    [("10.0.0.3", str(10 * 2**24 + 3)), ("", str(256 * 2**24)), ("fe80::1", str(256 * 2**24))],
    ids=["address", "none", "not-ipv4"],
)
def test_the_ip_sort_key_is_a_number_with_non_addresses_last(ip: str, key: str) -> None:
    assert views.sort_key(views.container_row(ct("x", phase="Running", ip=ip)), "ip") == key
