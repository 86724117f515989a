"""Which containers the kubelet puts on the cluster network, and whose hosts files a sync keeps."""
from __future__ import annotations

from pathlib import Path

import pytest

from kubelet.clusternet import ClusterNet, on_cluster_network
from kubelet.settings import KubeletSettings
from schemas.container import Network


@pytest.mark.parametrize(
    ("network", "expected"),
    [
        (None, False),
        (Network(type="cluster", ipv4="10.88.0.5/16"), True),
        (Network(type="bridge"), False),
        (Network(type="none"), False),
    ],
    ids=["stored-before-the-cluster-network", "cluster", "bridge", "none"],
)
def test_on_cluster_network(network: Network | None, expected: bool) -> None:
    assert on_cluster_network(network) is expected


def ct(name: str, node: str | None, phase: str = "Running", ipv4: str = "10.88.0.5/16") -> dict:
    return {"metadata": {"name": name}, "spec": {"image": "busybox", "network": {"type": "cluster", "ipv4": ipv4},
                                                 **({"nodeName": node} if node else {})}, "status": {"phase": phase}}


def test_sync_keeps_the_files_of_containers_bound_here_or_still_in_the_lxcpath(tmp_path: Path) -> None:
    settings = KubeletSettings(node_name="n1", lxc_path=tmp_path / "lxc", image_dir=tmp_path / "images")
    net = ClusterNet(None, settings)  # type: ignore[arg-type]  # no API: the caches are filled by hand
    (settings.lxc_path / "starting").mkdir(parents=True)
    (settings.lxc_path / "starting" / "config").write_text("")
    for name in ("bound", "starting", "moved", "gone"):
        net.hosts.ensure(name)
    # "starting" is not bound here in this (lagging) cache yet, but LXC has it: its file stays.
    net.containers.cache = {"bound": ct("bound", "n1"), "starting": ct("starting", None, "Creating"),
                            "moved": ct("moved", "n2", ipv4="10.88.0.6/16")}
    net.sync()
    assert sorted(p.name for p in net.hosts.directory.iterdir()) == ["bound", "starting"]
    assert "10.88.0.6\tmoved moved.dlxc\n" in net.hosts.path("bound").read_text()
    assert "starting" not in net.hosts.path("bound").read_text()
