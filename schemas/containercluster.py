"""The ContainerCluster kind: a front-end container and N working nodes that know each other by name.

The cluster controller makes NAME-frontend (a Container, hostname `frontend`) and NAME-nodes (a
ContainerSet whose members are NAME-node1.. with hostnames node1..), keeps every member's
/etc/hosts listing all of them, mounts the shared /home, and hands the contextualization scripts
to the kubelets, which run them once per member at first boot.
"""
from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from schemas.base import Model, field_error
from schemas.container import ContainerSpec, _check_path
from schemas.containerset import ordinals
from schemas.meta import Condition, ObjectMeta

__all__ = [
    "ClusterHome",
    "ClusterMember",
    "ContainerCluster",
    "ContainerClusterSpec",
    "ContainerClusterStatus",
    "ContextScript",
    "node_numbers",
]

_SCRIPT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}\Z")
MAX_SCRIPT_BYTES = 256 * 1024


class ClusterHome(Model):
    """One host folder shared by every member as /home (on many hosts: a path every host mounts, e.g. NFS)."""

    host_path: str = Field(description="Absolute path on the node(s); must lie under the apiserver's allowed host paths.")

    @field_validator("host_path")
    @classmethod
    def _path(cls, value: str) -> str:
        return _check_path(value, what="hostPath")


class ContextScript(Model):
    """One contextualization script: run once per member, at its first boot, as root, by name order."""

    name: str = Field(description="File name, e.g. 10-ssh.sh; scripts run in the order of their names.")
    script: str = Field(description="The script's text; run with /bin/sh unless it starts with #!.")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _SCRIPT_NAME.match(value):
            raise ValueError("must be 1-100 letters, digits, '.', '_' or '-', starting with a letter or digit")
        return value

    @field_validator("script")
    @classmethod
    def _size(cls, value: str) -> str:
        if "\x00" in value:
            raise ValueError("must not contain NUL bytes")
        if len(value.encode()) > MAX_SCRIPT_BYTES:
            raise ValueError(f"must be at most {MAX_SCRIPT_BYTES // 1024} KiB")
        return value


class ContainerClusterSpec(Model):
    front_end_image: str = Field(description="Image of the front-end container (NAME-frontend, hostname frontend).")
    working_node_image: str = Field(description="Image of the working nodes (NAME-node1.., hostnames node1..).")
    nodes: int = Field(ge=1, le=250, description="How many working nodes.")
    skip_nodes: list[int] = Field(
        default_factory=list, max_length=250,
        description="Node numbers left out (`dlxc cluster delnode NAME node2` makes the hole; `addnode` fills the lowest "
                    "first): the nodes are the first `nodes` numbers from 1 that are not listed here.",
    )
    home: ClusterHome | None = Field(default=None, description="Share this host folder as /home in every member.")
    context: list[ContextScript] = Field(default_factory=list, description="Contextualization scripts, run at first boot.")
    add_node: list[ContextScript] = Field(
        default_factory=list, description="Run on the front-end, in name order, for each node that joins (DLXC_NODE names it)."
    )
    remove_node: list[ContextScript] = Field(
        default_factory=list, description="Run on the front-end, in name order, for each node that leaves (DLXC_NODE names it)."
    )
    domain: str | None = Field(default=None, description="DNS domain of the members' names in /etc/hosts; default NAME.cluster.")
    memory: str | None = Field(default=None, description="Memory limit of every member, e.g. 256Mi.")
    cpu: float | None = Field(default=None, gt=0, le=1024, description="CPU cores of every member.")

    # The same checks as a Container's image and memory: each member is one.
    _image = field_validator("front_end_image", "working_node_image")(ContainerSpec._image.__func__)  # type: ignore[attr-defined]
    _sizes = field_validator("memory", mode="before")(ContainerSpec._sizes.__func__)  # type: ignore[attr-defined]
    _floor = field_validator("memory")(ContainerSpec._memory_floor.__func__)  # type: ignore[attr-defined]

    @field_validator("skip_nodes")
    @classmethod
    def _skips(cls, value: list[int]) -> list[int]:
        if any(n < 1 for n in value):
            raise ValueError("node numbers start at 1")
        if len(set(value)) != len(value):
            raise ValueError("node numbers must not repeat")
        return sorted(value)

    @field_validator("context", "add_node", "remove_node", mode="before")
    @classmethod
    def _inline(cls, value: object) -> object:
        if isinstance(value, dict) and "folder" in value:
            # The folder form is a manifest's, read by `dlxc apply` next to its file (dlxc.apply.contextfolder).
            raise ValueError("{folder: DIR} is read by `dlxc apply`/`dlxc create -f` from next to the manifest; "
                             "the API takes the scripts themselves: a list of {name, script}")
        return value

    @field_validator("domain")
    @classmethod
    def _domain(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$", value):
            raise ValueError("must be a DNS name: dot-separated lowercase labels")
        return value

    @model_validator(mode="after")
    def _unique_scripts(self) -> ContainerClusterSpec:
        for field, scripts in (("context", self.context), ("addNode", self.add_node), ("removeNode", self.remove_node)):
            names = [s.name for s in scripts]
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                raise ValueError(f"{field} script names must be unique: {', '.join(dupes)}")
        return self


class ClusterMember(Model):
    name: str
    hostname: str
    role: Literal["frontend", "node"]
    phase: str = "Pending"
    ip: str | None = None
    image: str | None = Field(default=None, description="The member's image (differs from the spec's while it is replaced).")
    context: str = Field(default="", description="Done, Failed: SCRIPT exited CODE, or Pending.")


class ContainerClusterStatus(Model):
    phase: Literal["Pending", "Ready", "Degraded", "Terminating"] = "Pending"
    members: list[ClusterMember] = Field(default_factory=list)
    ready_members: int = 0
    conditions: list[Condition] = Field(default_factory=list)
    observed_generation: int | None = None


class ContainerCluster(Model):
    api_version: Literal["dlxc.io/v1"] = "dlxc.io/v1"
    kind: Literal["ContainerCluster"] = "ContainerCluster"
    metadata: ObjectMeta
    spec: ContainerClusterSpec
    status: ContainerClusterStatus = Field(default_factory=ContainerClusterStatus)

    @model_validator(mode="after")
    def _names_fit(self) -> ContainerCluster:
        longest = f"{self.metadata.name}-node{node_numbers(self.spec.skip_nodes, self.spec.nodes)[-1]}"
        if len(f"{self.metadata.name}-frontend") > 63 or len(longest) > 60:
            raise field_error("ContainerCluster", ("metadata", "name"), self.metadata.name,
                              f"too long for its members' names ({longest}); use at most 50 characters")
        return self


def node_numbers(skip: list[int] | tuple[int, ...], nodes: int) -> list[int]:
    """A cluster's node numbers: 1.. leaving out `skip` (spec.skipNodes), `nodes` of them."""
    return ordinals(1, skip, nodes)
