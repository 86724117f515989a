"""Shell completion of kinds and object names (bash, zsh, fish via `dlxc --install-completion`)."""
from __future__ import annotations

import asyncio

import typer

from dlxc.client.errors import ApiError
from schemas import KINDS, kind_for_plural

__all__ = [
    "GET_OUTPUTS",
    "complete_container_names",
    "complete_get_output",
    "complete_kinds",
    "complete_names",
    "complete_node_names",
    "complete_object_refs",
    "complete_wait_for",
    "object_names",
]

GET_OUTPUTS = ("table", "wide", "yaml", "json", "name")


def object_names(plural: str, incomplete: str = "") -> list[str]:
    """Names of live objects starting with `incomplete`; [] when the server cannot be asked (completion must never fail)."""

    async def go() -> list[str]:
        from dlxc.cli.common import client_config
        from dlxc.client.oneshot import OneShotClient

        async with OneShotClient(client_config(), timeout=3.0) as client:
            items, _ = await client.list(plural)
        return [i["metadata"]["name"] for i in items]

    try:
        names = asyncio.run(go())
    except (ApiError, OSError, ValueError):
        return []
    return sorted(n for n in names if n.startswith(incomplete))


def complete_kinds(incomplete: str) -> list[str]:
    words = [word for kind in KINDS for word in (kind.plural, kind.name.lower())]
    return [w for w in words if w.startswith(incomplete.lower())]


def complete_names(ctx: typer.Context, incomplete: str) -> list[str]:
    """Names of the kind given earlier on the command line (default: containers)."""
    try:
        plural = kind_for_plural(ctx.params.get("kind") or "containers").plural
    except KeyError:
        return []
    return object_names(plural, incomplete)


def complete_container_names(incomplete: str) -> list[str]:
    return object_names("containers", incomplete)


def complete_node_names(incomplete: str) -> list[str]:
    return object_names("nodes", incomplete)


def complete_get_output(incomplete: str) -> list[str]:
    return [o for o in GET_OUTPUTS if o.startswith(incomplete)]


def complete_wait_for(incomplete: str) -> list[str]:
    """`--for` values of `dlxc wait`: every phase, the Ready condition and delete."""
    from schemas.container import PHASES

    values = [f"phase={p}" for p in PHASES] + ["condition=Ready", "condition=Ready=False", "delete"]
    return [v for v in values if v.startswith(incomplete)]


def complete_object_refs(incomplete: str) -> list[str]:
    """KIND/NAME for `get events --for`: the kind first, then live names of that kind."""
    kind_word, slash, prefix = incomplete.partition("/")
    if not slash:
        return [f"{k}/" for k in ("container", "node") if k.startswith(kind_word)]
    try:
        plural = kind_for_plural(kind_word).plural
    except KeyError:
        return []
    return [f"{kind_word}/{name}" for name in object_names(plural, prefix)]
