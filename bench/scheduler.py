"""Scheduler benchmark: a real etcd and apiserver, N hollow nodes, M containers; the last line is JSON.

    .venv/bin/python bench/scheduler.py --nodes 1000 --containers 3000

Every component is its own process, as in a cluster: etcd, `dlxc apiserver`, `dlxc hollow-nodes`
(N nodes of mixed sizes in one process), `dlxc scheduler`, and this script, which creates the
containers (mixed requests) at full speed while the scheduler runs and watches for their binds.
Figures: binds per second over the whole run (first create to last bind), create-to-bound time
p50/p99 as seen through a watch, the scheduler's CPU seconds per bind, and how many nodes hold
more than they can (must be 0). The control plane's CPU per container (apiserver + scheduler +
hollow kubelets, per container bound and Running) is given whole and above idle: less what the
same processes spend over as long right after, with nothing to place (the nodes' Lease renewals
and status posts); so are etcd's write transactions per container. It never fails on a time.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


from schemas.base import Obj

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from harness import Processes, cpu_seconds, dlxc_argv, etcd_argv, etcd_revision, free_port, percentile, wait_http  # noqa: E402

from apiserver.auth import TokenFile  # noqa: E402
from dlxc.client.api import Client  # noqa: E402
from dlxc.client.config import ClientConfig, save_config  # noqa: E402
from scheduler.cache import SchedulerCache, request_of  # noqa: E402
from scheduler.config import SchedulerSettings  # noqa: E402
from scheduler.framework import schedule  # noqa: E402
from schemas.quantity import parse_bytes  # noqa: E402

CPUS = (0.1, 0.25, 0.5, 1.0, 2.0)
MEMORY = ("64Mi", "128Mi", "256Mi", "512Mi", "1Gi", "2Gi")
DISK = ("1Gi", "5Gi", "10Gi")




def container(i: int, rng: random.Random) -> Obj:
    spec: Obj = {"image": "busybox", "cpu": rng.choice(CPUS), "memory": rng.choice(MEMORY), "disk": rng.choice(DISK)}
    if i % 20 == 0:
        spec["nodeSelector"] = {"zone": f"zone-{i % 3}"}
    if i % 10 == 5:
        spec["antiAffinity"] = {"group": f"g{i // 50}", "mode": "preferred"}
    return {"metadata": {"name": f"b-{i:06d}"}, "spec": spec}


def overcommitted(nodes: list[Obj], containers: list[Obj]) -> int:
    used: dict[str, list[float]] = {}
    for c in containers:
        node = c["spec"].get("nodeName")
        if not node:
            continue
        acc = used.setdefault(node, [0.0, 0, 0, 0])
        acc[0] += c["spec"].get("cpu") or 0
        acc[1] += parse_bytes(c["spec"]["memory"]) if c["spec"].get("memory") else 0
        acc[2] += parse_bytes(c["spec"]["disk"]) if c["spec"].get("disk") else 0
        acc[3] += 1
    bad = 0
    for node in nodes:
        alloc = node["status"]["allocatable"]
        acc = used.get(node["metadata"]["name"], [0.0, 0, 0, 0])
        if (acc[0] > alloc["cpu"] + 1e-6 or acc[1] > alloc["memory"] or acc[2] > alloc["disk"]
                or acc[3] > alloc["containers"]):
            bad += 1
    return bad


def decisions_per_second(nodes: list[Obj], containers: list[Obj], *, count: int, seed: int) -> float:
    """The scheduling algorithm alone, in this process, over the cluster as it ended: no API, no binds."""
    cache = SchedulerCache()
    for node in nodes:
        cache.update_node(node)
    for c in containers:
        cache.update_container(c["metadata"]["name"], c)
    settings = SchedulerSettings(seed=seed)
    filters, scorers, rng = settings.filter_plugins(), settings.score_plugins(), random.Random(seed)
    requests = [request_of(container(i, rng) | {"metadata": {"name": f"d-{i:06d}"}}) for i in range(count)]
    started = time.perf_counter()
    for request in requests:
        decision = schedule(request, cache.table, filters=filters, scorers=scorers, rng=rng)
        if decision.node is not None:
            cache.assume(request.name, decision.node, request)
    return count / (time.perf_counter() - started)


class Bench(Processes):
    def __init__(self, args: argparse.Namespace, tmp: Path) -> None:
        super().__init__(tmp)
        self.args = args

    def start_control_plane(self) -> dict[str, str]:
        client, peer = free_port(), free_port()
        etcd = shutil.which("etcd")
        if etcd is None:
            raise SystemExit("etcd is not installed; `make deps` installs etcd-server")
        self.spawn("etcd", etcd_argv(self.tmp / "etcd", client, peer, "--quota-backend-bytes", str(4 * 2**30), binary=etcd))
        wait_http(f"http://127.0.0.1:{client}/health")
        token_file = self.tmp / "tokens"
        token = TokenFile(token_file).add("bench", "admin")
        ports = [free_port() for _ in range(self.args.apiservers)]
        self.urls = [f"http://127.0.0.1:{port}" for port in ports]
        # The components' own config (a DLXC_CONFIG naming no file is an error).
        config = save_config(ClientConfig(server=self.urls[0], token=token), self.tmp / "config.yaml")
        env = {**os.environ, "DLXC_SERVER": self.urls[0], "DLXC_TOKEN": token,
               "DLXC_CONFIG": str(config), "DLXC_LOG_LEVEL": "warning"}
        self.etcd_url = f"http://127.0.0.1:{client}"
        self.apiservers = [self.spawn(f"apiserver{i}", dlxc_argv(
            "apiserver", "--port", str(port), "--insecure-http",
            "--etcd-endpoints", f"http://127.0.0.1:{client}", "--etcd-prefix", "/bench", "--token-file", str(token_file),
            profile=self.args.profile_apiserver if i == 0 else None,
        ), env) for i, port in enumerate(ports)]
        for url in self.urls:
            wait_http(f"{url}/readyz")
        return env

    def apiserver_cpu(self) -> float:
        return sum(cpu_seconds(p) for p in self.apiservers)

    def etcd_revision(self) -> int:
        """etcd's store revision: it moves by one per write transaction."""
        return etcd_revision(self.etcd_url)

    def sample(self) -> tuple[float, dict[subprocess.Popen, float], int]:
        """(monotonic time, CPU seconds of each control-plane process, etcd revision) now."""
        return time.monotonic(), {p: cpu_seconds(p) for p in (self.scheduler, *self.apiservers, self.hollow)}, self.etcd_revision()

    async def run(self) -> Obj:
        args = self.args
        env = self.start_control_plane()
        config = ClientConfig(server=env["DLXC_SERVER"], token=env["DLXC_TOKEN"])
        started = time.monotonic()
        # With several apiservers the hollow kubelets use the last, the scheduler and this client the first.
        self.hollow = self.spawn("hollow", dlxc_argv(
            "hollow-nodes", "--count", str(args.nodes), "--prefix", "h",
            "--seed", str(args.seed), "--heartbeat-interval", str(args.heartbeat_interval), "--concurrency", "32",
        ), {**env, "DLXC_SERVER": self.urls[-1]})
        async with Client(config, timeout=120) as client:
            while True:
                nodes, _ = await client.list("nodes")
                if len(nodes) >= args.nodes:
                    break
                if self.hollow.poll() is not None:
                    raise SystemExit(f"hollow nodes exited; see {self.tmp / 'hollow.log'}")
                await asyncio.sleep(1.0)
            register_seconds = time.monotonic() - started
            idle = await self.heartbeat_load(config, client)
            created: dict[str, float] = {}
            bound: dict[str, float] = {}
            running: set[str] = set()
            done = asyncio.Event()
            rng = random.Random(args.seed)
            bodies = [container(i, rng) for i in range(args.containers)]
            queue: asyncio.Queue[Obj] = asyncio.Queue()
            for body in bodies:
                queue.put_nowait(body)

            async def creator() -> None:
                while not queue.empty():
                    body = queue.get_nowait()
                    if args.rate:
                        # Paced: the k-th create is due k/rate seconds after the first.
                        due = first + (args.containers - queue.qsize() - 1) / args.rate
                        await asyncio.sleep(max(0.0, due - time.monotonic()))
                    created[body["metadata"]["name"]] = time.monotonic()
                    await client.create("containers", body)

            seen_events = 0

            async def watch(rv: str) -> None:
                nonlocal seen_events
                async with Client(config) as watcher:
                    async for _, obj in watcher.watch("containers", resource_version=rv):
                        name = obj["metadata"]["name"]
                        if name not in created:
                            continue
                        seen_events += 1
                        if obj["spec"].get("nodeName") and name not in bound:
                            bound[name] = time.monotonic()
                        if (obj.get("status") or {}).get("phase") == "Running":
                            running.add(name)
                            # Done once every container is bound and Running: the CPU figure covers the
                            # hollow kubelets' reports too, not only the binds.
                            if len(running) == args.containers:
                                done.set()
                                return

            first = time.monotonic()
            if args.precreate:
                # Every container exists before the scheduler starts: binds do not compete with creates.
                _, rv = await client.list("containers")
                watcher = asyncio.create_task(watch(rv))
                first = time.monotonic()
                await asyncio.gather(*(creator() for _ in range(args.concurrency)))
                create_seconds = time.monotonic() - first
                self.start_scheduler(env)
                before = self.sample()
            else:
                self.start_scheduler(env)
                # The scheduler is synced once it binds a first container.
                await client.create("containers", {"metadata": {"name": "warm-up"}, "spec": {"image": "busybox"}})
                while not (await client.get("containers", "warm-up"))["spec"].get("nodeName"):
                    await asyncio.sleep(0.1)
                _, rv = await client.list("containers")
                watcher = asyncio.create_task(watch(rv))
                before = self.sample()
                first = time.monotonic()
                await asyncio.gather(*(creator() for _ in range(args.concurrency)))
                create_seconds = time.monotonic() - first
            try:
                await asyncio.wait_for(done.wait(), timeout=args.timeout)
            except asyncio.TimeoutError:
                pass
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
            after = self.sample()
            # What the same processes spend anyway over as long with nothing to place (the Lease
            # renewals, the Node status posts, resyncs), measured right after, as bench/exec.py does.
            await asyncio.sleep(after[0] - before[0])
            idle_end = self.sample()
            nodes, _ = await client.list("nodes")
            containers, _ = await client.list("containers")

        last = max(bound.values(), default=first)
        if args.precreate:
            first = min(bound.values(), default=first)  # from the first bind: not the scheduler's start-up
        latencies = [(bound[n] - created[n]) * 1000 for n in bound]
        busy = {p: after[1][p] - before[1][p] for p in after[1]}
        idle_cpu = {p: idle_end[1][p] - after[1][p] for p in after[1]}
        per_container = 1000 / max(1, len(running))
        sched_cpu = busy[self.scheduler]

        def above_idle(procs: list[subprocess.Popen]) -> float:
            return round(per_container * sum(busy[p] - idle_cpu[p] for p in procs), 2)

        self.final = (nodes, containers)
        return {
            "mode": "precreate" if args.precreate else "concurrent",
            "create_rate": args.rate or None,
            "nodes": args.nodes,
            "containers": args.containers,
            "bound": len(bound),
            "running": len(running),
            "binds_per_second": round(len(bound) / (last - first), 1) if bound else 0.0,
            "bind_p50_ms": round(percentile(latencies, 50), 1),
            "bind_p99_ms": round(percentile(latencies, 99), 1),
            "cpu_seconds_per_bind": round(sched_cpu / max(1, len(bound)), 5),
            "overcommitted_nodes": overcommitted(nodes, containers),
            "creates_per_second": round(args.containers / create_seconds, 1),
            "apiservers": len(self.apiservers),
            "apiserver_cpu_seconds": round(sum(busy[p] for p in self.apiservers), 1),
            "hollow_cpu_seconds": round(busy[self.hollow], 1),
            "scheduler_cpu_seconds": round(sched_cpu, 1),
            # The whole control plane's cost of one container, from create to Running: the figure that
            # says how many containers a core can take, whatever the machine's speed.
            "control_plane_cpu_ms_per_container": round(per_container * sum(busy.values()), 2),
            # The same less what the same processes spent idle over as long right after (heartbeats):
            # the part that grows with the containers, whatever the cluster costs at rest.
            "control_plane_cpu_ms_per_container_above_idle": above_idle(list(busy)),
            "above_idle_ms_per_container": {"apiserver": above_idle(self.apiservers), "hollow": above_idle([self.hollow]),
                                            "scheduler": above_idle([self.scheduler])},
            "measured_seconds": round(after[0] - before[0], 1),
            "idle_cpu_seconds": round(sum(idle_cpu.values()), 2),
            # etcd write transactions per container, all writers (creates, binds, status, Events,
            # Node status and Lease writes), and the same less the idle span's.
            "etcd_writes_per_container": round((after[2] - before[2]) / max(1, len(running)), 2),
            "etcd_writes_per_container_above_idle": round(
                ((after[2] - before[2]) - (idle_end[2] - after[2])) / max(1, len(running)), 2),
            # Container watch events one watcher (this script's) got per container: every watcher of
            # all containers (the scheduler, the hollow kubelets) gets as many.
            "watch_events_per_container": round(seen_events / max(1, len(created)), 2),
            "register_seconds": round(register_seconds, 1),
            **idle,
            "heartbeat_interval": args.heartbeat_interval,
            "record_placement": not args.no_placement,
            "bind_concurrency": args.bind_concurrency,
            "bind_batch": args.bind_batch,
        }

    async def heartbeat_load(self, config: ClientConfig, client: Client) -> Obj:
        """What the nodes' heartbeats alone cost the apiserver, over a quiet window before any container."""
        _, rv = await client.list("nodes")
        beats = 0

        async def count() -> None:
            nonlocal beats
            async with Client(config) as watcher:
                async for _ in watcher.watch("nodes", resource_version=rv):
                    beats += 1

        counter = asyncio.create_task(count())
        before, started = self.apiserver_cpu(), time.monotonic()
        await asyncio.sleep(self.args.idle_window)
        cpu, elapsed = self.apiserver_cpu() - before, time.monotonic() - started
        counter.cancel()
        await asyncio.gather(counter, return_exceptions=True)
        return {"heartbeats_per_second": round(beats / elapsed, 1),
                "idle_apiserver_cpu_fraction": round(cpu / elapsed, 3)}

    def start_scheduler(self, env: dict[str, str]) -> None:
        args = self.args
        settings = self.tmp / "scheduler.yaml"
        settings.write_text(json.dumps({"bindConcurrency": args.bind_concurrency, "bindBatch": args.bind_batch,
                                        "recordPlacement": not args.no_placement}))
        self.scheduler = self.spawn("scheduler", dlxc_argv(
            "scheduler", "--seed", str(args.seed), "--config", str(settings), profile=args.profile_scheduler), env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--containers", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32, help="Creates in flight at once.")
    parser.add_argument("--heartbeat-interval", type=float, default=60.0, help="Seconds between beats of one hollow node.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--idle-window", type=float, default=10.0,
                        help="Seconds of heartbeats alone measured before the containers.")
    parser.add_argument("--bind-concurrency", type=int, default=8, help="The scheduler's bind requests in flight.")
    parser.add_argument("--bind-batch", type=int, default=100, help="Binds in one of its requests at most (1: one each).")
    parser.add_argument("--timeout", type=float, default=600.0, help="Seconds to wait for the binds after the creates.")
    parser.add_argument("--keep", action="store_true", help="Keep the temp dir with the logs.")
    parser.add_argument("--rate", type=float, default=0.0,
                        help="Create this many containers per second (default: as fast as the API takes them).")
    parser.add_argument("--no-placement", action="store_true",
                        help="Do not write status.placement (measures what the explanation costs).")
    parser.add_argument("--precreate", action="store_true",
                        help="Create every container first, then start the scheduler (rate from the first bind).")
    parser.add_argument("--apiservers", type=int, default=1,
                        help="Apiserver processes on one etcd (the hollow nodes use the last, the scheduler the first).")
    parser.add_argument("--profile-scheduler", metavar="FILE", help="Run the scheduler under cProfile, stats to FILE.")
    parser.add_argument("--profile-apiserver", metavar="FILE", help="Run the apiserver under cProfile, stats to FILE.")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="dlxc-sched-bench-"))
    bench = Bench(args, tmp)
    try:
        figures = asyncio.run(bench.run())
    finally:
        bench.cleanup()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    # Measured once everything else has stopped, so the figure is the algorithm's, not the machine's load.
    nodes, containers = bench.final
    figures["decisions_per_second_in_process"] = round(decisions_per_second(nodes, containers, count=2000, seed=args.seed))
    for key, value in figures.items():
        print(f"{key:>32}: {value}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
