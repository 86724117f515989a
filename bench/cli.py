"""Benchmark of the `dlxc` command's own latency: `--help`, `get containers` with 100 containers,
and `apply -f` of one container, each as a fresh process the way a user runs it, next to the
floor of starting the same Python at all (`python -c pass`), against a real apiserver over a real etcd.

Run: .venv/bin/python bench/cli.py [--containers 100] [--runs 10]
The last line printed is one JSON object with the medians. It never fails on a time.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from apiserver.auth import TokenFile  # noqa: E402
from harness import PREFIX, etcd_argv, free_port, wait_http  # noqa: E402

# The installed console script, as a user types it; `python -m dlxc` when there is none.
DLXC = [str(Path(sys.executable).parent / "dlxc")] if (Path(sys.executable).parent / "dlxc").exists() else [sys.executable, "-m", "dlxc"]


def timed(args: list[str], *, env: dict[str, str], runs: int) -> float:
    """Median wall time in ms of `runs` fresh processes; a failing run stops the bench."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run(args, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        times.append((time.perf_counter() - started) * 1000)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} exited {done.returncode}: {done.stderr.strip()[-500:]}")
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--containers", type=int, default=100)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="dlxc-bench-cli-"))
    client_port, peer_port, api_port = free_port(), free_port(), free_port()
    procs: list[subprocess.Popen] = []
    try:
        with (tmp / "etcd.log").open("wb") as log:
            procs.append(subprocess.Popen(
                etcd_argv(tmp / "etcd", client_port, peer_port),
                stdout=log, stderr=subprocess.STDOUT,
            ))
        wait_http(f"http://127.0.0.1:{client_port}/health")
        token = TokenFile(tmp / "tokens").add("bench", "admin")
        with (tmp / "apiserver.log").open("wb") as log:
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "dlxc", "apiserver", "--insecure-http", "--port", str(api_port),
                 "--etcd-endpoints", f"http://127.0.0.1:{client_port}", "--etcd-prefix", f"/bench-{uuid.uuid4().hex[:6]}",
                 "--token-file", str(tmp / "tokens"), "--log-level", "warning"],
                stdout=log, stderr=subprocess.STDOUT, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
            ))
        url = f"http://127.0.0.1:{api_port}"
        wait_http(f"{url}/readyz")
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
            for i in range(args.containers):
                http.post(f"{PREFIX}/containers", json={"metadata": {"name": f"c-{i}"}, "spec": {"image": "busybox"}}).raise_for_status()

        # A client config file names the server, as `dlxc up` writes it; nothing in the environment.
        config = tmp / "config.yaml"
        config.write_text(f"server: {url}\ntoken: {token}\n")
        env = {k: v for k, v in os.environ.items() if k not in ("DLXC_SERVER", "DLXC_TOKEN")}
        env.update(DLXC_CONFIG=str(config), DLXC_INVENTORY_DIR=str(tmp / "inventory"), XDG_STATE_HOME=str(tmp / "state"))
        manifest = tmp / "one.yaml"
        manifest.write_text("name: one\nimage: busybox\nmemory_limit: 256\n")
        floor = timed([sys.executable, "-c", "pass"], env=env, runs=args.runs)
        help_ms = timed([*DLXC, "--help"], env=env, runs=args.runs)
        get_ms = timed([*DLXC, "get", "containers"], env=env, runs=args.runs)
        apply_ms = timed([*DLXC, "apply", "-f", str(manifest)], env=env, runs=args.runs)
        print(f"python -c pass {floor:.0f} ms; dlxc --help {help_ms:.0f} ms; dlxc get containers ({args.containers}) "
              f"{get_ms:.0f} ms; dlxc apply -f (one container) {apply_ms:.0f} ms (medians of {args.runs})", flush=True)
        print(json.dumps({
            "help_ms": round(help_ms, 1),
            "get_ms": round(get_ms, 1),
            "apply_ms": round(apply_ms, 1),
            "python_floor_ms": round(floor, 1),
            "containers": args.containers,
            "runs": args.runs,
        }))
    except BaseException:
        for name in ("apiserver.log", "etcd.log"):
            path = tmp / name
            if path.exists():
                sys.stderr.write(f"--- last lines of {name}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-30:]) + "\n")
        raise
    finally:
        for proc in reversed(procs):
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
