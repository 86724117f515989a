"""The dashboard screenshots in docs/, taken in Debian's chromium from a simulated cluster (`make screenshots`).

    .venv/bin/python bench/screenshots.py --out docs

The cluster is the UI benchmark's (bench/ui.py): etcd, an apiserver, hollow nodes, the real
scheduler and controller. The hollow nodes serve made-up usage to the apiserver as kubelets serve
theirs (`dlxc hollow-nodes --serve-usage`: within each container's limits, an hour of history), so
the usage columns and charts fill by the real path; the events on the pages are posted here as
kubelets post theirs (hollow nodes post none).
"""
from __future__ import annotations

import argparse
import asyncio
import shutil
import signal
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ui import UiCluster, browser_session  # noqa: E402

NODES = 8
APPS = (("web", 6, 0.5, "512Mi"), ("api", 8, 1.0, "1Gi"), ("db", 3, 2.0, "4Gi"), ("cache", 4, 0.25, "256Mi"),
        ("worker", 12, 1.0, "1Gi"), ("cron", 4, 0.1, "64Mi"))


def bodies() -> list[dict]:
    out = []
    for app, count, cpu, memory in APPS:
        for i in range(count):
            out.append({"metadata": {"name": f"{app}-{i + 1}", "labels": {"app": app}},
                        "spec": {"image": "debian:bookworm" if app in ("db", "worker") else "busybox", "cpu": cpu,
                                 "memory": memory, "disk": "5Gi", "antiAffinity": {"group": app, "mode": "preferred"}}})
    return out


def stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def record_events(cluster: UiCluster) -> None:
    """Events as kubelets post them (hollow nodes post none): a crash loop and a start."""
    now = stamp(datetime.now(timezone.utc))
    for name, involved, kind, reason, message, count in (
        ("worker-3-backoff", "worker-3", "Warning", "BackOff", "exited with code 1; restarting in 40s", 5),
        ("web-1-started", "web-1", "Normal", "Started", "started on node (image busybox)", 1),
        ("web-1-restarted", "web-1", "Normal", "Restarted", "restarted on request (dlxc.io/restartedAt)", 1),
    ):
        body = {"metadata": {"name": name}, "spec": {"involvedObject": {"kind": "Container", "name": involved}, "type": kind,
                                                     "reason": reason, "message": message, "source": {"component": "kubelet"}},
                "status": {"count": count, "firstTimestamp": now, "lastTimestamp": now}}
        httpx.post(f"{cluster.url}/apis/dlxc.io/v1/events", json=body, headers={"Authorization": f"Bearer {cluster.token}"},
                   timeout=30).raise_for_status()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs"))
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # end the cluster's processes when stopped
    args.out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="dlxc-ui-shots-"))
    cluster = UiCluster(tmp)
    try:
        cluster.start(nodes=NODES, seed=3, controller=True, usage_interval=30.0)
        asyncio.run(cluster.populate(bodies(), nodes=NODES))
        headers = {"Authorization": f"Bearer {cluster.token}"}
        # One that fits nowhere: the scheduler's FailedScheduling warning and a Pending container.
        httpx.post(f"{cluster.url}/apis/dlxc.io/v1/containers", headers=headers, timeout=30,
                   json={"metadata": {"name": "batch-huge"}, "spec": {"image": "busybox", "cpu": 512}}).raise_for_status()
        nodes = httpx.get(f"{cluster.url}/apis/dlxc.io/v1/nodes", headers=headers, timeout=30).json()["items"]
        httpx.patch(f"{cluster.url}/apis/dlxc.io/v1/nodes/{nodes[-1]['metadata']['name']}", headers=headers, timeout=30,
                    json={"spec": {"unschedulable": True}}).raise_for_status()
        record_events(cluster)
        from playwright.sync_api import sync_playwright

        with sync_playwright() as pw:
            with browser_session(pw, cluster) as page:
                page.goto(f"{cluster.url}/ui/")
                page.wait_for_selector("html[data-live=open]", state="attached")
                page.screenshot(path=str(args.out / "dashboard-overview.png"))
                page.goto(f"{cluster.url}/ui/containers/web-1")
                page.wait_for_selector(".chart .uplot")
                page.screenshot(path=str(args.out / "dashboard-container.png"), full_page=True)
            with browser_session(pw, cluster, width=390, height=844, dark=True) as page:
                page.goto(f"{cluster.url}/ui/containers?sort=cpu&desc=1")
                page.screenshot(path=str(args.out / "dashboard-phone-dark.png"))
    finally:
        cluster.close()
        shutil.rmtree(tmp, ignore_errors=True)
    for name in ("dashboard-overview.png", "dashboard-container.png", "dashboard-phone-dark.png"):
        print(args.out / name)


if __name__ == "__main__":
    main()
