"""The kubelet's settings, shared by the agent and the parts it is made of: the one source of
every kubelet interval and default (`dlxc kubelet`'s flags only map onto these fields)."""
from __future__ import annotations

import ipaddress
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["KubeletSettings", "LeaseSettings"]


class LeaseSettings(BaseModel):
    # Every renew_interval the Lease is renewed: one small PATCH. Shorter detects faster, costs
    # one write per node per interval on etcd (1,000 nodes at 1 s = 1,000 writes/s).
    renew_interval: float = 1.0
    # No acknowledged renewal for this long: stop the containers that may fail over. Must stay
    # below the controller's node grace + eviction timeout (minus a margin), or a moved container
    # could start elsewhere while its old copy still runs.
    fence_timeout: float = 6.0
    # A renewal that takes longer than this counts as failed (a partitioned link hangs, not fails).
    request_timeout: float = 1.0
    duration_seconds: int = 5  # written into the Lease for readers; the controller uses its own grace

    @model_validator(mode="after")
    def _order(self) -> LeaseSettings:
        if self.fence_timeout <= self.renew_interval:
            raise ValueError(f"fence timeout {self.fence_timeout:g}s must be longer than the renew interval {self.renew_interval:g}s")
        return self


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
    # The heartbeat is the node Lease (lease.renew_interval). Every status_interval the kubelet
    # looks at its Node's status and writes it only if something changed (images, unmanaged
    # containers, a condition someone else set), the coarse usage moved a lot, or it is older than
    # status_max_age (kubelet.usage.status_due); about a second after the container count changed.
    status_interval: float = 10.0
    status_max_age: float = 300.0
    lease: LeaseSettings = Field(default_factory=LeaseSettings)
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
    # Where Backups' archives are written; None: `backups` beside the lxcpath (/var/lib/dlxc/backups).
    # Give every node the same shared mount (NFS) and a container can be restored on, or fail over
    # to, any node from its latest backup.
    backup_dir: Path | None = None
    # The stream server (exec, attach, logs; kubelet/streams.py): on only with a certificate. Port 0
    # picks a free one; the Node status publishes host:port either way.
    stream_cert_file: Path | None = None
    stream_key_file: Path | None = None
    stream_client_ca_file: Path | None = None  # the CA that signs the apiserver's client certificate
    stream_host: str = "0.0.0.0"
    stream_port: int = 0
    # How often the list of live apiservers is read again (GET /apiservers), so the loss of the one
    # this node joined through does not cut it off (kubelet/apiservers.py); 0: never.
    apiserver_refresh_interval: float = 30.0
    # How often the stream serving certificate is checked (at start, then this often); past 2/3 of its
    # lifetime it is renewed from the apiserver (kubelet/certrenewal.py). 0: never.
    cert_check_interval: float = 86400.0
    stream_advertise_address: str = ""  # default: the bind address, or the one this host reaches the apiserver from

    @property
    def backups(self) -> Path:
        return self.backup_dir if self.backup_dir is not None else self.lxc_path.parent / "backups"
