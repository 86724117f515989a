"""How many idle busybox containers one node holds, and what the kubelet costs while they idle.

Containers are added in batches until the goal is reached or the node stops keeping up (a batch not
Running within the timeout, or a container Failed). Then everything idles for a while and is measured:
etcd writes per second (its revision moves once per write transaction), the kubelet's CPU and RSS,
the apiserver's RSS and that of the whole control plane (etcd, apiserver, scheduler, controller).
The apiserver's metrics route is asked once at the end, to show usage is still served. The last
line is one JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import psutil

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]

from harness import BenchCluster  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--goal", type=int, default=500)
    parser.add_argument("--batch", type=int, default=25)
    parser.add_argument("--batch-timeout", type=float, default=180.0)
    parser.add_argument("--idle-seconds", type=float, default=60.0)
    parser.add_argument("--kubelet-arg", action="append", default=[],
                        help="an extra kubelet argument, repeated (e.g. --kubelet-arg=--resync-interval=1h to leave out the resync)")
    args = parser.parse_args()

    # A /22 holds the goal's addresses; the node offers room for more than the goal.
    cluster = BenchCluster(kubelet_args=["--max-containers", str(args.goal * 2), *args.kubelet_arg], subnet_prefixlen=22)
    running = 0
    stopped_because = "goal reached"
    try:
        cluster.up()
        began = time.monotonic()
        while running < args.goal:
            batch = [f"d-{i:04d}" for i in range(running, min(args.goal, running + args.batch))]
            for name in batch:
                cluster.create(name)
            deadline = time.monotonic() + args.batch_timeout
            while True:
                items = cluster.containers()
                phases = {o["metadata"]["name"]: o["status"].get("phase") for o in items}
                failed = [n for n in batch if phases.get(n) == "Failed"]
                done = sum(1 for p in phases.values() if p == "Running")
                if failed or done >= running + len(batch) or time.monotonic() > deadline:
                    break
                time.sleep(1)
            if failed or done < running + len(batch):
                why = {o["metadata"]["name"]: o["status"].get("message") or o["status"].get("phase")
                       for o in items if o["metadata"]["name"] in batch and o["status"].get("phase") != "Running"}
                stopped_because = f"batch at {running} did not all run ({len(failed)} failed, {done} running): {why}"
                running = done
                break
            running = done
            print(f"{running} running after {time.monotonic() - began:.0f}s; "
                  f"host memory available {psutil.virtual_memory().available / 2**30:.1f} GiB", file=sys.stderr)
        fill_seconds = time.monotonic() - began

        kubelet = psutil.Process(cluster.kubelet.pid)
        time.sleep(10)  # let the last starts settle
        revision_before = cluster.etcd_revision()
        cpu_before, wall_before = kubelet.cpu_times(), time.monotonic()
        time.sleep(args.idle_seconds)
        cpu_after, wall_after = kubelet.cpu_times(), time.monotonic()
        writes = cluster.etcd_revision() - revision_before
        used = (cpu_after.user + cpu_after.system) - (cpu_before.user + cpu_before.system)
        rss = {name: psutil.Process(proc.pid).memory_info().rss / 2**20 for name, proc in cluster.procs.items() if proc.poll() is None}
        served = cluster.http.get("/apis/dlxc.io/v1/metrics/containers").json()
        result = {
            "bench": "density",
            "containers": running,
            "goal": args.goal,
            "stopped_because": stopped_because,
            "fill_seconds": round(fill_seconds, 1),
            "idle_seconds": round(wall_after - wall_before, 1),
            "etcd_writes_per_s": round(writes / (wall_after - wall_before), 2),
            "apiserver_rss_mib": round(rss.get("apiserver", 0.0), 1),
            "control_plane_rss_mib": round(sum(rss.get(n, 0.0) for n in ("etcd", "apiserver", "scheduler", "controller")), 1),
            "kubelet_rss_mib": round(kubelet.memory_info().rss / 2**20, 1),
            "kubelet_idle_cpu_pct": round(100 * used / (wall_after - wall_before), 2),
            "containers_with_usage_served": len(served.get("items") or []),
            "host_memory_used_gib": round((psutil.virtual_memory().total - psutil.virtual_memory().available) / 2**30, 2),
            "load_avg_1m": round(os.getloadavg()[0], 2),
        }
    finally:
        cluster.down()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
