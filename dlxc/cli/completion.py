"""Shell completion of kinds and object names (bash, zsh, fish via `dlxc --install-completion`)."""
from __future__ import annotations

import asyncio

import typer

from dlxc.client.errors import ApiError
from schemas import KINDS, kind_for_plural

__all__ = ["complete_container_names", "complete_kinds", "complete_names", "complete_node_names", "object_names"]


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
