"""Keeps this host's part of the cluster network current: VXLAN peers from the Nodes, names and cluster isolation from the Containers."""
from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from typing import Any

from dlxc.client.api import Client
from dlxc.client.informer import Informer
from dlxc.tasks import cancel_and_wait
from kubelet import isolation, overlay
from kubelet.names import HostsFiles, cluster_lines, hosts_content
from kubelet.settings import KubeletSettings
from schemas.base import Obj
from schemas.container import Network

__all__ = ["ClusterNet", "on_cluster_network"]

log = logging.getLogger("dlxc.kubelet")


def on_cluster_network(network: Network | None) -> bool:
    """Whether a stored container is on the cluster network. The apiserver writes `spec.network` into
    every container it creates there; one without it was stored before the cluster network existed
    and stays on the node bridge it was on."""
    return network is not None and network.type == "cluster"


class ClusterNet:
    """Two informers (all Nodes, all Containers) and one loop that writes the FDB and the hosts files.

    Level-triggered: any change sets a flag, and a sync recomputes everything from the caches, so
    a burst of events costs one sync, and a periodic sync repairs an entry someone removed by hand.
    """

    def __init__(self, client: Client, settings: KubeletSettings, *, resync_interval: float = 10.0) -> None:
        self.settings = settings
        self.devices: overlay.OverlayDevices | None = None
        self.hosts = HostsFiles(settings.lxc_path / ".hosts")
        self.nodes = Informer(client, "nodes", self._changed)
        self.containers = Informer(client, "containers", self._changed)
        self.changed = asyncio.Event()
        self.resync_interval = resync_interval
        self.synced_once = asyncio.Event()
        # The isolation rules last loaded, and when: loaded again when they change, and every
        # REAPPLY seconds anyway, so a table someone removed by hand comes back.
        self.isolation_loaded: tuple[str, float] | None = None

    REAPPLY = 30.0

    async def _changed(self, name: str, old: Obj | None, new: Obj | None) -> None:
        self.changed.set()

    def resolve_address(self, server: str) -> None:
        """The tunnel address (before the Node is registered, which reports it): the flag's, or the
        local address that reaches `server`."""
        if self.settings.advertise_address is None:
            self.settings.advertise_address = overlay.detect_address(server)

    def ensure_devices(self, server: str) -> None:
        """Create the bridge (blocking); the sync loop writes the FDB only once this is done."""
        self.resolve_address(server)
        assert self.settings.advertise_address is not None
        devices = overlay.OverlayDevices(
            self.settings.cluster_bridge, self.settings.cluster_cidr, self.settings.advertise_address,
            vni=self.settings.vxlan_id, port=self.settings.vxlan_port, nat=self.settings.outbound_nat,
        )
        devices.ensure()
        self.devices = devices

    def check_address(self, ipv4: str | None, *, name: str) -> ipaddress.IPv4Interface:
        """The container's cluster address, or ValueError saying why it cannot be used on this node."""
        if not ipv4:
            raise ValueError(f"container {name} is on the cluster network but has no spec.network.ipv4 "
                             "(the apiserver gives every container on it one: is it older than the cluster network?)")
        iface = ipaddress.IPv4Interface(ipv4)
        if iface.network != self.settings.cluster_cidr:
            raise ValueError(f"spec.network.ipv4 {ipv4} is not in this node's cluster network {self.settings.cluster_cidr} "
                             "(the kubelet's --cluster-cidr must be the apiserver's)")
        return iface

    def sync(self) -> None:
        """One pass (blocking): the FDB from Nodes and Containers, then every local hosts file."""
        nodes = list(self.nodes.cache.values())
        containers = list(self.containers.cache.values())
        if self.devices is not None:
            wanted = overlay.desired_fdb(nodes, containers, node_name=self.settings.node_name, local=str(self.devices.local))
            if wanted:
                self.devices.ensure_vxlan()
            if wanted or self.devices.vxlan_exists():
                fdb_plan = overlay.plan_fdb(overlay.read_fdb(self.devices.vxlan), wanted)
                if fdb_plan:
                    log.info("overlay: adding %d and removing %d forwarding entries", len(fdb_plan.add), len(fdb_plan.remove))
                    overlay.apply_fdb(self.devices.vxlan, fdb_plan)
            self._isolate(containers)
        # This node's containers: bound here, or still in the lxcpath (this watch may lag the
        # kubelet's own, and a file must not vanish under a container about to start).
        local = {
            obj["metadata"]["name"] for obj in containers
            if (obj.get("spec") or {}).get("nodeName") == self.settings.node_name
        }
        if self.settings.lxc_path.is_dir():
            local |= {p.name for p in self.settings.lxc_path.iterdir() if (p / "config").is_file()}
        members = {obj["metadata"]["name"]: lines for obj in containers if (lines := cluster_lines(obj)) is not None}
        self.hosts.update(hosts_content(containers), local, members)

    def _isolate(self, containers: list[Obj]) -> None:
        assert self.devices is not None
        text = isolation.isolation_rules(isolation.table_name(self.devices.bridge), isolation.cluster_addresses(containers),
                                         self.devices.network)
        now = time.monotonic()
        if self.isolation_loaded is not None and self.isolation_loaded[0] == text and now - self.isolation_loaded[1] < self.REAPPLY:
            return
        if isolation.apply(text):
            self.isolation_loaded = (text, now)

    async def run(self) -> None:
        tasks: list[asyncio.Task[Any]] = [asyncio.create_task(self.nodes.run()), asyncio.create_task(self.containers.run())]
        try:
            await self.nodes.synced.wait()
            await self.containers.synced.wait()
            while True:
                self.changed.clear()
                try:
                    await asyncio.to_thread(self.sync)
                except Exception:
                    log.exception("cluster network sync failed; retrying")
                    await asyncio.sleep(1.0)
                    self.changed.set()
                self.synced_once.set()
                try:
                    await asyncio.wait_for(self.changed.wait(), self.resync_interval)
                    await asyncio.sleep(0.05)  # one sync for a burst of events
                except asyncio.TimeoutError:
                    pass
        finally:
            await cancel_and_wait(*tasks)
