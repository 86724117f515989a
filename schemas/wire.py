"""Names on the wire that several components must spell alike: finalizers, labels, annotations."""
from __future__ import annotations

__all__ = [
    "ADOPTED_ROOTFS_ANNOTATION",
    "APPLYSET_LABEL",
    "BACKUP_FINALIZER",
    "CLUSTER_FINALIZER",
    "CLUSTER_LABEL",
    "CLUSTER_ROLE_LABEL",
    "CONTAINER_LABEL",
    "CONTEXT_ANNOTATION",
    "CONTROL_PLANE_OF_ANNOTATION",
    "DRAINED_FROM_ANNOTATION",
    "HOLLOW_LABEL",
    "HOSTS_ANNOTATION",
    "KEEP_ROOTFS_ANNOTATION",
    "LAST_APPLIED_ANNOTATION",
    "LXC_FINALIZER",
    "MOVING_MEMBER_PREFIX",
    "NODE_HOOKS_ANNOTATION",
    "RESTART_ANNOTATION",
    "RESTORE_ANNOTATION",
    "SET_FINALIZER",
    "SET_LABEL",
    "SNAPSHOTS_ANNOTATION",
    "SNAPSHOT_RESTORE_ANNOTATION",
    "TEMPLATE_HASH_ANNOTATION",
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

# What the last `dlxc apply` / `dlxc sync` of an object's manifest wrote (canonical JSON of the
# fields the manifest set): the third side of apply's three-way merge (dlxc.apply.threeway), so a
# field set by anyone else is kept. Never rendered into LXC config; diffs and drift ignore it.
LAST_APPLIED_ANNOTATION = "dlxc.io/last-applied"

# Simulated nodes (dlxc.sim.hollow) carry this label, so benchmarks can find and remove them.
HOLLOW_LABEL = "dlxc.io/hollow"

# Every Backup carries `dlxc.io/container=NAME` (set by the apiserver from spec.container), so
# `dlxc backup list NAME` and the schedule controller select by label.
CONTAINER_LABEL = "dlxc.io/container"

# The kubelet that writes a Backup's archive puts this finalizer on it: deleting the Backup
# waits until that kubelet removed the archive.
BACKUP_FINALIZER = "dlxc.io/backup-archive"

# Set by `dlxc backup restore` (and import, move): the Backup whose archive the kubelet unpacks as
# the new container's rootfs instead of cloning its image. Read only when the container is created.
RESTORE_ANNOTATION = "dlxc.io/restore-from"

# Set by `dlxc move` just before it deletes the stopped container on its old node: that node's
# kubelet keeps the container's directory (as `.kept/BACKUP`) instead of removing it, until the
# move's Backup is deleted (the move succeeded) or the container is made there again (it failed).
KEEP_ROOTFS_ANNOTATION = "dlxc.io/keep-rootfs-for"

# The snapshots a container should have (a JSON list of names), kept by its node's kubelet; what
# exists is listed in status.snapshots. An annotation, not spec: `dlxc apply` of a manifest leaves
# it alone, so applying never deletes snapshots.
SNAPSHOTS_ANNOTATION = "dlxc.io/snapshots"

# `dlxc snapshot restore NAME SNAP` sets SNAP@TIME; the kubelet restores once per new value and
# echoes it in status.observedSnapshotRestore.
SNAPSHOT_RESTORE_ANNOTATION = "dlxc.io/snapshot-restore"

# `dlxc drain NODE` marks each container it moved off NODE; `dlxc uncordon NODE --restore` moves
# those back and removes the mark.
DRAINED_FROM_ANNOTATION = "dlxc.io/drained-from"

# On the admin token a control-plane join makes for its host's scheduler and controller: the host
# it belongs to, so `dlxc node remove` revokes it with that host's node token.
CONTROL_PLANE_OF_ANNOTATION = "dlxc.io/control-plane-of"
# The ContainerSet controller's finalizer on every set: the set stays until its members are gone.
SET_FINALIZER = "dlxc.io/set-members"

# Every member of a ContainerSet carries `dlxc.io/set=<set name>` (besides its owner reference),
# so the controller can watch members alone and `dlxc get containers -l dlxc.io/set=web` finds them.
SET_LABEL = "dlxc.io/set"

# On a ContainerSet, `moving.dlxc.io/MEMBER: UNTIL` (an RFC 3339 time): a move (`dlxc move`, a
# drain) has that member deleted on purpose and creates it again elsewhere from its backup; until
# then (or until the move removes the mark) the set does not create the member from its template.
# One key per member, so parallel moves of one set's members never overwrite each other's mark.
MOVING_MEMBER_PREFIX = "moving.dlxc.io/"

# The digest of the set template a member was made from (schemas.containerset.template_hash).
TEMPLATE_HASH_ANNOTATION = "dlxc.io/template-hash"

# The ContainerCluster controller's finalizer: the cluster stays until its front-end and node set are gone.
CLUSTER_FINALIZER = "dlxc.io/cluster-members"

# Every member of a ContainerCluster (and its node set) carries `dlxc.io/cluster=<name>` and
# `dlxc.io/cluster-role=frontend|node`.
CLUSTER_LABEL = "dlxc.io/cluster"
CLUSTER_ROLE_LABEL = "dlxc.io/cluster-role"

# Written by the cluster controller on each member, read by its kubelet (kubelet.clusterfiles):
# the lines of the member's /etc/hosts block ("IP NAMES" per line, joined by ";"), and the
# contextualization to run once at first boot (JSON: {"env": {...}, "scripts": [[name, text], ...]}).
HOSTS_ANNOTATION = "dlxc.io/hosts"
CONTEXT_ANNOTATION = "dlxc.io/context"

# On a cluster's front-end only: the nodes it has now and the add-node/remove-node hooks to run on it
# when that list changes (JSON: {"nodes": [...], "env": {...}, "add": [[name, text]], "remove": [...]}).
NODE_HOOKS_ANNOTATION = "dlxc.io/node-hooks"
