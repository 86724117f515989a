"""The kubelet's settings, shared by the agent and the parts it is made of."""
from __future__ import annotations

import ipaddress
from pathlib import Path

from pydantic import BaseModel, ConfigDict

__all__ = ["KubeletSettings"]


class KubeletSettings(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    node_name: str
    lxc_path: Path
    image_dir: Path
    bridge: str = "dlxcbr0"
    subnet: ipaddress.IPv4Interface = ipaddress.IPv4Interface("10.77.0.1/24")  # the bridge's own address
    # The cluster network (the apiserver's --cluster-cidr) and this host's bridge of it (kubelet.overlay).
    cluster_cidr: ipaddress.IPv4Network = ipaddress.IPv4Network("10.88.0.0/16")
    cluster_bridge: str = "dlxc0"
    advertise_address: ipaddress.IPv4Address | None = None  # None: the address that reaches the apiserver
    vxlan_id: int = 88
    vxlan_port: int = 4789
    outbound_nat: bool = True  # masquerade the cluster network's traffic to the host's uplink
    heartbeat_interval: float = 2.0
    resync_interval: float = 60.0  # stops, freezes and config edits are caught by the 1 s poll
    state_poll_interval: float = 1.0
    workers: int = 8
    max_containers: int = 100
    # CPU limits are caps, not reservations (as in LXD and Proxmox): a node offers this many
    # times its cores to the scheduler. Memory is never overcommitted.
    cpu_overcommit: float = 4.0
    labels: dict[str, str] = {}
    # Crash-loop backoff: first restart at once, then base seconds doubling up to cap.
    restart_backoff_base: float = 10.0
    restart_backoff_cap: float = 300.0
    metrics_interval: float = 30.0  # 0: no collection
    metrics_port: int = 0  # 0: no /metrics endpoint
    metrics_host: str = "127.0.0.1"
    metrics_file: Path | None = None
    # Other lxcpaths whose containers are listed as unmanaged in the Node status (never touched).
    scan_paths: list[Path] = [Path("/var/lib/lxc")]
    scan_interval: float = 10.0
    # Cached images no container has used for this long are removed (0: never).
    image_gc_after: float = 3600.0
    image_retry_interval: float = 30.0
