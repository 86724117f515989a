"""Made-up usage of hollow nodes' containers (dlxc/sim/usage.py): seeded by name, within the limits, an hour of history."""
from __future__ import annotations

import pytest

from dlxc.sim import usage

MI = 2**20


@pytest.mark.parametrize(("spec", "cpu", "memory"), [
    ({"cpu": 0.25, "memory": "64Mi"}, 0.25, 64 * MI),
    ({"cpu": 4, "memory": 2048}, 4.0, 2048 * MI),  # a bare number is MiB, as in specs
    ({}, usage.DEFAULT_CPU, usage.DEFAULT_MEMORY),
    ({"cpu": "lots", "memory": "a bit"}, usage.DEFAULT_CPU, usage.DEFAULT_MEMORY),
], ids=["limits", "bare-mib", "no-limits", "unparsable"])
def test_samples_stay_within_the_limits(spec: dict, cpu: float, memory: int) -> None:
    p = usage.profile("web-1", spec)
    assert (p.cpu_limit, p.memory_limit) == (cpu, memory)
    for slot in range(0, 2000, 7):
        s = usage.sample(p, slot, interval=30.0)
        assert 0 < s["cpu.cores"] <= cpu and 0 < s["memory.bytes"] <= memory
        assert s["memory.limit_bytes"] == memory and s["processes"] >= 3


def test_the_same_name_and_time_give_the_same_numbers_and_names_differ() -> None:
    spec = {"cpu": 1, "memory": "1Gi"}
    assert usage.sample(usage.profile("a", spec), 99, interval=30.0) == usage.sample(usage.profile("a", spec), 99, interval=30.0)
    assert usage.sample(usage.profile("a", spec), 99, interval=30.0) != usage.sample(usage.profile("b", spec), 99, interval=30.0)


def test_history_is_the_last_hour_at_the_interval_ending_with_the_latest_sample() -> None:
    p = usage.profile("db", {"cpu": 2, "memory": "4Gi"})
    points = usage.history(p, 7_200_015.0, interval=30.0)
    assert len(points) == 121 and points[0][0] == 7_196_400.0 and points[-1][0] == 7_200_000.0
    last = usage.sample(p, 240_000, interval=30.0)
    assert points[-1] == (7_200_000.0, last["cpu.cores"], last["memory.bytes"])
    assert len({cpu for _, cpu, _ in points}) > 50  # a chart with a shape, not a flat line


def test_the_node_sums_its_containers_within_its_capacity() -> None:
    node = usage.node_sample([{"cpu.cores": 0.5, "memory.bytes": 100.0 * MI}] * 2, cpu=2, memory=4 * 2**30, disk=50 * 2**30)
    assert node["cpu.cores"] == 1.05 and node["memory.bytes"] == 500.0 * MI
    assert (node["cpu.capacity_cores"], node["containers.running"]) == (2.0, 2.0)
    full = usage.node_sample([{"cpu.cores": 1.9, "memory.bytes": 4.0 * 2**30}] * 3, cpu=2, memory=4 * 2**30, disk=2**30)
    assert full["cpu.cores"] == 2 and full["memory.bytes"] == 4 * 2**30 and full["disk.bytes"] <= 2**30
