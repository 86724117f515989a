"""`exec -- true` through the API (client already running) against `lxc-attach -- true` on the node.

One node, one running busybox container. The API path: one Client in this process (dlxc.client.streams,
as `dlxc exec` uses it) opens the exec WebSocket, the apiserver authorizes and starts the session on a
mutual-TLS WebSocket it keeps to the kubelet while it writes the audit Event, the kubelet runs
lxc-attach and sends the exit status back, which the apiserver passes on once the Event is stored;
timed from the request to the status. The raw path: `lxc-attach -n NAME -P LXCPATH
--clear-env -- true` as a subprocess. The two alternate, one exec each, in the same run.

Then the CPU each path costs, which a busy machine does not blur as it does times: CPU seconds of
this client, the apiserver, etcd and the kubelet (with its reaped lxc-attach children) over `--count`
API execs, less what the same processes burn idle over as long; and of the raw lxc-attach
processes. The last line is one JSON object.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]

from harness import BenchCluster, percentile  # noqa: E402


async def measure(cluster: BenchCluster, name: str, count: int) -> tuple[list[float], list[float]]:
    """Both paths, alternating one exec of each, so a busy moment of the machine hits both alike."""
    from dlxc.client.api import Client
    from dlxc.client.config import ClientConfig
    from dlxc.client.streams import open_stream

    async def once() -> float:
        began = time.perf_counter()
        stream = await open_stream(client, name, "exec", [("command", "true"), ("stdin", "0"), ("tty", "0")])
        outcome = await stream.output(lambda channel, data: None)
        if outcome.exit_code != 0:
            raise RuntimeError(f"exec true failed: {outcome}")
        return (time.perf_counter() - began) * 1000

    command = ["lxc-attach", "-n", name, "-P", str(cluster.lxc_path), "--clear-env", "--", "true"]

    def raw() -> float:
        began = time.perf_counter()
        subprocess.run(command, check=True)
        return (time.perf_counter() - began) * 1000

    async with Client(ClientConfig(server=cluster.url, token=cluster.token)) as client:
        await once()  # the client's connection pool and the kubelet's code paths warm
        raw()
        api, direct = [], []
        for _ in range(count):
            api.append(await once())
            direct.append(raw())
        return api, direct


def _cpu_ms(pids: list[int]) -> float:
    """CPU of these processes, their descendants and their reaped children, in ms."""
    import psutil

    total = 0.0
    for pid in pids:
        try:
            root = psutil.Process(pid)
            for proc in [root, *root.children(recursive=True)]:
                times = proc.cpu_times()
                total += times.user + times.system + times.children_user + times.children_system
        except psutil.Error:
            continue
    return total * 1000


async def cpu_per_exec(cluster: BenchCluster, name: str, count: int) -> tuple[float, float]:
    """CPU ms per exec through the API (every process on the path) and per raw lxc-attach."""
    import resource

    from dlxc.client.api import Client
    from dlxc.client.config import ClientConfig
    from dlxc.client.streams import open_stream

    pids = [cluster.procs[component].pid for component in ("apiserver", "etcd", "kubelet")]

    def spent() -> float:
        own = resource.getrusage(resource.RUSAGE_SELF)
        return _cpu_ms(pids) + (own.ru_utime + own.ru_stime) * 1000

    async with Client(ClientConfig(server=cluster.url, token=cluster.token)) as client:
        async def once() -> None:
            stream = await open_stream(client, name, "exec", [("command", "true"), ("stdin", "0"), ("tty", "0")])
            await stream.output(lambda channel, data: None)

        await once()
        began, started = spent(), time.monotonic()
        for _ in range(count):
            await once()
        busy, wall = spent() - began, time.monotonic() - started
    began = spent()
    await asyncio.sleep(wall)  # lease renewals, heartbeats, syncs: what the same processes spend anyway
    idle = spent() - began
    command = ["lxc-attach", "-n", name, "-P", str(cluster.lxc_path), "--clear-env", "--", "true"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    for _ in range(count):
        subprocess.run(command, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    raw = (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) * 1000
    return max(0.0, busy - idle) / count, raw / count


def lxd_exec(count: int) -> list[float] | None:
    """LXD's `lxc exec` into an instance named dlxc-bench, only when LXD and that instance exist."""
    if shutil.which("lxc") is None or subprocess.run(["lxc", "info", "dlxc-bench"], capture_output=True).returncode != 0:
        return None
    times = []
    for _ in range(count):
        began = time.perf_counter()
        subprocess.run(["lxc", "exec", "dlxc-bench", "--", "true"], check=True)
        times.append((time.perf_counter() - began) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200, help="execs on each path")
    args = parser.parse_args()

    cluster = BenchCluster()
    result: dict[str, object] = {}
    try:
        cluster.up()
        cluster.create("target", network={"type": "none"})
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not any(
                o["status"].get("phase") == "Running" for o in cluster.containers() if o["metadata"]["name"] == "target"):
            time.sleep(0.2)
        api, raw = asyncio.run(measure(cluster, "target", args.count))
        api_cpu, raw_cpu = asyncio.run(cpu_per_exec(cluster, "target", args.count))
        lxd = lxd_exec(args.count)
        print(f"exec through the API p50 {percentile(api, 50):.1f} ms p99 {percentile(api, 99):.1f} ms; "
              f"raw lxc-attach p50 {percentile(raw, 50):.1f} ms p99 {percentile(raw, 99):.1f} ms", file=sys.stderr)
        result = {
            "bench": "exec",
            "count": args.count,
            "exec_p50_ms": round(percentile(api, 50), 1),
            "exec_p99_ms": round(percentile(api, 99), 1),
            "raw_attach_p50_ms": round(percentile(raw, 50), 1),
            "raw_attach_p99_ms": round(percentile(raw, 99), 1),
            "ratio_p50": round(percentile(api, 50) / percentile(raw, 50), 2),
            "exec_cpu_ms": round(api_cpu, 2),
            "raw_attach_cpu_ms": round(raw_cpu, 2),
            "cpu_ratio": round(api_cpu / raw_cpu, 2) if raw_cpu else None,
        }
        if lxd is not None:
            result["lxd_exec_p50_ms"] = round(percentile(lxd, 50), 1)
    finally:
        cluster.down()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
