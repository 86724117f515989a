"""The apiserver's in-memory usage view: aggregation of the kubelets' summaries and the short cache."""
from __future__ import annotations

from apiserver.usage import TtlCache, aggregate


def test_aggregate_takes_each_container_from_the_node_it_is_bound_to() -> None:
    summaries = {
        "n2": {"time": "T2", "usage": {"cpu.cores": 0.5}, "containers": {"web": {"time": "T2", "usage": {"cpu.cores": 0.1}}}},
        "n1": {"time": "T1", "usage": {"cpu.cores": 1.0}, "containers": {
            "db": {"time": "T1", "usage": {"memory.bytes": 5.0}},
            "web": {"time": "T1", "usage": {"cpu.cores": 9.9}},  # a stale copy: web is bound to n2
            "orphan": {"time": "T1", "usage": {}},
        }},
    }
    view = aggregate(summaries, {"n3": "cannot reach the kubelet of node n3: timeout"}, {"web": "n2", "db": "n1", "orphan": ""})
    assert view == {
        "nodes": [{"name": "n1", "time": "T1", "usage": {"cpu.cores": 1.0}}, {"name": "n2", "time": "T2", "usage": {"cpu.cores": 0.5}}],
        "containers": [{"name": "db", "node": "n1", "time": "T1", "usage": {"memory.bytes": 5.0}},
                       {"name": "web", "node": "n2", "time": "T2", "usage": {"cpu.cores": 0.1}}],
        "unreachable": {"n3": "cannot reach the kubelet of node n3: timeout"},
    }


def test_cache_answers_within_ttl_only() -> None:
    now = [100.0]
    cache = TtlCache(5.0, clock=lambda: now[0])
    assert cache.get("k") == (False, None)
    cache.put("k", {"a": 1})
    now[0] = 104.9
    assert cache.get("k") == (True, {"a": 1})
    now[0] = 105.0
    assert cache.get("k") == (False, None)
