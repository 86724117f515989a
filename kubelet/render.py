"""What a container's spec asks of this node: its LXC config rendered (address, cpus, rootfs), or why not."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from kubelet import images, lxcconfig, overlay
from kubelet.allocator import Allocator
from kubelet.clusternet import on_cluster_network
from kubelet.hostfeatures import HostFeatures
from kubelet.plan import Desired, Observed
from kubelet.ports import Runtime
from kubelet.settings import KubeletSettings
from kubelet.statusfields import adopted_rootfs
from schemas import Container

__all__ = ["RenderError", "adoption_problem", "bridge_of", "desired"]


class RenderError(Exception):
    """The spec cannot be made into a container on this node (e.g. a missing bridge)."""


def bridge_of(container: Container, default: str, cluster_bridge: str | None = None) -> str | None:
    network = container.spec.network
    if network is not None and network.type == "none":
        return None
    if cluster_bridge is not None and on_cluster_network(network):
        return cluster_bridge
    return (network.bridge if network and network.bridge else None) or default


def _root_of(container: Container, idmap: Any) -> tuple[int, int]:
    """The container's root as the host sees it (uid, gid): the owner of files it must be able to write."""
    if container.spec.privileged or idmap is None:
        return 0, 0
    return idmap.host_uid(0), idmap.host_gid(0)


def desired(
    container: Container, *, settings: KubeletSettings, allocator: Allocator, network: Any, image_cache: Any,
    runtime: Runtime, idmap: Any, host: HostFeatures, cgroup_version: int, clusternet: Any = None,
) -> Desired:
    """Render the spec into LXC config; raise RenderError when this node cannot host it.

    Blocking (it may build the image): call it in a thread. Allocates the address and cpu pins.
    """
    name = container.metadata.name
    bridge = bridge_of(container, settings.bridge, settings.cluster_bridge if clusternet is not None else None)
    if bridge is not None and not network.bridge_exists(bridge):
        raise RenderError(f"bridge {bridge!r} does not exist on node {settings.node_name}")
    ip = gateway = cluster = None
    if clusternet is not None and bridge == settings.cluster_bridge:
        # On the cluster network (kubelet.overlay): the apiserver's address, the anycast gateway,
        # and the hosts file with every container's name.
        spec_network = container.spec.network
        ipv4 = clusternet.check_address(spec_network.ipv4 if spec_network else None, name=name)
        cluster = lxcconfig.ClusterLink(bridge=bridge, address=ipv4, gateway=next(ipv4.network.hosts()), mtu=overlay.MTU,
                                        hosts_file=str(clusternet.hosts.ensure(name, owner=_root_of(container, idmap))))
    with allocator.lock:
        if bridge == settings.bridge:
            ip = allocator.allocate_ip(name)
            if ip is None:
                raise RenderError(f"no free address left in {settings.subnet.network} on node {settings.node_name}")
            gateway = settings.subnet.ip
        cpuset = allocator.pin_cpus(name, lxcconfig.whole_cores(container.spec.cpu))
    mapped = None if container.spec.privileged else idmap
    adopted = adopted_rootfs(container)
    if adopted is not None:
        rootfs_value = adopted
        # Keep halting it the way its own config did.
        found = runtime.inspect(name)
        halt = dict(found.items).get("lxc.signal.halt") if found else None
        init = "busybox" if halt in (None, "SIGUSR1") else "systemd"
    else:
        lower = image_cache.ensure(container.spec.image, idmap=mapped)
        rootfs_value = f"overlay:{lower}:{Path(settings.lxc_path) / name / 'delta0'}"
        init = images.resolve(container.spec.image).init
    items = lxcconfig.render_config(
        container.spec, name=name, rootfs=rootfs_value, cgroup_version=cgroup_version,
        default_bridge=settings.bridge, ip=ip, gateway=gateway, idmap=mapped, cpuset=cpuset, init=init,
        idmapped_mounts=host.idmapped_mounts, lxcfs=host.lxcfs, cluster=cluster,
    )
    return Desired(
        name=name, items=tuple(items), running=container.spec.state == "Running",
        live_keys=frozenset(key for key, _ in items if lxcconfig.is_live_key(key)),
    )


def adoption_problem(container: Container, observed: Observed, *, idmap: Any) -> str | None:
    """Why an adopted container cannot be taken over as its spec says, or None."""
    if container.spec.privileged:
        return None
    have = sorted(v for k, v in observed.items if k == "lxc.idmap")
    want = sorted([f"u 0 {idmap.host_uid_start} {idmap.count}", f"g 0 {idmap.host_gid_start} {idmap.count}"])
    if have != want:
        return (f"adopted container {container.metadata.name} maps ids as {have or 'privileged (no lxc.idmap)'}; "
                f"this node maps unprivileged containers as {want}: set spec.privileged to match, or shift its rootfs")
    return None
