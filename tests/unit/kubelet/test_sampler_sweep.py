"""The usage sweep: every running container bound here is sampled, however the sweep is split among threads."""
from __future__ import annotations

import asyncio
import ipaddress
import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from kubelet import sampler
from kubelet.sampler import MetricsSampler
from kubelet.settings import KubeletSettings


class Runtime:
    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids

    def init_pids(self) -> dict[str, int]:
        return dict(self.pids)


def test_every_bound_running_container_is_sampled_once(tmp_path: Path) -> None:
    settings = KubeletSettings(node_name="n1", lxc_path=tmp_path / "lxc", image_dir=tmp_path / "images",
                               subnet=ipaddress.IPv4Interface("10.99.0.1/24"))
    names = [f"c{i}" for i in range(sampler.SWEEP_THREADS * 2 + 1)]  # slices of unequal length
    runtime = Runtime({**{n: os.getpid() for n in names}, "not-bound-here": os.getpid()})
    s = MetricsSampler(runtime, settings, containers=SimpleNamespace(cache={n: {} for n in names}))  # type: ignore[arg-type]
    first = asyncio.run(s.collect())
    assert sorted(first) == sorted(names)
    assert all("cpu.seconds" in sample for sample in first.values())
    second = asyncio.run(s.collect())
    assert all("cpu.cores" in sample for sample in second.values())  # a rate from the two samples
    assert sorted(s.collector.samples) == sorted(names)


def test_a_container_restarted_between_samples_has_no_rate_until_its_next_sample(tmp_path: Path, monkeypatch) -> None:
    """Its new cgroup counts CPU from zero: a rate across the restart would read 0 cores (an idle
    container to `dlxc top` and the autoscaler) or, on a counter that happens to be larger, nonsense."""
    settings = KubeletSettings(node_name="n1", lxc_path=tmp_path / "lxc", image_dir=tmp_path / "images",
                               subnet=ipaddress.IPv4Interface("10.99.0.1/24"))
    seconds = {100: 50.0, 200: 60.0}  # by init pid: the new init's cgroup has used 60 s already (another run)
    monkeypatch.setattr(sampler.metrics, "collect", lambda pid, **_: {"cpu.seconds": seconds[pid]})
    runtime = Runtime({"web": 100})
    s = MetricsSampler(runtime, settings, containers=SimpleNamespace(cache={"web": {}}))  # type: ignore[arg-type]
    asyncio.run(s.collect())
    runtime.pids["web"] = 200
    assert "cpu.cores" not in asyncio.run(s.collect())["web"]
    seconds[200] = 60.0 + 10 * 0.5  # half a core over the next 10 s
    s.samples["web"] = (s.samples["web"][0] - 10, *s.samples["web"][1:])
    assert asyncio.run(s.collect())["web"]["cpu.cores"] == pytest.approx(0.5, rel=0.05)
