"""Failover benchmark: 3 network-namespace nodes, 30 busybox containers, power loss of one node.

Prints the detection time (until the node is NotReady), the time until each moved container is
Running elsewhere (p50 and max) and how many containers were ever seen running on two nodes in
the same sample (must be 0). Needs root, etcd and LXC; the last line is one JSON object.

    sudo .venv/bin/python bench/failover.py [--containers 30] [--nodes 3]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "e2e"))

from netnodes import NetCluster  # noqa: E402


def start_etcd(data: Path) -> tuple[subprocess.Popen, str]:
    import socket

    ports = []
    for _ in range(2):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            ports.append(sock.getsockname()[1])
    client, peer = ports
    log = (data / "etcd.log").open("wb")
    proc = subprocess.Popen(
        ["etcd", "--name", "bench", "--data-dir", str(data / "etcd"),
         "--listen-client-urls", f"http://127.0.0.1:{client}", "--advertise-client-urls", f"http://127.0.0.1:{client}",
         "--listen-peer-urls", f"http://127.0.0.1:{peer}", "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
         "--initial-cluster", f"bench=http://127.0.0.1:{peer}"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    return proc, f"http://127.0.0.1:{client}"


async def snapshot(cluster: NetCluster) -> tuple[dict[str, dict], dict[str, dict]]:
    async with cluster.client() as c:
        containers, _ = await c.list("containers")
        nodes, _ = await c.list("nodes")
    return {o["metadata"]["name"]: o for o in containers}, {o["metadata"]["name"]: o for o in nodes}


def ready(node: dict) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in node["status"].get("conditions", []))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--containers", type=int, default=30)
    parser.add_argument("--nodes", type=int, default=3)
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="dlxc-bench-failover-"))
    root.chmod(0o711)
    (root / "images").mkdir(mode=0o711)
    (root / "run").mkdir()
    etcd, endpoint = start_etcd(root / "run")
    cluster = NetCluster(endpoint, root / "run", root, root / "images", max_nodes=args.nodes)
    try:
        time.sleep(1.0)
        cluster.start()
        for _ in range(args.nodes):
            cluster.add_node()
        # Every node Ready before the first create, or the first to register gets them all.
        deadline = time.monotonic() + 120
        while True:
            _, nodes = asyncio.run(snapshot(cluster))
            if sum(ready(n) for n in nodes.values()) >= args.nodes:
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"{args.nodes} nodes were not Ready within 120s")
            time.sleep(0.2)

        async def create() -> None:
            async with cluster.client() as c:
                for i in range(args.containers):
                    await c.create("containers", {"metadata": {"name": f"fo-{i}"}, "spec": {
                        "image": "busybox", "antiAffinity": {"group": "bench", "mode": "preferred"}}})

        asyncio.run(create())
        started = time.monotonic()
        while True:
            containers, _ = asyncio.run(snapshot(cluster))
            if len(containers) == args.containers and all(o["status"].get("phase") == "Running" for o in containers.values()):
                break
            if time.monotonic() - started > 300:
                raise SystemExit("containers did not all reach Running in 300s")
            time.sleep(0.5)
        print(f"{args.containers} containers Running on {args.nodes} nodes after {time.monotonic() - started:.1f}s")
        by_node: dict[str, list[str]] = {}
        for name, obj in containers.items():
            by_node.setdefault(obj["spec"]["nodeName"], []).append(name)
        lost = max(cluster.nodes, key=lambda n: len(by_node.get(n.name, [])))
        moved = sorted(by_node.get(lost.name, []))
        print(f"power loss of {lost.name} holding {len(moved)} containers")

        t0 = time.monotonic()
        cluster.power_loss(lost)
        detect = None
        recovered: dict[str, float] = {}
        doubles: set[str] = set()
        while time.monotonic() - t0 < 60 and len(recovered) < len(moved):
            containers, nodes = asyncio.run(snapshot(cluster))
            now = time.monotonic() - t0
            if detect is None and not ready(nodes[lost.name]):
                detect = now
            for name in moved:
                obj = containers[name]
                if name not in recovered and obj["spec"].get("nodeName") not in (None, lost.name) and obj["status"].get("phase") == "Running":
                    recovered[name] = now
            seen: dict[str, int] = {}
            for node in cluster.nodes:
                for name in node.running():
                    seen[name] = seen.get(name, 0) + 1
            doubles |= {name for name, count in seen.items() if count > 1}
            time.sleep(0.1)
        times = sorted(recovered.values())
        result = {
            "nodes": args.nodes,
            "containers": args.containers,
            "moved": len(moved),
            "recovered": len(recovered),
            "detect_s": round(detect, 2) if detect is not None else None,
            "recover_p50_s": round(statistics.median(times), 2) if times else None,
            "recover_max_s": round(times[-1], 2) if times else None,
            "double_running": len(doubles),
        }
        print(f"detected after {result['detect_s']}s; {len(recovered)}/{len(moved)} Running elsewhere, "
              f"p50 {result['recover_p50_s']}s, max {result['recover_max_s']}s; seen running twice: {len(doubles)}")
        print(json.dumps(result))
    finally:
        cluster.close()
        etcd.terminate()
        etcd.wait(10)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
