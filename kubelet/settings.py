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
    # The stream server (exec, attach, logs; kubelet/streams.py): on only with a certificate. Port 0
    # picks a free one; the Node status publishes host:port either way.
    stream_cert_file: Path | None = None
    stream_key_file: Path | None = None
    stream_client_ca_file: Path | None = None  # the CA that signs the apiserver's client certificate
    stream_host: str = "0.0.0.0"
    stream_port: int = 0
    stream_advertise_address: str = ""  # default: the bind address, or the one this host reaches the apiserver from
