"""ContainerSets on real LXC: scale 3 -> 5 -> 2, a rolling update never below replicas-1 Running, undo,
a member deleted by hand comes back under its name, a failed update stops and says why, delete leaves nothing."""
from __future__ import annotations

import subprocess
import threading
import time

import pytest

from conftest import Cluster, dlxc
from kubelet_helpers import Api, lxc_state, wait_for

pytestmark = [pytest.mark.lxc, pytest.mark.timeout(420)]

PREFIX = "/apis/dlxc.io/v1"


def _members(api: Api) -> dict[str, dict]:
    items = api.http.get(f"{PREFIX}/containers", params={"labelSelector": "dlxc.io/set=web"}).json()["items"]
    return {i["metadata"]["name"]: i for i in items}


def _live_names(api: Api) -> list[str]:
    return sorted(n for n, m in _members(api).items() if not m["metadata"].get("deletionTimestamp"))


def _all_running(api: Api, names: list[str], env_value: str | None = None) -> bool:
    members = _members(api)
    if sorted(n for n, m in members.items()) != names:
        return False
    return all(m["status"].get("phase") == "Running" and (env_value is None or m["spec"]["env"].get("V") == env_value)
               for m in members.values())


def _set(api: Api) -> dict:
    return api.get("web", "containersets")


class RunningCounter(threading.Thread):
    """Samples the number of Running members every 50 ms, to check a rollout's floor."""

    def __init__(self, api: Api) -> None:
        super().__init__(daemon=True)
        self.api, self.low, self.done = api, 99, threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            running = sum(1 for m in _members(self.api).values()
                          if m["status"].get("phase") == "Running" and not m["metadata"].get("deletionTimestamp"))
            self.low = min(self.low, running)
            time.sleep(0.05)


def test_set_lifecycle(cluster: Cluster) -> None:
    nodes = [cluster.add_node(), cluster.add_node()]
    env = cluster.api.env()
    api = Api(cluster)
    try:
        wait_for(lambda: len([n for n in api.list("nodes") if any(c["type"] == "Ready" and c["status"] == "True"
                                                                   for c in n["status"].get("conditions", []))]) == 2,
                 timeout=60, what="2 Ready nodes")
        body = {"metadata": {"name": "web"},
                "spec": {"replicas": 3, "template": {"metadata": {"labels": {"app": "web"}},
                                                     "spec": {"image": "busybox", "memory": "64Mi", "env": {"V": "1"}}}}}
        assert api.http.post(f"{PREFIX}/containersets", json=body).status_code == 201
        wait_for(lambda: _all_running(api, ["web-0", "web-1", "web-2"]), timeout=120, what="3 members Running")
        # Spread: preferred anti-affinity puts members on both nodes.
        assert {m["spec"]["nodeName"] for m in _members(api).values()} == {n.name for n in nodes}

        assert dlxc("scale", "set/web", "--replicas", "5", env=env).returncode == 0
        wait_for(lambda: _all_running(api, [f"web-{i}" for i in range(5)]), timeout=120, what="5 members Running")
        assert dlxc("scale", "set/web", "--replicas", "2", env=env).returncode == 0
        wait_for(lambda: _live_names(api) == ["web-0", "web-1"], timeout=60, what="web-4, web-3, web-2 to go")
        wait_for(lambda: _all_running(api, ["web-0", "web-1"]), timeout=120, what="web-2..4 deleted")
        on_hosts = {name for node in nodes for name in ("web-0", "web-1", "web-2", "web-3", "web-4")
                    if lxc_state(node.lxc_path, name) != "MISSING"}
        assert on_hosts == {"web-0", "web-1"}

        # A member deleted by hand comes back with the same name.
        uid = _members(api)["web-1"]["metadata"]["uid"]
        api.delete("web-1")
        wait_for(lambda: _members(api).get("web-1", {}).get("metadata", {}).get("uid") not in (None, uid), timeout=60,
                 what="web-1 re-created")
        wait_for(lambda: _all_running(api, ["web-0", "web-1"]), timeout=120, what="web-1 Running again")

        # Rolling update with maxUnavailable 1: never fewer than 2 of 3 Running.
        assert dlxc("scale", "set/web", "--replicas", "3", env=env).returncode == 0
        wait_for(lambda: _all_running(api, ["web-0", "web-1", "web-2"]), timeout=120, what="3 members Running")
        counter = RunningCounter(api)
        counter.start()
        api.patch("web", {"spec": {"template": {"spec": {"env": {"V": "2"}}}}}, plural="containersets")
        result = dlxc("rollout", "status", "set/web", "--timeout", "180s", env=env, timeout=200)
        counter.done.set()
        counter.join()
        assert result.returncode == 0, result.stdout + result.stderr
        assert _all_running(api, ["web-0", "web-1", "web-2"], env_value="2")
        assert counter.low == 2

        # Undo goes back to V=1, again member by member.
        assert dlxc("rollout", "undo", "set/web", env=env).stdout == "set/web rolled back to revision 1\n"
        assert dlxc("rollout", "status", "set/web", "--timeout", "180s", env=env, timeout=200).returncode == 0
        assert _all_running(api, ["web-0", "web-1", "web-2"], env_value="1")

        # An image no node has: the first replaced member fails, the update stops there and says why.
        api.patch("web", {"spec": {"template": {"spec": {"image": "no-such-image"}},
                                   "updateStrategy": {"progressDeadline": "30s"}}}, plural="containersets")
        failed = dlxc("rollout", "status", "set/web", "--timeout", "120s", env=env, timeout=140)
        assert failed.returncode == 1
        assert "set/web: rollout failed: member web-2" in failed.stdout
        assert [m["spec"]["image"] for n, m in sorted(_members(api).items())] == ["busybox", "busybox", "no-such-image"]
        events = api.http.get(f"{PREFIX}/events", params={"fieldSelector": "involvedObject.kind=ContainerSet,involvedObject.name=web"}).json()["items"]
        assert any(e["spec"]["reason"] == "UpdateFailed" for e in events)

        # Delete: every member, then the set; nothing left on the hosts.
        assert dlxc("delete", "set/web", env=env).returncode == 0
        wait_for(lambda: api.http.get(f"{PREFIX}/containersets/web").status_code == 404, timeout=120, what="the set to go")
        assert _members(api) == {}
        assert all(lxc_state(node.lxc_path, f"web-{i}") == "MISSING" for node in nodes for i in range(5))
    finally:
        api.close()


def test_autoscale_real_cpu(cluster: Cluster) -> None:
    """Burn CPU in the one member: replicas go up; stop it: they come back down only after the window."""
    node = cluster.add_node(args=["--metrics-interval", "1"])
    api = Api(cluster)
    burner = None
    try:
        wait_for(lambda: len(api.list("nodes")) == 1, timeout=60, what="the node")
        body = {"metadata": {"name": "web"},
                "spec": {"replicas": 1, "template": {"spec": {"image": "busybox", "cpu": 0.5, "memory": "32Mi"}},
                         "autoscale": {"min": 1, "max": 3, "targetCPUPercent": 50, "period": "2s", "scaleDownStabilization": "8s"}}}
        assert api.http.post(f"{PREFIX}/containersets", json=body).status_code == 201
        wait_for(lambda: _all_running(api, ["web-0"]), timeout=120, what="web-0 Running")
        # One busy loop: 0.5 cores of the 0.5 it may use is 100% of its request, twice the target.
        burner = subprocess.Popen(["lxc-attach", "-P", str(node.lxc_path), "-n", "web-0", "--", "sh", "-c", "while :; do :; done"])
        wait_for(lambda: _set(api)["spec"]["replicas"] >= 2, timeout=60, what="a scale-up")
        burner.kill()
        burner.wait()
        subprocess.run(["lxc-attach", "-P", str(node.lxc_path), "-n", "web-0", "--", "killall", "sh"], capture_output=True)
        calm = time.monotonic()
        wait_for(lambda: _set(api)["spec"]["replicas"] == 1, timeout=90, what="the scale-down")
        assert time.monotonic() - calm >= 6  # not before the stabilization window (8 s, less the sampling lag)

        def autoscale_events() -> list[str]:
            events = api.http.get(f"{PREFIX}/events", params={"fieldSelector": "involvedObject.kind=ContainerSet,involvedObject.name=web"}).json()["items"]
            return [e["spec"]["message"] for e in events if e["spec"]["reason"] == "Autoscale"]

        # The event is written just after spec.replicas: give it its moment.
        wait_for(lambda: any(" -> 1: " in m for m in autoscale_events()), timeout=10, what="the scale-down's Autoscale event")
        autoscale = autoscale_events()
        assert any(m.startswith("replicas 1 -> ") for m in autoscale), autoscale
        described = dlxc("describe", "set", "web", env=cluster.api.env()).stdout
        assert "Autoscale decisions:" in described
    finally:
        if burner is not None and burner.poll() is None:
            burner.kill()
            burner.wait()
        api.close()
