"""The scanner and `dlxc adopt`: a hand-made LXC container is listed, left alone, then taken over in place."""
from __future__ import annotations

import subprocess
from datetime import datetime, timezone

import pytest

from conftest import Cluster, dlxc
from kubelet_helpers import Api, init_pid, lxc_state, wait_for

pytestmark = [pytest.mark.lxc, pytest.mark.timeout(180)]


def unmanaged(api: Api, node) -> list[dict]:
    return api.get(node.name, "nodes")["status"].get("unmanagedContainers", [])


@pytest.mark.allow_privileged  # the hand-made container is privileged, as lxc-create makes them
def test_scan_clash_and_adopt_in_place(cluster: Cluster) -> None:
    node = cluster.add_node()
    api = Api(cluster)
    try:
        created = subprocess.run(["lxc-create", "-P", str(node.lxc_path), "-n", "hand", "-t", "busybox"], capture_output=True, text=True, timeout=60)
        assert created.returncode == 0, created.stderr
        config = node.lxc_path / "hand" / "config"
        # No lxcbr0 here: loopback only, as a user might have it.
        config.write_text("\n".join(l for l in config.read_text().splitlines() if not l.startswith("lxc.net.0.")) + "\nlxc.net.0.type = empty\n")
        subprocess.run(["lxc-start", "-P", str(node.lxc_path), "-n", "hand"], check=True, timeout=30)
        marker = node.lxc_path / "hand" / "rootfs" / "root" / "user-data.txt"
        marker.write_text("precious\n")
        pid = init_pid(node.lxc_path, "hand")
        original = config.read_text()

        # The scanner runs every 10 s: it may first have seen hand before it was started.
        listed = wait_for(lambda: (found := unmanaged(api, node)) and found[0]["state"] == "RUNNING" and found,
                          timeout=30, what="the scanner to list hand running")
        assert listed == [{"name": "hand", "lxcPath": str(node.lxc_path), "state": "RUNNING",
                           "rootfs": f"dir:{node.lxc_path}/hand/rootfs", "privileged": True}]

        # A Container of the same name that is not an adoption is refused, and its deletion leaves hand alone.
        api.create("hand", node, network={"type": "none"})
        wait_for(lambda: api.phase("hand") == "Failed", timeout=30, what="clash Failed")
        assert api.status("hand")["message"] == (
            f"an LXC container hand that dlxc did not make exists on node {node.name}; "
            f"adopt it with `dlxc adopt {node.name} hand` or choose another name")
        api.delete("hand")
        wait_for(lambda: not api.exists("hand"), timeout=30, what="clash object gone")
        assert config.read_text() == original and init_pid(node.lxc_path, "hand") == pid

        env = cluster.api.env()
        refused = dlxc("adopt", node.name, "ghost", env=env)
        assert (refused.returncode, refused.stderr) == (1, f"error: node {node.name} lists no unmanaged LXC container 'ghost' (it lists: hand)\n")
        result = dlxc("adopt", node.name, "hand", env=env)
        assert (result.returncode, result.stdout) == (0, f"container/hand adopted on node {node.name}\n"), result.stderr

        # Taken over in place: same init, same rootfs, dlxc's config written for the next start.
        wait_for(lambda: api.phase("hand") == "Running" and api.condition("hand", "Adopted"), timeout=30, what="adopted Running")
        assert init_pid(node.lxc_path, "hand") == pid
        assert config.read_text().startswith("# Written by the dlxc kubelet")
        assert f"lxc.rootfs.path = dir:{node.lxc_path}/hand/rootfs" in config.read_text()
        wait_for(lambda: unmanaged(api, node) == [], timeout=30, what="no longer listed as unmanaged")

        # From now on it is like any other: a restart boots it with dlxc's config, on the same rootfs.
        stamp = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
        api.patch("hand", {"metadata": {"annotations": {"dlxc.io/restartedAt": stamp}}})
        wait_for(lambda: api.status("hand").get("observedRestartAt") == stamp and api.phase("hand") == "Running", timeout=30, what="restarted")
        new_pid = init_pid(node.lxc_path, "hand")
        assert new_pid not in (pid, -1)
        assert marker.read_text() == "precious\n"
        assert lxc_state(node.lxc_path, "hand") == "RUNNING"
    finally:
        api.close()
