"""Small synchronous helpers the kubelet e2e tests share: the API over httpx, and LXC as the host sees it."""
from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx

from conftest import Cluster, Node

__all__ = ["Api", "init_pid", "lxc_state", "wait_for"]

T = TypeVar("T")
PREFIX = "/apis/dlxc.io/v1"


def wait_for(predicate: Callable[[], T], *, timeout: float, what: str, interval: float = 0.1) -> T:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
        except httpx.HTTPError as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")


class Api:
    """The cluster's API as the admin sees it."""

    def __init__(self, cluster: Cluster) -> None:
        self.http = httpx.Client(base_url=cluster.api.url, headers={"Authorization": f"Bearer {cluster.api.token}"}, timeout=10)

    def close(self) -> None:
        self.http.close()

    def create(self, name: str, node: Node, **spec: Any) -> dict:
        body = {"metadata": {"name": name}, "spec": {"image": "busybox", "nodeSelector": {}, **spec}}
        response = self.http.post(f"{PREFIX}/containers", json=body)
        assert response.status_code == 201, response.text
        return response.json()

    def get(self, name: str, plural: str = "containers") -> dict:
        response = self.http.get(f"{PREFIX}/{plural}/{name}")
        response.raise_for_status()
        return response.json()

    def exists(self, name: str) -> bool:
        return self.http.get(f"{PREFIX}/containers/{name}").status_code == 200

    def list(self, plural: str = "containers") -> list[dict]:
        response = self.http.get(f"{PREFIX}/{plural}")
        response.raise_for_status()
        return response.json()["items"]

    def patch(self, name: str, patch: dict, plural: str = "containers") -> dict:
        response = self.http.patch(f"{PREFIX}/{plural}/{name}", json=patch)
        assert response.status_code == 200, response.text
        return response.json()

    def delete(self, name: str) -> None:
        response = self.http.delete(f"{PREFIX}/containers/{name}")
        assert response.status_code in (200, 404), response.text

    def status(self, name: str) -> dict:
        return self.get(name).get("status", {})

    def phase(self, name: str) -> str | None:
        return self.status(name).get("phase")

    def condition(self, name: str, kind: str) -> dict | None:
        return next((c for c in self.status(name).get("conditions", []) if c["type"] == kind), None)


def lxc_state(lxc_path: Path, name: str) -> str:
    result = subprocess.run(["lxc-info", "-P", str(lxc_path), "-n", name, "-s", "-H"], capture_output=True, text=True)
    return result.stdout.strip() if result.returncode == 0 else "MISSING"


def init_pid(lxc_path: Path, name: str) -> int:
    result = subprocess.run(["lxc-info", "-P", str(lxc_path), "-n", name, "-p", "-H"], capture_output=True, text=True)
    text = result.stdout.strip()
    return int(text) if text.isdigit() else -1


def kill_init(lxc_path: Path, name: str) -> int:
    pid = init_pid(lxc_path, name)
    assert pid > 0, f"{name} has no init"
    os.kill(pid, signal.SIGKILL)
    return pid


def power_off_from_inside(lxc_path: Path, name: str) -> None:
    """Run busybox's `poweroff` in the container: a halt of its own, not one dlxc made.

    poweroff signals init and init's shutdown sends SIGTERM to every process, the attached
    poweroff too when it has not exited yet: exit 143 is that race, not a failure.
    """
    result = subprocess.run(["lxc-attach", "-P", str(lxc_path), "-n", name, "--", "/sbin/poweroff"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode in (0, 128 + signal.SIGTERM), f"poweroff in {name}: exit {result.returncode} {result.stderr}"
