"""Dashboard benchmark: N containers on M hollow nodes, the containers page in a real browser; the last line is JSON.

    .venv/bin/python bench/ui.py --nodes 50 --containers 1000

Every component is its own process: etcd, `dlxc apiserver` (which serves the dashboard),
`dlxc hollow-nodes`, `dlxc scheduler`; the browser is Debian's chromium under Playwright.
Figures: `first_render_ms`, from navigation start to the load event of the containers page with
every row in it (median of --loads loads; goal <= 1000; `server_ms` of it until the first byte,
`parse_ms` from the last byte to DOMContentLoaded; `first_paint_ms`, the first contentful paint),
and `live_update_p50_ms`/`_p99_ms`, from an
API write (a container's image) to its row showing the new value in the open page, stamped by
a MutationObserver in the page (goal <= 1000). The hollow nodes serve usage (`--serve-usage`, a new
sample every 5 s), so every page load asks all nodes for it and the open page's usage refresh
(every USAGE_REFRESH seconds) redraws rows while the writes are timed: the writes are spread over
`--seconds` (two refreshes by default) and `usage_redraws` counts the rows the refresh redrew.
It never fails on a time.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "e2e"))

from browsers import chromium  # noqa: E402
from harness import Processes, free_port, percentile, wait_http  # noqa: E402

from apiserver.auth import TokenFile  # noqa: E402
from apiserver.ui.site import USAGE_REFRESH  # noqa: E402
from dlxc.client.api import Client  # noqa: E402
from dlxc.client.config import ClientConfig, save_config  # noqa: E402

CHROMIUM = "/usr/bin/chromium"

# Records when each row first shows an image (the time of the change as the user sees it), and
# counts the rows redrawn with the image they had: the usage refresh's redraws.
OBSERVE = """col => {
  window.__seen = {}; window.__image = {}; window.__usageRedraws = 0;
  for (const tr of document.querySelectorAll("#rows tr")) window.__image[tr.id] = tr.children[col].textContent;
  new MutationObserver(records => {
    const now = Date.now();
    for (const r of records) for (const n of r.addedNodes) {
      if (n.nodeType !== 1 || n.tagName !== "TR" || !n.children[col]) continue;
      const image = n.children[col].textContent;
      if (window.__image[n.id] === image) window.__usageRedraws++;
      window.__image[n.id] = image;
      const key = n.id + "|" + image;
      if (!(key in window.__seen)) window.__seen[key] = now;
    }
  }).observe(document.getElementById("rows"), {childList: true});
}"""


class UiCluster(Processes):
    """etcd, an apiserver with the dashboard, hollow nodes and a scheduler, in a temp dir; `close()` ends them."""

    def start(self, *, nodes: int, seed: int = 0, scheduler: bool = True, controller: bool = False,
              usage_interval: float | None = None) -> None:
        """`usage_interval`: the hollow nodes serve usage (a new sample every so many seconds) to the
        apiserver over mutual TLS, as kubelets do; the PKI for it is made here, as `dlxc up` makes it."""
        client, peer = free_port(), free_port()
        etcd = shutil.which("etcd")
        if etcd is None:
            raise SystemExit("etcd is not installed; `make deps` installs etcd-server")
        self.spawn("etcd", [
            etcd, "--name", "ui", "--data-dir", str(self.tmp / "etcd"),
            "--listen-client-urls", f"http://127.0.0.1:{client}", "--advertise-client-urls", f"http://127.0.0.1:{client}",
            "--listen-peer-urls", f"http://127.0.0.1:{peer}", "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
            "--initial-cluster", f"ui=http://127.0.0.1:{peer}",
        ])
        wait_http(f"http://127.0.0.1:{client}/health")
        kubelet_tls: list[str] = []
        serve_usage: list[str] = []
        if usage_interval is not None:
            from dlxc.cluster.pki import ensure_pki, issue_apiserver_client

            pki = ensure_pki(self.tmp / "pki")
            cert, key = issue_apiserver_client(self.tmp / "pki")
            kubelet_tls = ["--kubelet-client-certificate", str(cert), "--kubelet-client-key", str(key),
                           "--kubelet-certificate-authority", str(pki.ca_cert)]
            serve_usage = ["--serve-usage", "--ca-file", str(pki.ca_cert), "--ca-key-file", str(self.tmp / "pki" / "ca.key"),
                           "--usage-interval", str(usage_interval)]
        token_file = self.tmp / "tokens"
        self.token = TokenFile(token_file).add("bench", "admin")
        self.viewer_token = TokenFile(token_file).add("viewer", "viewer")
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        # The components' own config (a DLXC_CONFIG naming no file is an error).
        config = save_config(ClientConfig(server=self.url, token=self.token), self.tmp / "config.yaml")
        self.env = {**os.environ, "DLXC_SERVER": self.url, "DLXC_TOKEN": self.token,
                    "DLXC_CONFIG": str(config), "DLXC_LOG_LEVEL": "warning"}
        self.spawn("apiserver", [
            sys.executable, "-m", "dlxc", "apiserver", "--port", str(port), "--insecure-http",
            "--etcd-endpoints", f"http://127.0.0.1:{client}", "--etcd-prefix", "/ui", "--token-file", str(token_file),
            *kubelet_tls,
        ], self.env)
        wait_http(f"{self.url}/readyz")
        self.hollow = self.spawn("hollow", [sys.executable, "-m", "dlxc", "hollow-nodes", "--count", str(nodes), "--prefix", "node",
                              "--seed", str(seed), "--heartbeat-interval", "10", "--concurrency", "16", *serve_usage], self.env)
        if scheduler:
            self.spawn("scheduler", [sys.executable, "-m", "dlxc", "scheduler"], self.env)
        if controller:
            self.spawn("controller", [sys.executable, "-m", "dlxc", "controller"], self.env)

    def config(self) -> ClientConfig:
        return ClientConfig(server=self.url, token=self.token)

    async def populate(self, bodies: list[dict], *, nodes: int, timeout: float = 300) -> None:
        """Create the containers once every node is registered; return when all of them run."""
        async with Client(self.config(), timeout=120) as client:
            deadline = time.monotonic() + timeout
            while len((await client.list("nodes"))[0]) < nodes:
                if self.hollow.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"hollow nodes did not register; see {self.tmp / 'hollow.log'}")
                await asyncio.sleep(0.5)
            sem = asyncio.Semaphore(16)

            async def create(body: dict) -> None:
                async with sem:
                    await client.create("containers", body)

            await asyncio.gather(*(create(b) for b in bodies))
            while True:
                items, _ = await client.list("containers")
                if sum((c.get("status") or {}).get("phase") == "Running" for c in items) >= len(bodies):
                    return
                if time.monotonic() > deadline:
                    raise SystemExit("containers did not all run in time; see the scheduler and hollow logs")
                await asyncio.sleep(0.5)

    def patch(self, name: str, body: dict) -> None:
        httpx.patch(f"{self.url}/apis/dlxc.io/v1/containers/{name}", json=body,
                    headers={"Authorization": f"Bearer {self.token}"}, timeout=30).raise_for_status()

    def close(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


@contextlib.contextmanager
def browser_session(pw: Any, cluster: UiCluster, *, width: int = 1280, height: int = 800, dark: bool = False,
                    own_netns: bool = False) -> Iterator[Any]:
    """A logged-in dashboard page in Debian's chromium. `own_netns`: chromium in a network namespace of its own,
    its loopback forwarded to the machine's (tests/e2e/browsers.py), for runs beside tests that add and remove
    links (chromium fails its connections on every change); the forwarding hop is in the figures then."""
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"{CHROMIUM} is missing: `make deps` installs Debian's chromium package")
    with contextlib.ExitStack() as stack:
        if own_netns:
            browser = stack.enter_context(chromium(pw))
        else:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], headless=True)
            stack.callback(browser.close)
        context = browser.new_context(viewport={"width": width, "height": height}, color_scheme="dark" if dark else "light")
        page = context.new_page()
        page.goto(f"{cluster.url}/ui/login")
        page.fill("#token", cluster.token)
        page.click("button[type=submit]")
        page.wait_for_url(f"{cluster.url}/ui/")
        yield page


def container(i: int) -> dict:
    return {"metadata": {"name": f"ct-{i:05d}", "labels": {"app": f"app-{i % 7}"}},
            "spec": {"image": "busybox", "cpu": 0.05, "memory": "32Mi", "disk": "1Gi"}}


def measure(cluster: UiCluster, args: argparse.Namespace) -> dict:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw, browser_session(pw, cluster, own_netns=args.browser_netns) as page:
        loads, servers, parsed, paints = [], [], [], []
        for _ in range(args.loads):
            page.goto(f"{cluster.url}/ui/containers")
            rows = page.locator("#rows tr").count()
            if rows != args.containers:
                raise SystemExit(f"the table shows {rows} rows, not {args.containers}")
            nav = page.evaluate("() => performance.getEntriesByType('navigation')[0].toJSON()")
            loads.append(nav["loadEventEnd"] - nav["startTime"])
            servers.append(nav["responseStart"] - nav["requestStart"])
            parsed.append(nav["domContentLoadedEventEnd"] - nav["responseEnd"])
            paints.append(page.evaluate(
                "() => performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? -1"))
        page.wait_for_selector("html[data-live=open]", state="attached")
        # Column of the image: after the checkbox column (admins have one) and name, phase, node, IP.
        page.evaluate(OBSERVE, 5)
        latencies = []
        began = time.monotonic()
        for k in range(args.updates):
            # Spread over --seconds, so the page's usage refreshes fall among the timed writes.
            time.sleep(max(0.0, began + k * args.seconds / args.updates - time.monotonic()))
            name = f"ct-{(k * 37) % args.containers:05d}"
            image = f"busybox-{k}"
            sent = time.time() * 1000
            cluster.patch(name, {"spec": {"image": image}})
            key = f"row-{name}|{image}"
            page.wait_for_function("k => window.__seen[k] !== undefined", arg=key, timeout=30_000)
            latencies.append(page.evaluate("k => window.__seen[k]", key) - sent)
            time.sleep(args.gap)
        usage_redraws = page.evaluate("() => window.__usageRedraws")
    return {
        "containers": args.containers, "nodes": args.nodes, "loads": args.loads, "updates": args.updates,
        "first_render_ms": round(statistics.median(loads), 1), "first_render_max_ms": round(max(loads), 1),
        "server_ms": round(statistics.median(servers), 1), "parse_ms": round(statistics.median(parsed), 1),
        "first_paint_ms": round(statistics.median(paints), 1),
        "live_update_p50_ms": round(percentile(latencies, 50), 1), "live_update_p99_ms": round(percentile(latencies, 99), 1),
        "usage_refresh_s": USAGE_REFRESH, "usage_redraws": usage_redraws, "live_seconds": round(time.monotonic() - began, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=50)
    parser.add_argument("--containers", type=int, default=1000)
    parser.add_argument("--loads", type=int, default=5, help="page loads timed; the median is reported")
    parser.add_argument("--updates", type=int, default=30, help="API writes whose row update is timed")
    parser.add_argument("--browser-netns", action="store_true",
                        help="chromium in a network namespace of its own (for runs beside tests that change links)")
    parser.add_argument("--gap", type=float, default=0.1, help="seconds at least between two timed writes")
    parser.add_argument("--seconds", type=float, default=2 * USAGE_REFRESH + 2,
                        help="the timed writes are spread over this long (two usage refreshes by default)")
    args = parser.parse_args()
    # A run stopped by `timeout` or the test harness still ends its processes (the finally below).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    tmp = Path(tempfile.mkdtemp(prefix="dlxc-ui-bench-"))
    cluster = UiCluster(tmp)
    try:
        cluster.start(nodes=args.nodes, usage_interval=5.0)
        asyncio.run(cluster.populate([container(i) for i in range(args.containers)], nodes=args.nodes))
        figures = measure(cluster, args)
    finally:
        cluster.close()
        shutil.rmtree(tmp, ignore_errors=True)
    figures["load_average_1m"] = round(os.getloadavg()[0], 2)  # the machine is shared: say how busy it was
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
