"""The registry of kinds: names on the wire, URL plurals and their models."""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from schemas.base import Model

__all__ = ["API_VERSION", "KINDS", "Kind", "kind_for_plural", "model_for_kind"]

API_VERSION = "dlxc.io/v1"


@dataclass(frozen=True)
class Kind:
    name: str
    plural: str
    # "module:Class", imported on first use: the table is read by every CLI call, the
    # pydantic models only by those that validate.
    model_path: str
    short_names: tuple[str, ...] = ()

    @property
    def model(self) -> type[Model]:
        return _load(self.model_path)


@lru_cache(maxsize=None)
def _load(path: str) -> type[Model]:
    module, attribute = path.split(":")
    return getattr(importlib.import_module(module), attribute)  # type: ignore[no-any-return]


KINDS: tuple[Kind, ...] = (
    Kind("Container", "containers", "schemas.container:Container", ("container", "ct", "c")),
    Kind("Node", "nodes", "schemas.node:Node", ("node", "no")),
    Kind("Event", "events", "schemas.event:Event", ("event", "ev")),
    Kind("Lease", "leases", "schemas.lease:Lease", ("lease",)),
    Kind("ContainerSet", "containersets", "schemas.containerset:ContainerSet", ("containerset", "sets", "set", "cs")),
    Kind("ContainerCluster", "containerclusters", "schemas.containercluster:ContainerCluster",
         ("containercluster", "clusters", "cluster", "cc")),
)


def kind_for_plural(word: str) -> Kind:
    """The kind a user or a URL means by 'containers', 'container', 'ct', 'Node', ..."""
    lowered = word.lower()
    for kind in KINDS:
        if lowered in (kind.plural, kind.name.lower(), *kind.short_names):
            return kind
    raise KeyError(word)


def model_for_kind(name: str) -> type[Model]:
    for kind in KINDS:
        if kind.name == name:
            return kind.model
    raise KeyError(name)
