"""Read, decide, write: a change made from what was read, written only onto that same version.

The CLI's scale, cordon and cluster node changes decide from the object they read ("scaled from 2
to 3"), so the write carries that read's resourceVersion and a concurrent change is never
overwritten by a decision made on an older copy. Controllers and kubelets write status often,
and each such write moves the version too: a Conflict is therefore read again and decided again,
not reported (kubectl scale failed the same way under a busy controller until it retried).
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from dlxc.client.errors import Conflict

if TYPE_CHECKING:
    from schemas.base import Obj

__all__ = ["ATTEMPTS", "patch_guarded"]

ATTEMPTS = 5


async def patch_guarded(
    client: Any, plural: str, name: str, decide: Callable[[Obj], Obj | None], *, attempts: int = ATTEMPTS,
) -> tuple[Obj, Obj | None]:
    """Read `name`, let `decide` turn it into a merge patch (None: nothing to write) and write that
    patch conditioned on the version read. Returns (the object the decision was made on, the patch
    written or None). A Conflict starts over, up to `attempts` times; the last one is raised."""
    for attempt in range(attempts):
        obj = await client.get(plural, name)
        patch = decide(obj)
        if patch is None:
            return obj, None
        guarded = {**patch, "metadata": {**(patch.get("metadata") or {}), "resourceVersion": obj["metadata"]["resourceVersion"]}}
        try:
            await client.patch(plural, name, guarded)
            return obj, patch
        except Conflict:
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(0.05 * (attempt + 1))
    raise AssertionError("unreachable")
