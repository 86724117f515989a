"""Containers that stop on their own: restart policy, crash-loop backoff, restart requests, external stops."""
from __future__ import annotations

import subprocess
import time
from datetime import datetime, timezone

import pytest

from conftest import Cluster
from kubelet_helpers import Api, init_pid, kill_init, lxc_state, power_off_from_inside, wait_for

pytestmark = [pytest.mark.lxc, pytest.mark.timeout(240)]

BACKOFF = ["--restart-backoff-base", "2", "--restart-backoff-cap", "4"]


def running(api: Api, name: str) -> bool:
    return api.phase(name) == "Running"


def test_restart_policies_and_crash_loop_backoff(cluster: Cluster) -> None:
    node = cluster.add_node(args=BACKOFF)
    api = Api(cluster)
    try:
        for name, policy in (("always", "Always"), ("onfail", "OnFailure"), ("never", "Never"), ("halter", "OnFailure")):
            api.create(name, node, restartPolicy=policy, network={"type": "none"})
        for name in ("always", "onfail", "never", "halter"):
            wait_for(lambda: running(api, name), timeout=60, what=f"{name} Running")
            wait_for(lambda: api.status(name).get("startedAt"), timeout=10, what=f"{name} startedAt")

        # Always: the first crash restarts at once and says how init ended.
        first = kill_init(node.lxc_path, "always")
        wait_for(lambda: api.status("always").get("restartCount") == 1 and running(api, "always"), timeout=15, what="restart 1")
        assert init_pid(node.lxc_path, "always") not in (first, -1)
        last = api.status("always")["lastExit"]
        assert (last["reason"], last["signal"], last["backoffSeconds"]) == ("Signaled", 9, 0)

        # The second crash soon after waits out the backoff (2 s) with a CrashLoopBackOff condition.
        kill_init(node.lxc_path, "always")
        cond = wait_for(lambda: (c := api.condition("always", "CrashLoopBackOff")) and c["status"] == "True" and c,
                        timeout=10, what="CrashLoopBackOff True")
        assert cond["reason"] == "BackOff"
        assert cond["message"] == "back-off 2s restarting: it was killed by signal 9 (SIGKILL)"
        assert api.phase("always") == "Failed"
        assert lxc_state(node.lxc_path, "always") == "STOPPED"
        began = time.monotonic()
        wait_for(lambda: api.status("always").get("restartCount") == 2 and running(api, "always"), timeout=15, what="restart 2")
        assert time.monotonic() - began > 0.5
        assert api.condition("always", "CrashLoopBackOff")["status"] == "False"

        # A third crash doubles the delay to the cap.
        kill_init(node.lxc_path, "always")
        wait_for(lambda: api.status("always").get("lastExit", {}).get("backoffSeconds") == 4, timeout=10, what="backoff 4")
        wait_for(lambda: api.status("always").get("restartCount") == 3 and running(api, "always"), timeout=20, what="restart 3")

        # OnFailure: a kill is a failure, so it comes back; a halt from inside is not.
        kill_init(node.lxc_path, "onfail")
        wait_for(lambda: api.status("onfail").get("restartCount") == 1 and running(api, "onfail"), timeout=15, what="onfail back")
        power_off_from_inside(node.lxc_path, "halter")
        wait_for(lambda: api.phase("halter") == "Stopped", timeout=20, what="halter Stopped")
        status = api.status("halter")
        assert status["message"] == "it halted; restartPolicy OnFailure does not restart it"
        assert (status["lastExit"]["reason"], status.get("restartCount", 0)) == ("Completed", 0)

        # Never: even a crash leaves it down, and it stays down.
        kill_init(node.lxc_path, "never")
        wait_for(lambda: api.phase("never") == "Failed", timeout=15, what="never Failed")
        assert api.status("never")["message"] == "it was killed by signal 9 (SIGKILL); restartPolicy Never does not restart it"
        time.sleep(3)
        assert lxc_state(node.lxc_path, "never") == "STOPPED"
        assert lxc_state(node.lxc_path, "halter") == "STOPPED"

        # A restart request starts even a container the policy holds down, once.
        stamp = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
        api.patch("never", {"metadata": {"annotations": {"dlxc.io/restartedAt": stamp}}})
        wait_for(lambda: running(api, "never") and api.status("never").get("observedRestartAt") == stamp, timeout=20, what="never restarted")
    finally:
        api.close()


def test_restart_request_is_honoured_once_and_external_stop_is_repaired(cluster: Cluster) -> None:
    node = cluster.add_node(args=BACKOFF)
    api = Api(cluster)
    try:
        api.create("web", node, network={"type": "none"})
        wait_for(lambda: running(api, "web"), timeout=60, what="Running")
        pid = init_pid(node.lxc_path, "web")

        stamp = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
        api.patch("web", {"metadata": {"annotations": {"dlxc.io/restartedAt": stamp}}})
        wait_for(lambda: api.status("web").get("observedRestartAt") == stamp and running(api, "web"), timeout=30, what="restart honoured")
        second = init_pid(node.lxc_path, "web")
        assert second not in (pid, -1)
        # Once: a resync or an unrelated change does not restart it again.
        api.patch("web", {"metadata": {"labels": {"touched": "yes"}}})
        time.sleep(3)
        assert init_pid(node.lxc_path, "web") == second
        assert api.status("web").get("restartCount", 0) == 0

        # Stopped behind our back: seen within about a second and started again.
        subprocess.run(["lxc-stop", "-P", str(node.lxc_path), "-n", "web", "--kill"], check=True, timeout=30)
        stopped = time.monotonic()
        wait_for(lambda: lxc_state(node.lxc_path, "web") == "RUNNING", timeout=10, what="web started again", interval=0.05)
        print(f"external stop repaired in {time.monotonic() - stopped:.2f}s")
        assert time.monotonic() - stopped < 5
        wait_for(lambda: api.status("web").get("restartCount") == 1, timeout=10, what="restartCount 1")
    finally:
        api.close()
