"""Names on the wire that several components must spell alike: finalizers, labels, annotations."""
from __future__ import annotations

__all__ = [
    "ADOPTED_ROOTFS_ANNOTATION",
    "APPLYSET_LABEL",
    "CONTROL_PLANE_OF_ANNOTATION",
    "HOLLOW_LABEL",
    "LXC_FINALIZER",
    "RESTART_ANNOTATION",
]

# The kubelet's finalizer on every Container it created an LXC container for: the object stays
# until the node destroyed it. The controller removes it only for a node that is gone for good.
LXC_FINALIZER = "dlxc.io/lxc-container"

# `dlxc restart NAME` sets this annotation to an ISO timestamp; the kubelet restarts the container
# once per new value and echoes the value in status.observedRestartAt.
RESTART_ANNOTATION = "dlxc.io/restartedAt"

# Set by `dlxc adopt`: the rootfs (lxc.rootfs.path) of an LXC container dlxc took over in place.
# While spec.image is "adopted" the kubelet uses this rootfs instead of an image clone.
ADOPTED_ROOTFS_ANNOTATION = "dlxc.io/adopted-rootfs"

# Members of one `dlxc apply --prune` / `dlxc sync` set carry `dlxc.io/applyset=<id>`.
APPLYSET_LABEL = "dlxc.io/applyset"

# Simulated nodes (dlxc.sim.hollow) carry this label, so benchmarks can find and remove them.
HOLLOW_LABEL = "dlxc.io/hollow"

# On the admin token a control-plane join makes for its host's scheduler and controller: the host
# it belongs to, so `dlxc node remove` revokes it with that host's node token.
CONTROL_PLANE_OF_ANNOTATION = "dlxc.io/control-plane-of"
