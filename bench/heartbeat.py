"""Heartbeat benchmark: N hollow nodes renewing their Leases at the real kubelet's defaults, idle.

    .venv/bin/python bench/heartbeat.py --nodes 5000

Every component is its own process: etcd, `dlxc apiserver` (serving TLS, as a real cluster does,
unless --insecure-http), `dlxc controller`, and `dlxc hollow-nodes` (N nodes, each a `NodeLease` renewing every second, as a real kubelet). Once every
node has its Lease, it measures over a quiet window: the apiserver's CPU (% of one core), etcd's
writes per second (put + delete + txn counters from etcd's own /metrics), the hollow process's CPU,
and how old the renewTime of a sample of Leases is (proof the renewals happen). Then one more
node, run in this process with the same code, goes silent; `detect_s` is the time until the
controller marks it NotReady. It never fails on a time; the last line is one JSON object.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from harness import Processes, cpu_seconds, etcd_argv, free_port, wait_http  # noqa: E402

from apiserver.auth import TokenFile  # noqa: E402
from dlxc.client.api import Client  # noqa: E402
from dlxc.client.config import ClientConfig, save_config  # noqa: E402
from dlxc.cluster.pki import ensure_pki  # noqa: E402
from dlxc.sim.hollow import HollowNode, HollowNodes  # noqa: E402

WRITES = re.compile(r"^etcd_mvcc_(put|delete|txn)_total(?:\{[^}]*\})? ([0-9.e+]+)$", re.M)


def etcd_writes(metrics_url: str) -> float:
    """Puts, deletes and transactions etcd has applied (its own counters)."""
    return sum(float(v) for _, v in WRITES.findall(httpx.get(metrics_url, timeout=5).text))


def ready(node: dict) -> str | None:
    return next((c["status"] for c in node.get("status", {}).get("conditions", []) if c["type"] == "Ready"), None)


class Bench(Processes):
    def __init__(self, args: argparse.Namespace, tmp: Path) -> None:
        super().__init__(tmp)
        self.args = args

    def start(self) -> dict[str, str]:
        client, peer = free_port(), free_port()
        etcd = shutil.which("etcd")
        if etcd is None:
            raise SystemExit("etcd is not installed; `make deps` installs etcd-server")
        self.spawn("etcd", etcd_argv(self.tmp / "etcd", client, peer, binary=etcd))
        self.etcd_metrics = f"http://127.0.0.1:{client}/metrics"
        wait_http(f"http://127.0.0.1:{client}/health")
        token_file = self.tmp / "tokens"
        token = TokenFile(token_file).add("bench", "admin")
        port = free_port()
        # TLS by default, as a real cluster serves it (`dlxc init`'s CA and server certificate).
        ca: str | None = None
        serving = ["--insecure-http"]
        if not self.args.insecure_http:
            pki = ensure_pki(self.tmp / "pki", hosts=["127.0.0.1"])
            ca, serving = str(pki.ca_cert), ["--tls-cert-file", str(pki.server_cert), "--tls-private-key-file", str(pki.server_key)]
        server = f"{'http' if ca is None else 'https'}://127.0.0.1:{port}"
        config = save_config(ClientConfig(server=server, token=token, certificate_authority=ca), self.tmp / "config.yaml")
        env = {**os.environ, "DLXC_SERVER": server, "DLXC_TOKEN": token, "DLXC_CONFIG": str(config), "DLXC_LOG_LEVEL": "warning"}
        self.config = ClientConfig(server=server, token=token, certificate_authority=ca)
        self.apiserver = self.spawn("apiserver", [
            sys.executable, "-m", "dlxc", "apiserver", "--port", str(port), *serving,
            "--etcd-endpoints", f"http://127.0.0.1:{client}", "--etcd-prefix", "/bench", "--token-file", str(token_file),
        ], env)
        wait_http(f"{server}/readyz", verify=ca or True)
        self.spawn("controller", [sys.executable, "-m", "dlxc", "controller", "--no-leader-elect"], env)
        self.hollow = self.spawn("hollow", [
            sys.executable, "-m", "dlxc", "hollow-nodes", "--count", str(self.args.nodes), "--prefix", "h", "--concurrency", "32",
            "--heartbeat-interval", str(self.args.status_interval),
        ], env)
        return env

    async def renew_ages(self, client: Client, names: list[str]) -> list[float]:
        """Seconds since each sampled Lease's renewTime, as the apiserver answers it."""
        now = datetime.now(timezone.utc)
        ages = []
        for name in names:
            lease = await client.get("leases", name)
            renewed = datetime.fromisoformat(lease["spec"]["renewTime"].replace("Z", "+00:00"))
            ages.append((now - renewed).total_seconds())
        return ages

    async def detect(self, client: Client) -> float:
        """Seconds from a node going silent to the controller marking it NotReady."""
        victim = HollowNodes(client, [HollowNode("victim", 2, 2**32, 2**34, 10)])
        task = asyncio.create_task(victim.run())
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if ready(await client.get("nodes", "victim")) == "True" and await client.get("leases", "victim"):
                    break
            except Exception:  # noqa: BLE001 - not registered yet
                pass
            await asyncio.sleep(0.2)
        await asyncio.sleep(2.0)  # a few renewals in steady state
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        silent = time.monotonic()
        while time.monotonic() - silent < 60:
            if ready(await client.get("nodes", "victim")) != "True":
                return time.monotonic() - silent
            await asyncio.sleep(0.05)
        return float("nan")

    async def run(self) -> dict:
        args = self.args
        self.start()
        config = self.config
        started = time.monotonic()
        async with Client(config, timeout=120) as client:
            while True:
                leases, _ = await client.list("leases")
                present = len([lease for lease in leases if lease["metadata"]["name"].startswith("h-")])
                if present >= args.nodes or time.monotonic() - started > args.register_timeout:
                    break
                if self.hollow.poll() is not None:
                    raise SystemExit(f"hollow nodes exited; see {self.tmp / 'hollow.log'}")
                await asyncio.sleep(1.0)
            register_s = time.monotonic() - started
            await asyncio.sleep(args.settle)
            sample = random.Random(0).sample([f"h-{i:05d}" for i in range(args.nodes)], min(20, args.nodes))
            events = {"leases": 0, "nodes": 0}

            async def count(plural: str) -> None:
                _, rv = await client.list(plural) if plural == "nodes" else (None, leases_rv)
                async for _ in client.watch(plural, resource_version=rv):
                    events[plural] += 1

            _, leases_rv = await client.list("leases")
            counters = [asyncio.create_task(count(plural)) for plural in events]
            writes0, cpu0, hollow0, t0 = etcd_writes(self.etcd_metrics), cpu_seconds(self.apiserver), cpu_seconds(self.hollow), time.monotonic()
            await asyncio.sleep(args.window)
            elapsed = time.monotonic() - t0
            for counter in counters:
                counter.cancel()
            await asyncio.gather(*counters, return_exceptions=True)
            writes = etcd_writes(self.etcd_metrics) - writes0
            apiserver_cpu = cpu_seconds(self.apiserver) - cpu0
            hollow_cpu = cpu_seconds(self.hollow) - hollow0
            ages = await self.renew_ages(client, sample)
            detect_s = await self.detect(client)
        return {
            "nodes": args.nodes,
            "register_s": round(register_s, 1),
            "leases_present": present,  # below nodes: the renewals did not keep up
            "window_s": round(elapsed, 1),
            "apiserver_cpu_pct": round(100 * apiserver_cpu / elapsed, 1),
            "hollow_cpu_pct": round(100 * hollow_cpu / elapsed, 1),
            "etcd_writes_per_s": round(writes / elapsed, 1),
            "lease_writes_per_s": round(events["leases"] / elapsed, 1),  # the heartbeats' share of etcd's writes
            "node_status_writes_per_s": round(events["nodes"] / elapsed, 1),
            "renew_age_max_s": round(max(ages), 2),
            "detect_s": round(detect_s, 2),
            "tls": not args.insecure_http,
            "per_renewal_us": {"apiserver": round(1e6 * apiserver_cpu / (elapsed * args.nodes), 1),
                               "hollow": round(1e6 * hollow_cpu / (elapsed * args.nodes), 1)},  # CPU per renewal (one a second per node)
            "load_avg_1m": round(os.getloadavg()[0], 1),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument("--status-interval", type=float, default=10.0,
                        help="Seconds between two looks at a hollow node's status (the kubelet's --status-interval); it is posted only when due, as a kubelet's is.")
    parser.add_argument("--settle", type=float, default=5.0, help="Seconds after the last Lease appears before measuring.")
    parser.add_argument("--window", type=float, default=20.0, help="Seconds measured.")
    parser.add_argument("--register-timeout", type=float, default=300.0,
                        help="Measure anyway after this many seconds, even if not every node has its Lease.")
    parser.add_argument("--keep", action="store_true", help="Keep the temp dir with the logs.")
    parser.add_argument("--insecure-http", action="store_true",
                        help="Serve plain HTTP on loopback (the figures before TLS was measured) instead of TLS as a real cluster does.")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="dlxc-heartbeat-bench-"))
    bench = Bench(args, tmp)
    try:
        figures = asyncio.run(bench.run())
    finally:
        bench.cleanup()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    for key, value in figures.items():
        print(f"{key:>20}: {value}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
