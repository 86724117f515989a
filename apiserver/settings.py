"""The apiserver's settings: the one source of its defaults (`dlxc apiserver`'s flags map onto them)."""
from __future__ import annotations

import ipaddress
from pathlib import Path

from pydantic import BaseModel

__all__ = ["ApiServerSettings"]


class ApiServerSettings(BaseModel):
    etcd_endpoints: list[str] = ["http://127.0.0.1:2379"]
    etcd_prefix: str = "/dlxc"
    # The URL the other hosts reach this apiserver at (https://ADDRESS:PORT), published in etcd for
    # clients to learn every apiserver (apiserver/endpoints.py); None: not published.
    advertise_url: str | None = None
    token_file: Path | None = None  # None: no authentication (tests of the pure API only)
    ca_file: Path | None = None  # served at /cacert, unauthenticated, for `dlxc join` to check against its --ca-hash
    ca_key_file: Path | None = None  # signs joined kubelets' serving certificates (apiserver/certs.py); handed to a control-plane join
    allow_privileged: bool = False
    allowed_host_paths: list[str] = []  # empty: no host-path mounts at all
    watch_cache_size: int = 10_000  # events of each kind kept in memory for watchers resuming
    watch_queue_size: int = 1_000  # events a watcher may fall behind before it is dropped with 410
    # A node's Lease not renewed for this long is deleted by the apiserver that holds it (renewals are
    # answered from memory; see apiserver/heartbeats.py). The controller's --lease-expire-after must match.
    heartbeat_expire_after: float = 5.0
    bookmark_interval: float = 10.0  # seconds without events before a watcher gets a BOOKMARK
    # Mutual TLS towards kubelets' stream servers (exec, attach, log); without them those answer 503.
    kubelet_client_certificate: Path | None = None
    kubelet_client_key: Path | None = None
    kubelet_certificate_authority: Path | None = None
    # The cluster network every node's overlay spans; containers on it get addresses from here.
    cluster_cidr: ipaddress.IPv4Network = ipaddress.IPv4Network("10.88.0.0/16")
