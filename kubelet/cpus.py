"""Which host cpus a container asking for whole cores is pinned to: a spread over the node, kept stable."""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

__all__ = ["format_cpuset", "parse_cpuset", "pick_cpus"]


def parse_cpuset(text: str) -> list[int]:
    """The cpus of a cpuset list such as "0-2,5"; ValueError on anything else."""
    cpus: set[int] = set()
    for part in text.strip().split(","):
        first, sep, last = part.partition("-")
        if not first.isdigit() or (sep and not last.isdigit()):
            raise ValueError(f"{text!r} is not a cpu list such as 0-2,5")
        low, high = int(first), int(last) if sep else int(first)
        if high < low:
            raise ValueError(f"{text!r} is not a cpu list such as 0-2,5")
        cpus.update(range(low, high + 1))
    return sorted(cpus)


def format_cpuset(cpus: Iterable[int]) -> str:
    """The shortest cpuset list for `cpus`: [0, 1, 2, 5] -> "0-2,5"."""
    ordered = sorted(set(cpus))
    if not ordered:
        raise ValueError("a cpuset needs at least one cpu")
    parts: list[str] = []
    start = prev = ordered[0]
    for cpu in [*ordered[1:], None]:
        if cpu is not None and cpu == prev + 1:
            prev = cpu
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if cpu is not None:
            start = prev = cpu
    return ",".join(parts)


def pick_cpus(count: int, online: Sequence[int], pinned: Mapping[str, Sequence[int]], *, name: str) -> list[int]:
    """`count` cpus for container `name`: its current pin when that still fits, else the least-used cpus.

    `pinned` holds every container's current cpus (including `name`'s, if any). Pins are shares,
    not reservations (CPU is overcommitted), so the goal is spreading load, not exclusivity.
    """
    if count <= 0:
        raise ValueError(f"count must be positive, got {count}")
    available = sorted(set(online))
    if not available:
        raise ValueError("no online cpus")
    if count >= len(available):
        return available
    current = sorted(set(pinned.get(name, ())))
    if len(current) == count and set(current) <= set(available):
        return current
    load = Counter(cpu for other, cpus in pinned.items() if other != name for cpu in cpus)
    return sorted(sorted(available, key=lambda cpu: (load[cpu], cpu))[:count])
