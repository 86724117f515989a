"""Create -> Running latency through the whole control plane, against raw liblxc clone + start of the same image.

One node. N busybox containers are applied at RATE per second; a watch records when each is first
seen Running. In the same run, the same image is cloned (overlay snapshot) and started N times
straight through the runtime, with no control plane. The last line is one JSON object.
"""
from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]

from harness import PREFIX, BenchCluster, percentile  # noqa: E402


def watch_running(cluster: BenchCluster, seen: dict[str, float], stop: threading.Event, ready: threading.Event) -> None:
    import httpx

    with httpx.Client(base_url=cluster.url, headers={"Authorization": f"Bearer {cluster.token}"}, timeout=None) as http:
        rv = http.get(f"{PREFIX}/containers").json()["metadata"]["resourceVersion"]
        with http.stream("GET", f"{PREFIX}/containers", params={"watch": "1", "resourceVersion": rv}) as response:
            ready.set()
            for line in response.iter_lines():
                if stop.is_set():
                    return
                if not line:
                    continue
                event = json.loads(line)
                obj = event.get("object", {})
                name = obj.get("metadata", {}).get("name")
                if name and obj.get("status", {}).get("phase") == "Running" and name not in seen:
                    seen[name] = time.monotonic()


def raw_clone_start(cluster: BenchCluster, count: int) -> list[float]:
    """Overlay snapshot of the cached image + lxc-start, straight through the runtime, one after another."""
    from kubelet import idmap, images, lxcconfig, runtime
    from schemas.container import ContainerSpec, Network

    rt = runtime.LxcRuntime(cluster.root / "raw")
    cache = images.ImageCache(cluster.image_dir)
    ids = idmap.ensure_subids()
    lower = cache.ensure("busybox", idmap=ids)
    spec = ContainerSpec(image="busybox", network=Network(type="none"))
    times = []
    try:
        for i in range(count):
            name = f"raw-{i:03d}"
            began = time.monotonic()
            items = lxcconfig.render_config(spec, name=name, rootfs=rt.rootfs_for(name, lower), cgroup_version=1,
                                            default_bridge=cluster.bridge, ip=None, gateway=None, idmap=ids)
            rt.create(name, items)
            rt.start(name, timeout=30)
            times.append((time.monotonic() - began) * 1000)
    finally:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=16) as pool:
            list(pool.map(lambda n: rt.destroy(n, timeout=0), rt.names()))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--containers", type=int, default=100)
    parser.add_argument("--rate", type=float, default=5.0, help="containers applied per second")
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args()

    cluster = BenchCluster(kubelet_args=["--max-containers", str(args.containers + 10)])
    try:
        cluster.up()
        cluster.warm_image()

        seen: dict[str, float] = {}
        stop, ready = threading.Event(), threading.Event()
        watcher = threading.Thread(target=watch_running, args=(cluster, seen, stop, ready), daemon=True)
        watcher.start()
        ready.wait(10)
        created: dict[str, float] = {}
        began = time.monotonic()
        for i in range(args.containers):
            name = f"c-{i:03d}"
            target = began + i / args.rate
            time.sleep(max(0.0, target - time.monotonic()))
            created[name] = time.monotonic()
            cluster.create(name, network={"type": "none"})
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline and not all(n in seen for n in created):
            time.sleep(0.2)
        stop.set()
        missing = sorted(set(created) - set(seen))
        if missing:
            by_name = {o["metadata"]["name"]: o for o in cluster.containers()}
            for name in missing[:5]:
                status = by_name.get(name, {}).get("status", {})
                print(f"not seen Running: {name}: phase {status.get('phase')} {status.get('message', '')!r}", file=sys.stderr)
        latencies = [(seen[n] - created[n]) * 1000 for n in created if n in seen]
        print(f"{len(latencies)}/{len(created)} Running; create->Running p50 {percentile(latencies, 50):.0f} ms, "
              f"p99 {percentile(latencies, 99):.0f} ms", file=sys.stderr)

        raw = raw_clone_start(cluster, args.containers)
        print(f"raw clone+start p50 {percentile(raw, 50):.0f} ms, p99 {percentile(raw, 99):.0f} ms", file=sys.stderr)
        result = {
            "bench": "startup",
            "containers": args.containers,
            "rate_per_s": args.rate,
            "running": len(latencies),
            "running_p50_ms": round(percentile(latencies, 50), 1),
            "running_p99_ms": round(percentile(latencies, 99), 1),
            "raw_lxc_p50_ms": round(percentile(raw, 50), 1),
            "raw_lxc_p99_ms": round(percentile(raw, 99), 1),
            "ratio_p50": round(percentile(latencies, 50) / percentile(raw, 50), 2),
        }
    finally:
        cluster.down()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
