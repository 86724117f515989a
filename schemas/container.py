"""The Container kind: one LXC system container, its desired spec and its observed status."""
from __future__ import annotations

import ipaddress
import re
from datetime import datetime
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from schemas.backup import BackupPolicy
from schemas.base import ConfigSafeStr, DnsLabel, Model, check_config_safe
from schemas.meta import Condition, ObjectMeta, validate_labels
from schemas.quantity import format_bytes, parse_bytes

__all__ = [
    "ADOPTED_IMAGE",
    "AntiAffinity",
    "Container",
    "ContainerExit",
    "ContainerSpec",
    "ContainerStatus",
    "Mount",
    "Network",
    "PHASES",
    "Placement",
    "PlacementCandidate",
]

ADOPTED_IMAGE = "adopted"

PHASES = ("Pending", "Scheduled", "Creating", "Running", "Stopped", "Failed", "Terminating")

_ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")
_IMAGE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/+@-]*\Z")
_IFNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}\Z")


def _check_path(value: str, *, what: str) -> str:
    check_config_safe(value)
    if not value.startswith("/"):
        raise ValueError(f"{what} must be an absolute path")
    if any(ch.isspace() for ch in value):
        raise ValueError(f"{what} must not contain whitespace")
    if ".." in value.split("/"):
        raise ValueError(f"{what} must not contain '..'")
    return value


class Mount(Model):
    """A bind mount of a host path into the container."""

    host_path: str = Field(description="Absolute path on the node.")
    path: str = Field(description="Absolute path inside the container.")
    read_only: bool = Field(default=False, description="Mount read-only.")

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: Any) -> Any:
        # The original design's form: "/host/path:/container/path[:ro|:rw]".
        if isinstance(value, str):
            parts = value.split(":")
            if len(parts) == 3 and parts[2] in ("ro", "rw"):
                return {"hostPath": parts[0], "path": parts[1], "readOnly": parts[2] == "ro"}
            if len(parts) == 2:
                return {"hostPath": parts[0], "path": parts[1]}
            raise ValueError(f"{value!r} is not HOST:CONTAINER[:ro]")
        return value

    @field_validator("host_path")
    @classmethod
    def _host(cls, value: str) -> str:
        return _check_path(value, what="hostPath")

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        return _check_path(value, what="path")


class Network(Model):
    """How the container is networked: on the cluster network (the default), on a node-local bridge, or loopback only."""

    type: Literal["cluster", "bridge", "none"] = Field(
        default="cluster",
        description="cluster: the network spanning every node, one address for the container's life; "
        "bridge: a bridge on the node, an address of that node; none: loopback only.",
    )
    bridge: str | None = Field(default=None, description="type bridge: the bridge on the node; default: the kubelet's bridge (dlxcbr0).")
    ipv4: str | None = Field(
        default=None,
        description="type cluster: a static address with the network's prefix, e.g. 10.88.5.10/16; "
        "default: one the apiserver allocates. Kept when the container moves; cannot be changed.",
    )

    @model_validator(mode="before")
    @classmethod
    def _bridge_implies_type(cls, value: Any) -> Any:
        # `{bridge: br0}` meant a bridge before the cluster network became the default, and still does.
        if isinstance(value, dict) and value.get("bridge") is not None and "type" not in value:
            return {**value, "type": "bridge"}
        return value

    @field_validator("bridge")
    @classmethod
    def _bridge(cls, value: str | None) -> str | None:
        if value is not None and not _IFNAME.match(value):
            raise ValueError("must be a network interface name: 1-15 of letters, digits, '_', '.', '-'")
        return value

    @field_validator("ipv4")
    @classmethod
    def _ipv4(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if "/" not in value:
            raise ValueError(f"{value!r} needs the network's prefix length, e.g. 10.88.5.10/16")
        try:
            iface = ipaddress.IPv4Interface(value)
        except ValueError:
            raise ValueError(f"{value!r} is not an IPv4 address with a prefix length, e.g. 10.88.5.10/16") from None
        return iface.with_prefixlen

    @model_validator(mode="after")
    def _fits_type(self) -> Network:
        if self.type != "bridge" and self.bridge is not None:
            raise ValueError(f"bridge is only for type bridge, not {self.type}")
        if self.type != "cluster" and self.ipv4 is not None:
            raise ValueError(f"ipv4 is only for type cluster (addresses on a node bridge are the node's to give), not {self.type}")
        return self


_GROUP = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?\Z")


class AntiAffinity(Model):
    """Containers that share a group are spread: never on one node (required), or preferably not (preferred)."""

    group: str = Field(description="Group name, shaped like a label value, e.g. web-replicas.")
    mode: Literal["required", "preferred"] = Field(
        default="required",
        description="required: a node already holding the group is filtered out; preferred: it only scores lower.",
    )

    @field_validator("group")
    @classmethod
    def _group(cls, value: str) -> str:
        if len(value) > 63 or not _GROUP.match(value):
            raise ValueError(
                "must be 1-63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
            )
        return value


# The smallest memory limit accepted. busybox under LXC here starts with 1Mi and peaks at 1.0-1.3 MiB
# (cgroup memory.max_usage_in_bytes), and fails to start with 512Ki; 4Mi leaves room for a shell and
# a command beside init. A limit below it can never run anything, so it is refused, not scheduled.
MIN_MEMORY = 4 * 1024 * 1024


_MAX_ARGS = 256
_MAX_ARG_CHARS = 4096


def _check_argv(value: list[str] | None, *, what: str) -> list[str] | None:
    if value is None:
        return None
    if what == "command" and not value:
        raise ValueError("must not be empty; leave command out to run the image's init")
    if len(value) > _MAX_ARGS:
        raise ValueError(f"at most {_MAX_ARGS} items, got {len(value)}")
    for index, item in enumerate(value):
        if not item:
            raise ValueError(f"item {index} is empty")
        if len(item) > _MAX_ARG_CHARS:
            raise ValueError(f"item {index} is longer than {_MAX_ARG_CHARS} characters")
        try:
            check_config_safe(item)
        except ValueError as exc:
            raise ValueError(f"item {index}: {exc}") from None
    if what == "command" and not value[0].startswith("/"):
        # There is no shell or PATH lookup to find a bare name: liblxc execs the first item as is.
        raise ValueError(f"the program (item 0) must be an absolute path inside the container, got {value[0]!r}")
    return value


def _size(value: Any) -> str | None:
    if value is None:
        return None
    return format_bytes(parse_bytes(value))


class ContainerSpec(Model):
    """What should run."""

    image: str = Field(description="Image reference, e.g. busybox.")
    cpu: float | None = Field(default=None, gt=0, le=1024, description="CPU cores, may be fractional.")
    memory: str | None = Field(default=None, description="Memory limit, e.g. 512Mi; a bare number means MiB.")
    disk: str | None = Field(
        default=None,
        description="Disk request, e.g. 10Gi; a bare number means MiB. A scheduling request only, not a limit: "
        "the scheduler places the container on a node with this much disk left, but nothing stops it writing "
        "more (its overlay upper dir sits on the node's filesystem, which has no per-container quota).",
    )
    privileged: bool = Field(default=False, description="Run without a user-namespace id map.")
    hostname: DnsLabel | None = Field(default=None, description="Hostname inside; default: the name.")
    env: dict[str, ConfigSafeStr] = Field(default_factory=dict, description="Environment of the init process.")
    command: list[str] | None = Field(
        default=None,
        description="Run this instead of the image's init, as the container's pid 1 (an absolute path, then its "
        "arguments, e.g. [/bin/sh, -c, 'echo hi; exit 3']); each item is passed as one argument, never split or "
        "run through a shell. When it exits, restartPolicy decides what happens, as for any init.",
    )
    args: list[str] | None = Field(
        default=None,
        description="Arguments appended to command (or to the image's init, /sbin/init, when command is unset).",
    )
    mounts: list[Mount] = Field(default_factory=list, description="Bind mounts HOST:CONTAINER[:ro].")
    network: Network | None = Field(default=None, description="Default: the cluster network, with an address the apiserver allocates.")
    state: Literal["Running", "Stopped"] = Field(default="Running", description="Power state to hold.")
    restart_policy: Literal["Always", "OnFailure", "Never"] = Field(default="Always")
    failover: Literal["Always", "Never"] = Field(
        default="Always",
        description="Always: when its node is lost, the container is stopped there (fencing) and started on another node. "
        "Never: it stays bound to its node and shows that the node is lost.",
    )
    node_selector: dict[str, str] = Field(default_factory=dict, description="Node labels the node must carry.")
    anti_affinity: AntiAffinity | None = Field(default=None, description="Spread the members of a group over nodes.")
    backup: BackupPolicy | None = Field(
        default=None, description="Scheduled backups: {schedule: '0 3 * * *', keep: 7}; the controller creates and prunes them."
    )
    node_name: DnsLabel | None = Field(default=None, description="Set by the scheduler only.")

    @field_validator("image")
    @classmethod
    def _image(cls, value: str) -> str:
        if len(value) > 512 or not _IMAGE.match(value):
            raise ValueError(f"{value!r} is not an image reference (e.g. busybox, debian:bookworm)")
        return value

    @field_validator("command", "args")
    @classmethod
    def _argv(cls, value: list[str] | None, info: Any) -> list[str] | None:
        return _check_argv(value, what=info.field_name)

    @field_validator("memory", "disk", mode="before")
    @classmethod
    def _sizes(cls, value: Any) -> str | None:
        return _size(value)

    @field_validator("memory")
    @classmethod
    def _memory_floor(cls, value: str | None) -> str | None:
        if value is not None and parse_bytes(value) < MIN_MEMORY:
            raise ValueError(f"{value} is too small to start a container; the minimum is {format_bytes(MIN_MEMORY)}")
        return value

    @field_validator("env", mode="before")
    @classmethod
    def _env(cls, value: Any) -> Any:
        # Accept the original design's list of "KEY=VALUE" as well as a mapping.
        if isinstance(value, list):
            env: dict[str, Any] = {}
            for item in value:
                if not isinstance(item, str) or "=" not in item:
                    raise ValueError(f"{item!r} is not KEY=VALUE")
                key, _, val = item.partition("=")
                env[key] = val
            value = env
        if isinstance(value, dict):
            for key, val in value.items():
                if not isinstance(key, str) or not _ENV_KEY.match(key):
                    raise ValueError(f"{key!r} is not a valid variable name")
                if isinstance(val, (int, float)) and not isinstance(val, bool):
                    value[key] = str(val)
        return value

    @field_validator("node_selector")
    @classmethod
    def _selector(cls, value: dict[str, str]) -> dict[str, str]:
        return validate_labels(value)


class PlacementCandidate(Model):
    """One node the scheduler weighed: its weighted total and each score plugin's 0-100 before weighting."""

    node: str
    total: float
    scores: dict[str, float] = Field(default_factory=dict)


class Placement(Model):
    """Why the scheduler put a container where it did (or nowhere): written by the scheduler only."""

    node: str | None = Field(default=None, description="The chosen node; none when nothing fits.")
    total: float = Field(default=0.0, description="The chosen node's weighted score, 0-100.")
    scores: dict[str, float] = Field(default_factory=dict, description="The chosen node's score per plugin, 0-100.")
    weights: dict[str, float] = Field(default_factory=dict, description="The weight of each score plugin used.")
    runners_up: list[PlacementCandidate] = Field(default_factory=list, description="The next best feasible nodes.")
    nodes: int = Field(default=0, description="How many nodes were considered.")
    feasible: int = Field(default=0, description="How many passed every filter.")
    rejected: dict[str, int] = Field(default_factory=dict, description="Nodes filtered out, counted by reason.")
    message: str = ""
    seed: int | None = Field(default=None, description="Seed of the tie-breaking choice.")
    time: datetime | None = Field(default=None, description="When the decision was made.")


class ContainerExit(Model):
    """How the container's init last ended on its own (not by a stop dlxc asked for)."""

    reason: Literal["Completed", "Error", "Signaled", "Unknown"] = Field(
        description="Completed: exit 0 or a halt/poweroff; Error: non-zero exit; Signaled: killed by a signal."
    )
    exit_code: int | None = None
    signal: int | None = None
    started_at: datetime | None = None
    finished_at: datetime
    generation: int | None = Field(default=None, description="The spec generation the container ran with.")
    backoff_seconds: float = Field(default=0, description="Delay before the restart that follows this exit.")


class SnapshotInfo(Model):
    """One snapshot of a container's data, kept on its node beside the container."""

    name: DnsLabel
    created: datetime
    size: int = Field(ge=0, description="Bytes the snapshot takes (a copy of the overlay's upper dir: only what changed).")
    consistency: str = Field(default="frozen", description="frozen: taken from a frozen container; stopped: from a stopped one.")


class ContainerStatus(Model):
    """What the kubelet last observed."""

    phase: Literal["Pending", "Scheduled", "Creating", "Running", "Stopped", "Failed", "Terminating"] = "Pending"
    node_name: str | None = None
    ip: str | None = None
    started_at: datetime | None = None
    restart_count: int = 0
    message: str = ""
    observed_generation: int | None = None
    conditions: list[Condition] = Field(default_factory=list)
    # Flat, dotted keys ("cpu.seconds", "net.eth0.rx_bytes", "blkio.sda.read_bytes") so per-device
    # figures fit the same map every other consumer already reads.
    metrics: dict[str, float] = Field(default_factory=dict)
    placement: Placement | None = Field(default=None, description="The scheduler's last decision and why.")
    last_exit: ContainerExit | None = None
    observed_restart_at: str | None = Field(default=None, description="The restart request last honoured.")
    metrics_time: datetime | None = Field(default=None, description="When status.metrics was collected.")
    snapshots: list[SnapshotInfo] | None = Field(default=None, description="Snapshots on the node, oldest first.")
    observed_snapshot_restore: str | None = Field(default=None, description="The snapshot restore request (SNAP@TIME) last honoured.")


class Container(Model):
    api_version: Literal["dlxc.io/v1"] = "dlxc.io/v1"
    kind: Literal["Container"] = "Container"
    metadata: ObjectMeta
    spec: ContainerSpec
    status: ContainerStatus = Field(default_factory=ContainerStatus)
