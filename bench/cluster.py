"""`dlxc cluster create` of 1 front-end + N busybox nodes until every member runs with its /etc/hosts complete.

One node. The image is warmed first, so the figure is the builder's, not the image build's. Timing starts
before `dlxc cluster create` runs and stops when every member's /etc/hosts (read through /proc/PID/root
of its init) lists all N+1 members. The peer figure (the same containers made one by one with `lxc launch`
on LXD) is taken only when LXD is present. The last line is one JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]

from harness import BenchCluster  # noqa: E402


def hosts_complete(lxc_path: Path, name: str, names: list[str]) -> bool:
    pid = subprocess.run(["lxc-info", "-P", str(lxc_path), "-n", name, "-p", "-H"], capture_output=True, text=True).stdout.strip()
    if not pid.isdigit():
        return False
    try:
        text = Path(f"/proc/{pid}/root/etc/hosts").read_text()
    except OSError:
        return False
    listed = {line.split()[-1] for line in text.splitlines() if line.strip() and not line.startswith("#")}
    return set(names) <= listed


def lxd_peer(count: int) -> tuple[float | None, str]:
    if shutil.which("lxc") is None or subprocess.run(["lxc", "info"], capture_output=True).returncode != 0:
        return None, "LXD is not present on this machine: no peer figure"
    began = time.monotonic()
    names = [f"bench-lxd-{i}" for i in range(count)]
    try:
        for name in names:
            subprocess.run(["lxc", "launch", "images:busybox/1.36", name], check=True, capture_output=True)
        return time.monotonic() - began, "lxc launch one by one"
    finally:
        for name in names:
            subprocess.run(["lxc", "delete", "--force", name], capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=8)
    parser.add_argument("--timeout", type=float, default=180.0)
    args = parser.parse_args()

    cluster = BenchCluster(kubelet_args=["--max-containers", str(args.nodes + 10)])
    try:
        cluster.up()
        cluster.warm_image()
        members = ["bench-frontend"] + [f"bench-node{i}" for i in range(1, args.nodes + 1)]
        env = {**os.environ, "DLXC_SERVER": cluster.url, "DLXC_TOKEN": cluster.token}
        began = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "dlxc", "cluster", "create", "bench", "--front-end-image", "busybox",
                               "--working-node-image", "busybox", "--nodes", str(args.nodes), "--memory", "32Mi", "--no-wait"],
                              env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"dlxc cluster create failed: {done.stderr}")
        deadline = began + args.timeout
        pending = list(members)
        while pending and time.monotonic() < deadline:
            pending = [m for m in pending if not hosts_complete(cluster.lxc_path, m, members)]
            if pending:
                time.sleep(0.05)
        ready_s = time.monotonic() - began
        if pending:
            raise SystemExit(f"not ready after {args.timeout:g}s: {', '.join(pending)}; logs in {cluster.root}")
        print(f"cluster of {len(members)} ready in {ready_s:.2f} s", file=sys.stderr)
        peer, peer_note = lxd_peer(len(members))
        print(peer_note, file=sys.stderr)
        result = {
            "bench": "cluster",
            "members": len(members),
            "cluster_ready_s": round(ready_s, 2),
            "lxd_peer_s": round(peer, 2) if peer is not None else None,
            "ratio": round(ready_s / peer, 2) if peer else None,
            "peer": peer_note,
        }
    finally:
        cluster.down()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
