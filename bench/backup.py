"""Backup and restore throughput of a container holding SIZE MiB of mixed files, against `tar --zstd`; move downtime.

Two nodes on this host, each with its own backup dir (--shared-backup-dir: one for both), so a
move or a restore on the other node streams the archive from the kubelet that wrote it through
the apiserver. A container is filled with mixed files (a few large
random ones, many 1 MiB ones half of which compress well, many small text ones), then:

- backup: a Backup through the API; throughput = archived file bytes / the kubelet's own
  durationSeconds (freeze, read, compress, write, fsync, thaw);
- restore: `backup restore --as` through the API; throughput = the same bytes / create -> Running
  (so it includes the container's start); restore_streamed: the same on the other node, which
  streams the archive through the apiserver into its unpacking;
- baseline, in the same run on the same files: `tar --zstd -cf` of the container's data dir
  (plus an fsync of the result, as the kubelet does) and `tar --zstd -xf` of that archive (GNU
  tar, zstd's default level 3, the level the kubelet uses too);
- move: `dlxc move` of a busybox container and of the filled one to the other node; downtime as
  the command prints it (stop request -> Running on the target).

The last line is one JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]

from harness import PREFIX, BenchCluster, _free_subnet  # noqa: E402

MIB = 1 << 20


def fill(root: Path, size_mib: int, *, uid: int, gid: int, seed: int = 1) -> int:
    """Mixed files under root/data: 40% in 4 random files, 30% in 1 MiB files (half compressible), 30% in 4-64 KiB text files."""
    rng = random.Random(seed)
    data = root / "data"
    data.mkdir(parents=True, exist_ok=True)
    total = size_mib * MIB
    written = 0
    words = b"lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor ".split()

    def put(path: Path, content: bytes) -> None:
        nonlocal written
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        os.chown(path, uid, gid)
        written += len(content)

    big = int(total * 0.4) // 4
    for i in range(4):
        put(data / "big" / f"blob-{i}.bin", os.urandom(big))
    medium = int(total * 0.3) // MIB
    for i in range(medium):
        content = os.urandom(MIB) if i % 2 else b" ".join(rng.choice(words) for _ in range(MIB // 6))[:MIB]
        put(data / "medium" / f"{i // 100:03d}" / f"m-{i}.dat", content)
    budget = total - written
    i = 0
    while budget > 0:
        n = min(budget, rng.randint(4096, 65536))
        put(data / "small" / f"{i // 500:04d}" / f"s-{i}.txt", b" ".join(rng.choice(words) for _ in range(n // 6 + 1))[:n])
        budget -= n
        i += 1
    for directory in [data, *(p for p in data.rglob("*") if p.is_dir())]:
        os.chown(directory, uid, gid)
    return written


def wait(check, *, timeout: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.2)
    raise RuntimeError(f"timed out waiting for {what}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024, help="data in the container (default 1 GiB)")
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--shared-backup-dir", action="store_true", help="both nodes read one backup dir (no streaming)")
    args = parser.parse_args()

    cluster = BenchCluster()
    second_proc = None
    second_lxc = cluster.root / "lxc2"
    second_bridge = f"{cluster.bridge}b"
    try:
        cluster.up()
        from apiserver.auth import TokenFile
        from kubelet import idmap

        second = f"{cluster.node}-2"
        token = TokenFile(cluster.root / "tokens").add(f"kubelet-{second}", f"node:{second}")
        second_proc = cluster._spawn("kubelet-2", [sys.executable, "-m", "dlxc", "kubelet", "--node-name", second,
                                                   "--lxc-path", str(second_lxc), "--image-dir", str(cluster.image_dir),
                                                   "--bridge", second_bridge, "--subnet", _free_subnet(24).with_prefixlen,
                                                   "--log-level", "warning",
                                                   # The bench cluster's own cluster network (its teardown removes
                                                   # it), never the default dlxc0 on 10.88/16.
                                                   "--cluster-cidr", cluster.cluster_cidr, "--cluster-bridge", cluster.cluster_bridge,
                                                   *([] if args.shared_backup_dir else ["--backup-dir", str(cluster.root / "backups-2")])],
                                     {"DLXC_SERVER": cluster.url, "DLXC_TOKEN": token})
        http = cluster.http
        env = {**os.environ, "DLXC_SERVER": cluster.url, "DLXC_TOKEN": cluster.token}

        def obj(plural: str, name: str) -> dict:
            response = http.get(f"{PREFIX}/{plural}/{name}")
            return response.json() if response.status_code == 200 else {}

        def phase(name: str) -> str | None:
            return obj("containers", name).get("status", {}).get("phase")

        wait(lambda: any(c.get("type") == "Ready" and c.get("status") == "True"
                         for c in obj("nodes", second).get("status", {}).get("conditions", [])), timeout=60, what="the second node Ready")

        def dlxc(*argv: str) -> str:
            done = subprocess.run([sys.executable, "-m", "dlxc", *argv], env=env, capture_output=True, text=True)
            if done.returncode != 0:
                raise RuntimeError(f"dlxc {' '.join(argv)} failed: {done.stderr.strip()}")
            return done.stdout
        for name, state in (("small", "Running"), ("data", "Stopped")):
            http.post(f"{PREFIX}/containers", json={"metadata": {"name": name}, "spec": {
                "image": "busybox", "network": {"type": "none"}, "nodeName": cluster.node, "state": state}}).raise_for_status()
        wait(lambda: phase("data") == "Stopped" and phase("small") == "Running", timeout=120, what="containers made")
        ids = idmap.ensure_subids()
        upper = cluster.lxc_path / "data" / "delta0"
        size = fill(upper, args.size_mib, uid=ids.host_uid_start + 1000, gid=ids.host_gid_start + 1000)
        http.patch(f"{PREFIX}/containers/data", json={"spec": {"state": "Running"}}).raise_for_status()
        wait(lambda: phase("data") == "Running", timeout=60, what="data Running")
        print(f"filled {size / MIB:.0f} MiB", file=sys.stderr)

        # Baseline first (cold cache for neither: both read the files the fill just wrote).
        baseline = cluster.root / "baseline.tar.zst"
        began = time.monotonic()
        subprocess.run(["tar", "--zstd", "-cf", str(baseline), "-C", str(upper), "."], check=True)
        with open(baseline, "rb") as handle:
            os.fsync(handle.fileno())  # the kubelet fsyncs its archive before it reports Completed
        tar_backup_s = time.monotonic() - began
        unpacked = cluster.root / "baseline-unpacked"
        unpacked.mkdir()
        began = time.monotonic()
        subprocess.run(["tar", "--zstd", "-xf", str(baseline), "-C", str(unpacked), "--numeric-owner"], check=True)
        tar_restore_s = time.monotonic() - began
        shutil.rmtree(unpacked)

        made = dlxc("backup", "create", "data", "--timeout", f"{args.timeout:g}s")
        backup = made.split()[0].removeprefix("backup/")
        status = obj("backups", backup)["status"]
        archived = status["rootfsBytes"]
        backup_s = status["durationSeconds"]
        print(made.strip(), file=sys.stderr)

        began = time.monotonic()
        dlxc("backup", "restore", backup, "--as", "restored", "--timeout", f"{args.timeout:g}s")
        restore_s = time.monotonic() - began
        began = time.monotonic()
        dlxc("backup", "restore", backup, "--as", "streamed", "--node", second, "--timeout", f"{args.timeout:g}s")
        restore_streamed_s = time.monotonic() - began
        for name in ("restored", "streamed"):  # room on the disk for the moves
            http.delete(f"{PREFIX}/containers/{name}")

        downtimes = {}
        for name in ("small", "data"):
            moved = dlxc("move", name, "--to", second, "--timeout", f"{args.timeout:g}s")
            found = re.search(r"downtime ([0-9.]+)s", moved)
            downtimes[name] = float(found.group(1)) if found else float("nan")
            print(moved.strip(), file=sys.stderr)

        result = {
            "bench": "backup",
            "size_mib": round(size / MIB),
            "archived_mib": round(archived / MIB, 1),
            "archive_mib": round(status["size"] / MIB, 1),
            "tar_zstd_archive_mib": round(baseline.stat().st_size / MIB, 1),
            "backup_mib_per_s": round(archived / MIB / backup_s, 1),
            "tar_zstd_backup_mib_per_s": round(size / MIB / tar_backup_s, 1),
            "backup_ratio": round((archived / backup_s) / (size / tar_backup_s), 2),
            "restore_mib_per_s": round(archived / MIB / restore_s, 1),
            "tar_zstd_restore_mib_per_s": round(size / MIB / tar_restore_s, 1),
            "restore_ratio": round((archived / restore_s) / (size / tar_restore_s), 2),
            "restore_streamed_mib_per_s": round(archived / MIB / restore_streamed_s, 1),
            "shared_backup_dir": args.shared_backup_dir,
            "move_downtime_s": downtimes["small"],
            "move_downtime_data_s": downtimes["data"],
        }
    finally:
        if second_proc is not None and second_proc.poll() is None:
            second_proc.terminate()
            second_proc.wait(30)
        from kubelet import network, runtime

        rt = runtime.LxcRuntime(second_lxc)
        for name in rt.names():
            rt.destroy(name, timeout=0)
        if network.bridge_exists(second_bridge):
            network.delete_bridge(second_bridge)
        cluster.down()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
