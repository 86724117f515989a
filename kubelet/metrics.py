"""Per-container usage read from cgroups and /proc (the original design's LXC monitor), as flat dotted keys."""
from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "DEFAULT_EXCLUDED_DEVICES",
    "CgroupPaths",
    "collect",
    "dir_usage",
    "parse_blkio_v1",
    "parse_io_stat_v2",
    "parse_net_dev",
    "parse_proc_cgroup",
    "usage_rates",
]

# Loop devices back image files and dm devices stack on real disks: counting them counts bytes twice.
DEFAULT_EXCLUDED_DEVICES = ("loop", "dm-")


@dataclass(frozen=True)
class CgroupPaths:
    """controller name -> path of the process's cgroup under the hierarchy ("" key: the v2 unified one)."""

    paths: dict[str, str]

    def dir(self, controller: str, *, root: Path) -> Path | None:
        if controller in self.paths:
            return root / controller / self.paths[controller].lstrip("/")
        if "" in self.paths and not any(k for k in self.paths if k):
            return root / self.paths[""].lstrip("/")  # pure cgroup v2
        return None


def parse_proc_cgroup(text: str) -> CgroupPaths:
    """The cgroups of a process from /proc/PID/cgroup ("ID:controllers:path" lines)."""
    paths: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        for controller in parts[1].split(",") if parts[1] else [""]:
            paths[controller] = parts[2]
    return CgroupPaths(paths)


def parse_blkio_v1(text: str) -> dict[str, tuple[int, int]]:
    """MAJ:MIN -> (read bytes, write bytes) from blkio.throttle.io_service_bytes."""
    found: dict[str, list[int]] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3 and ":" in parts[0] and parts[1] in ("Read", "Write") and parts[2].isdigit():
            entry = found.setdefault(parts[0], [0, 0])
            entry[0 if parts[1] == "Read" else 1] += int(parts[2])
    return {dev: (r, w) for dev, (r, w) in found.items()}


def parse_io_stat_v2(text: str) -> dict[str, tuple[int, int]]:
    """MAJ:MIN -> (read bytes, write bytes) from a cgroup v2 io.stat."""
    found: dict[str, tuple[int, int]] = {}
    for line in text.splitlines():
        parts = line.split()
        if not parts or ":" not in parts[0]:
            continue
        fields = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
        found[parts[0]] = (int(fields.get("rbytes", 0)), int(fields.get("wbytes", 0)))
    return found


def parse_net_dev(text: str) -> dict[str, tuple[int, int, int, int]]:
    """interface -> (rx bytes, rx packets, tx bytes, tx packets) from /proc/PID/net/dev, loopback left out."""
    found: dict[str, tuple[int, int, int, int]] = {}
    for line in text.splitlines()[2:]:
        name, sep, rest = line.partition(":")
        fields = rest.split()
        if not sep or len(fields) < 10 or name.strip() == "lo":
            continue
        found[name.strip()] = (int(fields[0]), int(fields[1]), int(fields[8]), int(fields[9]))
    return found


def read_bytes(path: str | Path, *, first: int | None = None) -> bytes | None:
    """A /proc, /sys or cgroup file's bytes, or its `first` bytes in one read (None when it cannot be
    read). Bare os.open/os.read: the sampler reads about ten of these per container and the drift
    poll two per container a second, and Python's open() adds an fstat, an ioctl, an lseek and a
    text decoder to each (the sampler's main cost)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        if first is not None:
            return os.read(fd, first)
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError:
        return None
    finally:
        os.close(fd)


def _read(path: Path | None) -> str | None:
    data = read_bytes(path) if path is not None else None
    return data.decode(errors="replace") if data is not None else None


def _int(path: Path | None) -> int | None:
    text = _read(path)
    try:
        return int(text.split()[0]) if text else None
    except (ValueError, IndexError):
        return None


_DEVICE_NAMES: dict[tuple[Path, str], str] = {}  # (sys root, MAJ:MIN) -> name, asked once per device


def _device_name(devno: str, *, sys_root: Path) -> str:
    known = _DEVICE_NAMES.get((sys_root, devno))
    if known is not None:
        return known
    name = devno.replace(":", "_")
    for line in (_read(sys_root / "dev/block" / devno / "uevent") or "").splitlines():
        if line.startswith("DEVNAME="):
            name = line.split("=", 1)[1]
            _DEVICE_NAMES[(sys_root, devno)] = name  # a device with no uevent yet is asked again
            break
    return name


def dir_usage(path: Path) -> int:
    """Bytes allocated below `path` (what du reports), without following symlinks or crossing mounts."""
    total = 0
    try:
        root_dev = path.lstat().st_dev
    except OSError:
        return 0
    stack = [str(path)]
    while stack:
        current = stack.pop()
        try:
            with os.scandir(current) as entries:
                for entry in entries:
                    try:
                        info = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    total += info.st_blocks * 512
                    if entry.is_dir(follow_symlinks=False) and info.st_dev == root_dev:
                        stack.append(entry.path)
        except OSError:
            continue
    return total


def collect(
    pid: int,
    *,
    rootfs_dir: Path | None = None,
    excluded_devices: Iterable[str] = DEFAULT_EXCLUDED_DEVICES,
    cgroup_root: Path = Path("/sys/fs/cgroup"),
    proc_root: Path = Path("/proc"),
    sys_root: Path = Path("/sys"),
) -> dict[str, float]:
    """One sample of the container whose init is `pid`: cumulative counters and current gauges.

    Keys: cpu.seconds, memory.bytes, memory.rss_bytes, memory.cache_bytes, memory.swap_bytes,
    memory.limit_bytes, processes, rootfs.bytes, blkio.DEV.read_bytes/write_bytes,
    net.IFACE.rx_bytes/rx_packets/tx_bytes/tx_packets. Missing sources are left out, not zeroed.

    memory.bytes is the working set, as `kubectl top` shows and the kernel reclaims last: the cgroup's
    usage less its inactive file cache (a container that read a large file once holds that cache
    until there is pressure; counting it made an idle container look full).
    """
    text = _read(proc_root / str(pid) / "cgroup")
    if text is None:
        return {}
    cg = parse_proc_cgroup(text)
    v2 = "" in cg.paths and not any(k for k in cg.paths if k)
    out: dict[str, float] = {}

    def put(key: str, value: float | None) -> None:
        if value is not None:
            out[key] = float(value)

    if v2:
        base = cg.dir("", root=cgroup_root)
        cpu_stat = (_read(base / "cpu.stat") or "") if base else ""
        stat = dict(line.split() for line in cpu_stat.splitlines() if line.count(" ") == 1)
        put("cpu.seconds", int(stat["usage_usec"]) / 1e6 if "usage_usec" in stat else None)
        mstat = _memory_stat(_read(base / "memory.stat") if base else None)
        put("memory.bytes", _working_set(_int(base / "memory.current") if base else None, mstat.get("inactive_file")))
        put("memory.swap_bytes", _int(base / "memory.swap.current") if base else None)
        put("processes", _int(base / "pids.current") if base else None)
        put("memory.rss_bytes", mstat.get("anon"))
        put("memory.cache_bytes", mstat.get("file"))
        limit = _read(base / "memory.max") if base else None
        if limit and limit.strip() != "max":
            put("memory.limit_bytes", int(limit))
        io = parse_io_stat_v2((_read(base / "io.stat") or "") if base else "")
    else:
        usage = _int(cg.dir("cpuacct", root=cgroup_root) / "cpuacct.usage") if cg.dir("cpuacct", root=cgroup_root) else None
        put("cpu.seconds", usage / 1e9 if usage is not None else None)
        memory = cg.dir("memory", root=cgroup_root)
        if memory is not None:
            used = _int(memory / "memory.usage_in_bytes")
            memsw = _int(memory / "memory.memsw.usage_in_bytes")
            mstat = _memory_stat(_read(memory / "memory.stat"))
            put("memory.bytes", _working_set(used, mstat.get("total_inactive_file", mstat.get("inactive_file"))))
            if used is not None and memsw is not None:
                put("memory.swap_bytes", max(0, memsw - used))
            put("memory.rss_bytes", mstat.get("total_rss", mstat.get("rss")))
            put("memory.cache_bytes", mstat.get("total_cache", mstat.get("cache")))
            limit = _int(memory / "memory.limit_in_bytes")
            if limit is not None and limit < 2**62:
                put("memory.limit_bytes", limit)
        pids = cg.dir("pids", root=cgroup_root)
        put("processes", _int(pids / "pids.current") if pids else None)
        blkio = cg.dir("blkio", root=cgroup_root)
        io = parse_blkio_v1((_read(blkio / "blkio.throttle.io_service_bytes") or "") if blkio else "")
    excluded = tuple(excluded_devices)
    for devno, (read, write) in sorted(io.items()):
        device = _device_name(devno, sys_root=sys_root)
        if device.startswith(excluded):
            continue
        put(f"blkio.{device}.read_bytes", read)
        put(f"blkio.{device}.write_bytes", write)
    for iface, (rx, rxp, tx, txp) in sorted(parse_net_dev(_read(proc_root / str(pid) / "net/dev") or "").items()):
        put(f"net.{iface}.rx_bytes", rx)
        put(f"net.{iface}.rx_packets", rxp)
        put(f"net.{iface}.tx_bytes", tx)
        put(f"net.{iface}.tx_packets", txp)
    if rootfs_dir is not None:
        put("rootfs.bytes", dir_usage(rootfs_dir))
    return out


def _working_set(usage: int | None, inactive_file: int | None) -> int | None:
    if usage is None:
        return None
    return max(0, usage - (inactive_file or 0))


def _memory_stat(text: str | None) -> dict[str, int]:
    found: dict[str, int] = {}
    for line in (text or "").splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            found[parts[0]] = int(parts[1])
    return found


def usage_rates(previous: dict[str, float] | None, current: dict[str, float], seconds: float) -> dict[str, float]:
    """Rates between two samples `seconds` apart: cpu.cores (cores busy on average) for now. None
    across a counter that went back (the container restarted in between: its new cgroup counts from
    zero), which is not an idle container."""
    if not previous or seconds <= 0 or "cpu.seconds" not in current or "cpu.seconds" not in previous:
        return {}
    if current["cpu.seconds"] < previous["cpu.seconds"]:
        return {}
    return {"cpu.cores": round((current["cpu.seconds"] - previous["cpu.seconds"]) / seconds, 4)}
