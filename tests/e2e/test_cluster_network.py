"""The cluster network on one host: default addresses, static ones, names in /etc/hosts, refusals."""
from __future__ import annotations

import ipaddress
import subprocess
import time

import pytest

from conftest import Cluster
from kubelet_helpers import Api, wait_for

pytestmark = [pytest.mark.lxc, pytest.mark.timeout(240)]


def attach(node, name: str, *command: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(["lxc-attach", "-P", str(node.lxc_path), "-n", name, "--clear-env", "--", *command],
                            capture_output=True, text=True, timeout=30)
    if check:
        assert result.returncode == 0, result.stderr + result.stdout
    return result


def test_containers_share_the_cluster_network_and_find_each_other_by_name(cluster: Cluster) -> None:
    a, b = cluster.add_node(), cluster.add_node()
    network = ipaddress.IPv4Network(cluster.api.settings.cluster_cidr)
    static = f"{network.network_address + 10}/{network.prefixlen}"
    api = Api(cluster)
    try:
        response = api.http.post("/apis/dlxc.io/v1/containers", json={"metadata": {"name": "pa"}, "spec": {"image": "busybox"}})
        assert response.status_code == 201, response.text
        allocated = response.json()["spec"]["network"]
        assert allocated["type"] == "cluster" and ipaddress.IPv4Interface(allocated["ipv4"]).network == network
        response = api.http.post("/apis/dlxc.io/v1/containers", json={
            "metadata": {"name": "pb"}, "spec": {"image": "busybox", "network": {"ipv4": static}}})
        assert response.status_code == 201, response.text

        # The same static address again: 422 naming the field and the holder; outside the network: 422 too.
        for ipv4, words in ((static, "is taken by container pb"), ("192.0.2.7/24", "outside the cluster network"),
                            (f"{network.network_address + 1}/{network.prefixlen}", "gateway")):
            response = api.http.post("/apis/dlxc.io/v1/containers", json={
                "metadata": {"name": "pc"}, "spec": {"image": "busybox", "network": {"ipv4": ipv4}}})
            assert response.status_code == 422, response.text
            body = response.json()
            assert body["details"][0]["field"] == "spec.network.ipv4" and words in body["details"][0]["message"], body
        # The address cannot be changed by an update.
        response = api.http.patch("/apis/dlxc.io/v1/containers/pb", json={"spec": {"network": {"ipv4": allocated["ipv4"]}}})
        assert response.status_code == 422 and "spec.network.ipv4" in response.text

        for name in ("pa", "pb"):
            wait_for(lambda: api.phase(name) == "Running", timeout=90, what=f"{name} Running")
        nodes = {api.get(n)["spec"]["nodeName"] for n in ("pa", "pb")}
        holder = {n.name: n for n in (a, b)}
        pa_node = holder[api.get("pa")["spec"]["nodeName"]]
        pb_node = holder[api.get("pb")["spec"]["nodeName"]]
        assert api.status("pb")["ip"] == static.split("/")[0]
        assert static in attach(pb_node, "pb", "/bin/busybox", "ip", "-4", "addr", "show", "eth0").stdout
        # By name and by NAME.dlxc, from either node (the scheduler may have put both on one).
        wait_for(lambda: attach(pa_node, "pa", "/bin/busybox", "ping", "-c1", "-W1", "pb", check=False).returncode == 0,
                 timeout=10, what=f"pa pings pb by name (nodes {nodes})")
        out = attach(pb_node, "pb", "/bin/busybox", "ping", "-c1", "-W1", "pa.dlxc").stdout
        assert allocated["ipv4"].split("/")[0] in out

        # Deleted: the name stops resolving in the other container.
        api.delete("pb")
        wait_for(lambda: not api.exists("pb"), timeout=60, what="pb gone")
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline and "pb" in attach(pa_node, "pa", "/bin/cat", "/etc/hosts").stdout:
            time.sleep(0.1)
        result = attach(pa_node, "pa", "/bin/busybox", "ping", "-c1", "-W1", "pb", check=False)
        assert result.returncode != 0 and "bad address" in result.stderr, result

        # Its address is free again: a new container may take it.
        response = api.http.post("/apis/dlxc.io/v1/containers", json={
            "metadata": {"name": "pd"}, "spec": {"image": "busybox", "network": {"ipv4": static}}})
        assert response.status_code == 201, response.text
    finally:
        api.close()
