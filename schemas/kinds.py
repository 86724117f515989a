"""The registry of kinds: names on the wire, URL plurals and their models."""
from __future__ import annotations

from dataclasses import dataclass

from schemas.base import Model
from schemas.container import Container
from schemas.event import Event
from schemas.lease import Lease
from schemas.node import Node

__all__ = ["API_VERSION", "KINDS", "Kind", "kind_for_plural", "model_for_kind"]

API_VERSION = "dlxc.io/v1"


@dataclass(frozen=True)
class Kind:
    name: str
    plural: str
    model: type[Model]
    short_names: tuple[str, ...] = ()


KINDS: tuple[Kind, ...] = (
    Kind("Container", "containers", Container, ("container", "ct", "c")),
    Kind("Node", "nodes", Node, ("node", "no")),
    Kind("Event", "events", Event, ("event", "ev")),
    Kind("Lease", "leases", Lease, ("lease",)),
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
