"""A real container that halts by itself: `dlxc wait` says at once that it will not come back, and
`dlxc start` (its spec already says Running) really starts it again."""
from __future__ import annotations

import time

import pytest
from conftest import Cluster, dlxc
from kubelet_helpers import Api, power_off_from_inside, wait_for

pytestmark = [pytest.mark.lxc, pytest.mark.timeout(180)]


def test_start_brings_back_a_container_that_halted(cluster: Cluster) -> None:
    node = cluster.add_node()
    api = Api(cluster)
    env = cluster.api.env()
    try:
        api.create("halter", node, restartPolicy="OnFailure", network={"type": "none"})
        wait_for(lambda: api.phase("halter") == "Running" and api.status("halter").get("startedAt"), timeout=60, what="Running")
        power_off_from_inside(node.lxc_path, "halter")
        wait_for(lambda: api.phase("halter") == "Stopped", timeout=20, what="halter Stopped")

        began = time.monotonic()
        waited = dlxc("wait", "container", "halter", "--for", "phase=running", "--timeout", "60s", env=env)
        assert time.monotonic() - began < 15
        assert (waited.returncode, waited.stderr) == (
            1, "error: container/halter will not reach phase Running: "
               "Stopped: it halted; restartPolicy OnFailure does not restart it\n",
        )

        started = dlxc("start", "halter", env=env)
        assert (started.returncode, started.stdout, started.stderr) == (0, "container/halter start requested (it was Stopped)\n", "")
        waited = dlxc("wait", "container", "halter", "--for", "phase=Running", "--timeout", "60s", env=env)
        assert (waited.returncode, waited.stdout.splitlines()[-1]) == (0, "container/halter condition met: phase Running")
        obj = api.get("halter")
        assert obj["status"]["observedRestartAt"] == obj["metadata"]["annotations"]["dlxc.io/restartedAt"]
    finally:
        api.close()
