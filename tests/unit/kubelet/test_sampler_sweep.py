"""The usage sweep: every running container bound here is sampled, however the sweep is split among threads."""
from __future__ import annotations

import asyncio
import ipaddress
import os
from pathlib import Path
from types import SimpleNamespace

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
