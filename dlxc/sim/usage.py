"""Made-up but plausible usage for hollow nodes' containers: the same numbers for a name and a time, within the spec's limits.

A real kubelet samples cgroups; a hollow node has none, so each container gets a profile seeded by
its name (a base load, a slow wave, a little noise per sample) and every sample is a pure function
of (profile, sample slot). Nothing is kept: a history of the last hour is computed when asked, so
serving usage costs a hollow process memory only for the nodes it is actually asked about.
"""
from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass
from typing import Any

from kubelet.usage import Point
from schemas.quantity import parse_bytes

__all__ = ["DEFAULT_CPU", "DEFAULT_MEMORY", "Profile", "history", "node_sample", "profile", "sample", "slots"]

DEFAULT_CPU = 1.0  # cores assumed for a container whose spec sets no cpu limit
DEFAULT_MEMORY = 512 * 2**20  # bytes assumed for one that sets no memory limit
NODE_OVERHEAD = {"cpu.cores": 0.05, "memory.bytes": 300.0 * 2**20}  # the host's own share, as a real node has


@dataclass(frozen=True)
class Profile:
    seed: int
    cpu_limit: float
    memory_limit: int
    cpu_base: float  # share of the cpu limit used on average
    cpu_wave: float  # share added or taken by the slow wave
    period: float  # seconds of one wave
    phase: float
    memory_base: float  # share of the memory limit
    processes: int


def _seed(name: str) -> int:
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big")


def profile(name: str, spec: dict[str, Any]) -> Profile:
    """The container's usage profile: its limits (the defaults where the spec sets none) and its seeded shape."""
    try:
        cpu = float(spec.get("cpu") or DEFAULT_CPU)
    except (TypeError, ValueError):
        cpu = DEFAULT_CPU
    try:
        memory = parse_bytes(spec["memory"]) if spec.get("memory") else DEFAULT_MEMORY
    except ValueError:
        memory = DEFAULT_MEMORY
    seed = _seed(name)
    rng = random.Random(seed)
    return Profile(
        seed=seed, cpu_limit=cpu, memory_limit=memory,
        cpu_base=rng.uniform(0.08, 0.45), cpu_wave=rng.uniform(0.05, 0.25), period=rng.uniform(600.0, 2400.0),
        phase=rng.uniform(0.0, 2 * math.pi), memory_base=rng.uniform(0.25, 0.7), processes=rng.randint(3, 40),
    )


def _noise(seed: int, slot: int) -> float:
    """A number in [-1, 1), the same for a (seed, slot)."""
    digest = hashlib.blake2b(slot.to_bytes(8, "big", signed=True), digest_size=4, key=seed.to_bytes(8, "big")).digest()
    return int.from_bytes(digest, "big") / 2**31 - 1.0


def sample(p: Profile, slot: int, *, interval: float) -> dict[str, float]:
    """The sample of slot `slot` (its time is slot × interval): never above the limits, never below zero."""
    t = slot * interval
    wave = math.sin(2 * math.pi * t / p.period + p.phase)
    share = p.cpu_base + p.cpu_wave * wave + 0.06 * _noise(p.seed, slot)
    cpu = round(p.cpu_limit * min(0.98, max(0.005, share)), 4)
    memory_share = p.memory_base + 0.08 * math.sin(2 * math.pi * t / (3 * p.period) + p.phase) + 0.01 * _noise(p.seed ^ 1, slot)
    memory = float(int(p.memory_limit * min(0.95, max(0.02, memory_share))))
    return {
        "cpu.cores": cpu,
        "cpu.seconds": round(p.cpu_limit * p.cpu_base * (t % 86_400), 2),  # as if the container started at midnight
        "memory.bytes": memory,
        "memory.limit_bytes": float(p.memory_limit),
        "processes": float(p.processes + int(3 * (_noise(p.seed ^ 2, slot) + 1))),
    }


def slots(now: float, *, interval: float, window: float) -> range:
    """The sample slots of the last `window` seconds up to `now`, oldest first."""
    last = int(now // interval)
    return range(last - int(window // interval), last + 1)


def history(p: Profile, now: float, *, interval: float, window: float = 3600.0) -> list[Point]:
    """(time, cores, bytes) of every slot of the last `window` seconds: what a kubelet's ring holds after an hour."""
    points: list[Point] = []
    for slot in slots(now, interval=interval, window=window):
        s = sample(p, slot, interval=interval)
        points.append((slot * interval, s["cpu.cores"], s["memory.bytes"]))
    return points


def node_sample(containers: list[dict[str, float]], *, cpu: float, memory: int, disk: int) -> dict[str, float]:
    """The node's usage as a kubelet reports it: its containers' sum plus the host's own share, within capacity."""
    used_cpu = NODE_OVERHEAD["cpu.cores"] + sum(c.get("cpu.cores", 0.0) for c in containers)
    used_memory = NODE_OVERHEAD["memory.bytes"] + sum(c.get("memory.bytes", 0.0) for c in containers)
    return {
        "cpu.cores": round(min(float(cpu), used_cpu), 4),
        "cpu.capacity_cores": float(cpu),
        "memory.bytes": min(float(memory), used_memory),
        "memory.capacity_bytes": float(memory),
        "disk.bytes": float(min(disk, int(disk * 0.05) + len(containers) * 600 * 2**20)),
        "disk.capacity_bytes": float(disk),
        "containers.running": float(len(containers)),
    }
