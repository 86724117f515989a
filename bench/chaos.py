"""Chaos soak: a client writes containers while components are killed, stopped and cut off; nothing may be lost or run twice.

    sudo .venv/bin/python bench/chaos.py --minutes 10

3 network-namespace nodes (real kubelets, real LXC), 3 etcd members, 2 apiservers, 2 schedulers
and 2 controllers, each its own process (tests/e2e/chaosnet.py). For --minutes a client applies,
updates and deletes busybox containers at --rate operations per second while, every --interval
seconds, the chaos loop does one of: kill -9 a random component (etcd member included) and start
it again, SIGSTOP one for 10 s, partition a node's namespace for 3-20 s, restart a kubelet.
Checked all along: no container runs on two nodes at once (LXC on every node, every 0.5 s).
Checked after the chaos: every write the API acknowledged is there (or superseded by a later
acknowledged write); within --converge seconds every object's node runs it and nothing else runs
it, no container is left without an object, and no veth, cgroup or process of a gone container
is left. The last line is one JSON object: operations, faults, lost_writes, double_running,
converge_s, leaks (and the details of each breach). Traffic goes only to loopback and the
namespaces made here; everything made is removed, also on Ctrl-C.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "e2e"))

from chaosnet import ChaosCluster  # noqa: E402

from dlxc.client.errors import AlreadyExists, ApiError, NotFound  # noqa: E402
from kubelet.settings import KubeletSettings  # noqa: E402

IMAGE = {"image": "busybox"}


class Ledger:
    """What the API acknowledged, per container: the last acknowledged state wins; a write whose answer
    was lost (a timeout, a broken connection) makes the name uncertain until the next acknowledged one."""

    def __init__(self) -> None:
        self.state: dict[str, dict | None] = {}  # name -> acknowledged spec subset, None = deleted
        self.uncertain: set[str] = set()
        self.breaches: list[str] = []  # seen while writing: an acknowledged object the API says is gone
        self.history: dict[str, list[str]] = {}  # name -> "T op outcome [resourceVersion]", to explain a breach

    def note(self, name: str, entry: str) -> None:
        self.history.setdefault(name, []).append(f"{time.strftime('%H:%M:%S')} {entry}")

    def acked(self, name: str, spec: dict | None) -> None:
        self.state[name] = spec
        self.uncertain.discard(name)

    def unknown(self, name: str) -> None:
        self.uncertain.add(name)


async def client_loop(cluster: ChaosCluster, ledger: Ledger, *, rate: float, stop: asyncio.Event, rng: random.Random, counts: dict) -> None:
    async with cluster.client() as c:
        n = 0
        next_at = time.monotonic()
        while not stop.is_set():
            next_at += 1.0 / rate
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            live = [name for name, spec in ledger.state.items() if spec is not None and name not in ledger.uncertain]
            op = rng.choice(["apply", "apply", "update", "delete"]) if len(live) >= 3 else "apply"
            if len(live) >= 12 and op == "apply":
                op = rng.choice(["update", "delete"])  # keep the population small: 3 small nodes
            if op == "apply":
                n += 1
                name = f"ch{cluster.tag}-{n:05d}"  # this run's own: the cgroup check finds no one else's
                spec = {**IMAGE, "env": {"GEN": "0"}}
                call = c.create("containers", {"metadata": {"name": name}, "spec": spec})
            elif op == "update":
                name = rng.choice(live)
                spec = {**IMAGE, "env": {"GEN": str(int(time.time() * 1000))}}
                call = c.patch("containers", name, {"spec": {"env": spec["env"]}})
            else:
                name, spec = rng.choice(live), None
                call = c.delete("containers", name)
            counts["operations"] += 1
            try:
                answer = await asyncio.wait_for(call, 10)
            except NotFound:
                ledger.note(name, f"{op} NotFound")
                if op != "apply" and name not in ledger.uncertain and ledger.state.get(name) is not None:
                    ledger.breaches.append(f"{name}: acknowledged, but {op} found it gone")
                    print(f"BREACH: {ledger.breaches[-1]}", flush=True)
                ledger.unknown(name)
            except AlreadyExists:
                ledger.note(name, f"{op} AlreadyExists")
                counts["rejected"] += 1  # a create whose answer was lost did commit
                ledger.unknown(name)
            except (ApiError, asyncio.TimeoutError) as exc:
                ledger.note(name, f"{op} failed: {getattr(exc, 'message', None) or type(exc).__name__}")
                counts["failed"] += 1
                ledger.unknown(name)
            else:
                meta = (answer or {}).get("metadata", {}) if isinstance(answer, dict) else {}
                ledger.note(name, f"{op} ok rv={meta.get('resourceVersion')} deleting={bool(meta.get('deletionTimestamp'))}")
                ledger.acked(name, spec)


def sample_double_running(cluster: ChaosCluster, stop: threading.Event, doubles: dict[str, float]) -> None:
    """Every 0.5 s: names running on more than one node, from LXC in each namespace."""
    while not stop.is_set():
        started = time.monotonic()
        seen: dict[str, int] = {}
        for node in cluster.nodes:
            for name in node.running():
                seen[name] = seen.get(name, 0) + 1
        for name, count in seen.items():
            if count > 1 and name not in doubles:
                doubles[name] = time.time()
                print(f"BREACH: {name} running on {count} nodes", flush=True)
        stop.wait(max(0.0, 0.5 - (time.monotonic() - started)))


def chaos_loop(cluster: ChaosCluster, *, interval: float, stop: threading.Event, rng: random.Random, faults: list[str],
               partition: tuple[float, float] = (3.0, 20.0)) -> None:
    kinds: list[str] = []
    while not stop.wait(interval):
        if not kinds:  # every kind of fault once per round, in a random order
            kinds = rng.sample(["kill", "stop", "partition", "kubelet"], 4)
        kind = kinds.pop()
        if kind == "kill":
            component = rng.choice(list(cluster.components.values()))
            faults.append(f"kill -9 {component.name}")
            component.kill()
            stop.wait(1.0)
            component.start()
        elif kind == "stop":
            component = rng.choice(list(cluster.components.values()))
            faults.append(f"SIGSTOP {component.name} 10s")
            component.pause()
            stop.wait(10.0)
            component.resume()
        elif kind == "partition":
            node = rng.choice(cluster.nodes)
            seconds = rng.uniform(*partition)
            faults.append(f"partition {node.name} {seconds:.0f}s")
            cluster.partition(node)
            stop.wait(seconds)
            cluster.heal(node)
        else:
            node = rng.choice(cluster.nodes)
            faults.append(f"restart kubelet {node.name}")
            cluster.restart_kubelet(node)
        print(f"fault: {faults[-1]}", flush=True)


async def lost_writes(cluster: ChaosCluster, ledger: Ledger) -> list[str]:
    """Names whose last acknowledged write is not what the API holds."""
    async with cluster.client() as c:
        items, _ = await c.list("containers")
    held = {o["metadata"]["name"]: o for o in items if not o["metadata"].get("deletionTimestamp")}
    lost = list(ledger.breaches)
    for name, spec in ledger.state.items():
        if name in ledger.uncertain:
            continue
        obj = held.get(name)
        if spec is None and obj is not None:
            lost.append(f"{name}: deleted (acknowledged) but still there at rv {obj['metadata'].get('resourceVersion')} "
                        f"on {obj['spec'].get('nodeName')}; history: {ledger.history.get(name)}")
        elif spec is not None and obj is None:
            lost.append(f"{name}: acknowledged but gone; history: {ledger.history.get(name)}")
        elif spec is not None and obj is not None and obj["spec"].get("env") != spec["env"]:
            lost.append(f"{name}: env {obj['spec'].get('env')} != acknowledged {spec['env']}")
    return lost


async def divergence(cluster: ChaosCluster) -> list[str]:
    """What keeps the cluster from having converged: objects not running where bound, copies elsewhere, orphans."""
    async with cluster.client() as c:
        items, _ = await c.list("containers")
    objects = {o["metadata"]["name"]: o for o in items}
    problems = []
    running = {node.name: node.running() for node in cluster.nodes}
    defined = {node.name: node.defined() for node in cluster.nodes}
    for name, obj in objects.items():
        bound = obj["spec"].get("nodeName")
        if obj["metadata"].get("deletionTimestamp"):
            problems.append(f"{name}: still terminating")
            continue
        if not bound:
            problems.append(f"{name}: not bound")
            continue
        if name not in running.get(bound, set()):
            problems.append(f"{name}: bound to {bound}, not running there ({obj['status'].get('phase')})")
        elif obj["status"].get("phase") != "Running" or obj["status"].get("observedGeneration") != obj["metadata"].get("generation"):
            problems.append(f"{name}: running but status is {obj['status'].get('phase')} "
                            f"gen {obj['status'].get('observedGeneration')}/{obj['metadata'].get('generation')}")
    for node in cluster.nodes:
        for name in defined[node.name] | running[node.name]:
            obj = objects.get(name)
            if obj is None or obj["spec"].get("nodeName") != node.name:
                problems.append(f"{name}: orphan container on {node.name}")
    return problems


def leaks(cluster: ChaosCluster) -> list[str]:
    """Veths, cgroups and processes left by containers that no longer run anywhere."""
    found = []
    running = set().union(*(node.running() for node in cluster.nodes))
    for node in cluster.nodes:
        links = node.in_ns("ip", "-o", "link", "show", "type", "veth", check=False).stdout
        veths = [line.split(":")[1].strip().split("@")[0] for line in links.splitlines() if ":" in line]
        extra = len([v for v in veths if v != node.veth_ns]) - len(node.running())
        if extra > 0:
            found.append(f"{node.name}: {extra} veth(s) more than running containers: {veths}")
        bridges = node.in_ns("ip", "-o", "link", "show", "type", "bridge", check=False).stdout
        names = [line.split(":")[1].strip() for line in bridges.splitlines() if ":" in line]
        cluster_bridge = KubeletSettings.model_fields["cluster_bridge"].default  # the overlay's, one per node
        if [b for b in names if b not in (node.bridge, cluster_bridge)]:
            found.append(f"{node.name}: unexpected bridges {names}")
        monitors = subprocess.run(["pgrep", "-f", f"lxc monitor.*{node.lxc_path}"], capture_output=True, text=True).stdout.split()
        if len(monitors) > len(node.running()):
            found.append(f"{node.name}: {len(monitors)} lxc monitor processes for {len(node.running())} running containers")
    cgroups = [*Path("/sys/fs/cgroup").glob(f"lxc.payload.ch{cluster.tag}-*"), *Path("/sys/fs/cgroup").glob(f"*/lxc.payload.ch{cluster.tag}-*")]
    for path in cgroups:
        if path.name.removeprefix("lxc.payload.") not in running:
            found.append(f"cgroup {path} of a container not running")
    return found


def run(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    rng = random.Random(args.seed)
    cluster = ChaosCluster("", root / "run", root, root / "images", max_nodes=3)
    interrupted = []

    def on_signal(signum: int, frame: Any) -> None:
        interrupted.append(signum)
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    try:
        cluster.start()
        for _ in range(3):
            cluster.add_node()

        async def all_ready() -> bool:
            async with cluster.client() as c:
                nodes, _ = await c.list("nodes")
            return sum(any(x["type"] == "Ready" and x["status"] == "True" for x in n["status"].get("conditions", [])) for n in nodes) >= 3

        deadline = time.monotonic() + 180
        while not asyncio.run(all_ready()):
            if time.monotonic() > deadline:
                raise SystemExit(f"3 nodes were not Ready within 180s; logs in {root / 'run'}")
            time.sleep(0.5)

        ledger = Ledger()
        counts = {"operations": 0, "failed": 0, "rejected": 0}
        faults: list[str] = []
        doubles: dict[str, float] = {}
        stop_threads = threading.Event()
        stop_chaos = threading.Event()
        sampler = threading.Thread(target=sample_double_running, args=(cluster, stop_threads, doubles), daemon=True)
        chaos = threading.Thread(target=chaos_loop, args=(cluster,), kwargs={
            "interval": args.interval, "stop": stop_chaos, "rng": random.Random(args.seed + 1), "faults": faults,
            "partition": (args.partition_min, args.partition_max)}, daemon=True)
        sampler.start()
        chaos.start()

        async def soak() -> None:
            stop = asyncio.Event()
            writer = asyncio.create_task(client_loop(cluster, ledger, rate=args.rate, stop=stop, rng=rng, counts=counts))
            await asyncio.sleep(args.minutes * 60)
            stop.set()
            await writer

        asyncio.run(soak())
        stop_chaos.set()
        chaos.join(30)  # a fault under way ends: a stopped component resumes, a partition heals
        for component in cluster.components.values():
            component.resume()
            if not component.alive():
                component.start()
        chaos_over = time.monotonic()
        problems: list[str] = []
        converge_s = None
        while time.monotonic() - chaos_over < args.converge:
            try:
                problems = asyncio.run(divergence(cluster))
            except ApiError as exc:
                problems = [f"API: {exc.message}"]
            if not problems:
                converge_s = time.monotonic() - chaos_over
                break
            time.sleep(0.5)
        lost = asyncio.run(lost_writes(cluster, ledger))
        leaked = leaks(cluster) if converge_s is not None else []
        stop_threads.set()
        sampler.join(10)
        return {
            "minutes": args.minutes,
            "operations": counts["operations"],
            "operations_failed": counts["failed"],
            "faults": len(faults),
            "lost_writes": len(lost),
            "double_running": len(doubles),
            "converge_s": round(converge_s, 1) if converge_s is not None else None,
            "leaks": len(leaked),
            "fault_log": faults,
            "lost": lost[:20],
            "doubles": sorted(doubles),
            "not_converged": problems[:20] if converge_s is None else [],
            "leaked": leaked[:20],
        }
    finally:
        cluster.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--interval", type=float, default=20.0, help="Seconds between two faults.")
    parser.add_argument("--rate", type=float, default=10.0, help="Client operations per second.")
    parser.add_argument("--converge", type=float, default=30.0, help="Seconds allowed to converge after the chaos.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--partition-min", type=float, default=3.0, help="Shortest partition, seconds.")
    parser.add_argument("--partition-max", type=float, default=20.0,
                        help="Longest partition, seconds (past 9 s the node's containers are moved: fencing matters).")
    parser.add_argument("--keep", action="store_true", help="Keep the logs (the temp dir).")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="dlxc-chaos-"))
    root.chmod(0o711)
    (root / "images").mkdir(mode=0o711)
    (root / "run").mkdir()
    try:
        figures = run(args, root)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
        else:
            print(f"logs in {root / 'run'}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
