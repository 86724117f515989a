from __future__ import annotations

from pathlib import Path

import pytest

from kubelet.metrics import collect, dir_usage, parse_blkio_v1, parse_io_stat_v2, parse_net_dev, parse_proc_cgroup, usage_rates

NET_DEV = """Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:     100       2    0    0    0     0          0         0      100       2    0    0    0     0       0          0
  eth0:    5166      65    0    0    0     0          0         0      936      12    0    0    0     0       0          0
"""
BLKIO = """8:0 Read 4096
8:0 Write 8192
8:0 Sync 12288
8:0 Total 12288
7:0 Read 512
Total 12800
"""


def test_parse_proc_cgroup_v1_and_v2() -> None:
    cg = parse_proc_cgroup("4:memory:/lxc.payload.web\n2:cpu,cpuacct:/lxc.payload.web-1\n0::/lxc.payload.web\n")
    assert cg.paths == {"memory": "/lxc.payload.web", "cpu": "/lxc.payload.web-1", "cpuacct": "/lxc.payload.web-1", "": "/lxc.payload.web"}
    assert cg.dir("memory", root=Path("/sys/fs/cgroup")) == Path("/sys/fs/cgroup/memory/lxc.payload.web")
    assert cg.dir("blkio", root=Path("/sys/fs/cgroup")) is None
    pure = parse_proc_cgroup("0::/lxc.payload.web\n")
    assert pure.dir("memory", root=Path("/sys/fs/cgroup")) == Path("/sys/fs/cgroup/lxc.payload.web")


@pytest.mark.parametrize(
    ("parse", "text", "expected"),
    [
        (parse_blkio_v1, BLKIO, {"8:0": (4096, 8192), "7:0": (512, 0)}),
        (parse_blkio_v1, "", {}),
        (parse_io_stat_v2, "8:0 rbytes=10 wbytes=20 rios=1 wios=2\n253:0 rbytes=5 wbytes=0\n", {"8:0": (10, 20), "253:0": (5, 0)}),
        (parse_net_dev, NET_DEV, {"eth0": (5166, 65, 936, 12)}),
    ],
    ids=["blkio-v1", "blkio-empty", "io-stat-v2", "net-dev-without-lo"],
)
def test_parsers(parse, text: str, expected: dict) -> None:
    assert parse(text) == expected


def _fake_host(tmp_path: Path) -> tuple[Path, Path, Path]:
    proc, cgroup, sys = tmp_path / "proc", tmp_path / "cgroup", tmp_path / "sys"
    (proc / "42/net").mkdir(parents=True)
    (proc / "42/cgroup").write_text("7:blkio:/c\n4:memory:/c\n8:pids:/c\n2:cpu,cpuacct:/c\n0::/c\n")
    (proc / "42/net/dev").write_text(NET_DEV)
    files = {
        "cpuacct/c/cpuacct.usage": "2500000000\n",
        "memory/c/memory.usage_in_bytes": "1048576\n",
        "memory/c/memory.memsw.usage_in_bytes": "1310720\n",
        "memory/c/memory.limit_in_bytes": "67108864\n",
        "memory/c/memory.stat": "cache 100\nrss 200\ntotal_cache 300\ntotal_rss 400\ninactive_file 24576\ntotal_inactive_file 49152\n",
        "pids/c/pids.current": "3\n",
        "blkio/c/blkio.throttle.io_service_bytes": BLKIO,
    }
    for rel, text in files.items():
        (cgroup / rel).parent.mkdir(parents=True, exist_ok=True)
        (cgroup / rel).write_text(text)
    for devno, name in (("8:0", "sda"), ("7:0", "loop0")):
        (sys / "dev/block" / devno).mkdir(parents=True)
        (sys / "dev/block" / devno / "uevent").write_text(f"MAJOR=8\nDEVNAME={name}\n")
    return proc, cgroup, sys


def test_collect_v1_reads_every_source_and_skips_loop_devices(tmp_path: Path) -> None:
    proc, cgroup, sys = _fake_host(tmp_path)
    rootfs = tmp_path / "delta0"
    rootfs.mkdir()
    (rootfs / "file").write_bytes(b"x" * 10000)
    sample = collect(42, rootfs_dir=rootfs, cgroup_root=cgroup, proc_root=proc, sys_root=sys)
    assert sample == {
        "cpu.seconds": 2.5,
        "memory.bytes": 1048576.0 - 49152,  # the working set: usage less inactive file cache (of the whole subtree)
        "memory.swap_bytes": 262144.0,
        "memory.rss_bytes": 400.0,
        "memory.cache_bytes": 300.0,
        "memory.limit_bytes": 67108864.0,
        "processes": 3.0,
        "blkio.sda.read_bytes": 4096.0,
        "blkio.sda.write_bytes": 8192.0,
        "net.eth0.rx_bytes": 5166.0,
        "net.eth0.rx_packets": 65.0,
        "net.eth0.tx_bytes": 936.0,
        "net.eth0.tx_packets": 12.0,
        "rootfs.bytes": float(dir_usage(rootfs)),
    }
    assert sample["rootfs.bytes"] >= 10000
    with_loop = collect(42, cgroup_root=cgroup, proc_root=proc, sys_root=sys, excluded_devices=())
    assert with_loop["blkio.loop0.read_bytes"] == 512.0


def test_collect_of_a_gone_process_is_empty(tmp_path: Path) -> None:
    assert collect(999999, proc_root=tmp_path) == {}


@pytest.mark.parametrize(
    ("previous", "current", "seconds", "expected"),
    [
        (None, {"cpu.seconds": 5.0}, 0, {}),
        ({"cpu.seconds": 5.0}, {"cpu.seconds": 6.0}, 2.0, {"cpu.cores": 0.5}),
        ({"cpu.seconds": 5.0}, {"cpu.seconds": 1.0}, 2.0, {}),  # restarted in between: no rate, not an idle 0
        ({}, {"cpu.seconds": 1.0}, 2.0, {}),
    ],
    ids=["first", "half-a-core", "counter-reset", "no-cpu-before"],
)
def test_usage_rates(previous, current, seconds, expected) -> None:
    assert usage_rates(previous, current, seconds) == expected


def test_collect_v2_memory_is_the_working_set_and_a_reclaimable_cache_larger_than_usage_is_zero(tmp_path: Path) -> None:
    proc, cgroup = tmp_path / "proc", tmp_path / "cgroup"
    (proc / "42").mkdir(parents=True)
    (proc / "42/cgroup").write_text("0::/c\n")
    (cgroup / "c").mkdir(parents=True)
    (cgroup / "c/cpu.stat").write_text("usage_usec 1500000\nuser_usec 1000000\n")
    (cgroup / "c/memory.current").write_text(f"{300 * 2**20}\n")
    # It read a 200 MiB file once: the cache stays until there is pressure, the working set is 100 MiB.
    (cgroup / "c/memory.stat").write_text(f"anon {90 * 2**20}\nfile {210 * 2**20}\ninactive_file {200 * 2**20}\n")
    (cgroup / "c/memory.max").write_text(f"{256 * 2**20}\n")
    sample = collect(42, cgroup_root=cgroup, proc_root=proc, sys_root=tmp_path / "sys")
    assert (sample["cpu.seconds"], sample["memory.bytes"], sample["memory.rss_bytes"], sample["memory.cache_bytes"]) == \
        (1.5, 100 * 2**20, 90 * 2**20, 210 * 2**20)
    (cgroup / "c/memory.stat").write_text(f"inactive_file {400 * 2**20}\n")  # read between the two files
    assert collect(42, cgroup_root=cgroup, proc_root=proc, sys_root=tmp_path / "sys")["memory.bytes"] == 0
