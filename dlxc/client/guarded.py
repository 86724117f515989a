"""Read, decide, write: a change made from what was read, written only onto that same version.

The CLI's scale, cordon and cluster node changes decide from the object they read ("scaled from 2
to 3"), so the write carries that read's resourceVersion and a concurrent change is never
overwritten by a decision made on an older copy. Controllers and kubelets write status often,
and each such write moves the version too: a Conflict is therefore read again and decided again,
not reported (kubectl scale failed the same way under a busy controller until it retried).
"""
from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from dlxc.client.errors import Conflict

if TYPE_CHECKING:
    from schemas.base import Obj

__all__ = ["ATTEMPTS", "patch_guarded", "replace_guarded"]

ATTEMPTS = 5


async def _guarded(
    client: Any, plural: str, name: str, decide: Callable[[Obj], Obj | None], write: Callable[[Obj, Obj], Any], attempts: int,
) -> tuple[Obj, Obj | None]:
    for attempt in range(attempts):
        obj = await client.get(plural, name)
        change = decide(copy.deepcopy(obj))
        if change is None:
            return obj, None
        try:
            await write(obj, change)
            return obj, change
        except Conflict:
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(0.05 * (attempt + 1))
    raise AssertionError("unreachable")


async def patch_guarded(
    client: Any, plural: str, name: str, decide: Callable[[Obj], Obj | None], *, attempts: int = ATTEMPTS,
) -> tuple[Obj, Obj | None]:
    """Read `name`, let `decide` turn it into a merge patch (None: nothing to write) and write that
    patch conditioned on the version read. Returns (the object the decision was made on, the patch
    written or None). A Conflict starts over, up to `attempts` times; the last one is raised."""
    async def write(obj: Obj, patch: Obj) -> None:
        meta = {**(patch.get("metadata") or {}), "resourceVersion": obj["metadata"]["resourceVersion"]}
        await client.patch(plural, name, {**patch, "metadata": meta})

    return await _guarded(client, plural, name, decide, write, attempts)


async def replace_guarded(
    client: Any, plural: str, name: str, decide: Callable[[Obj], Obj | None], *, attempts: int = ATTEMPTS,
) -> tuple[Obj, Obj | None]:
    """As patch_guarded, for a change a merge patch cannot say (a field taken out): `decide` gets a copy
    of the object read and returns the whole new object (None: nothing to write), which replaces the
    object read; its resourceVersion is that read's."""
    async def write(obj: Obj, new: Obj) -> None:
        await client.replace(plural, {**new, "metadata": {**new["metadata"], "resourceVersion": obj["metadata"]["resourceVersion"]}})

    return await _guarded(client, plural, name, decide, write, attempts)
