"""Start, stop and restart a container by changing its desired state; the kubelet does the rest."""
from __future__ import annotations

from typing import TYPE_CHECKING

from datetime import datetime, timezone

from schemas.wire import RESTART_ANNOTATION

if TYPE_CHECKING:
    from dlxc.client.api import Client
    from schemas.base import Obj

__all__ = ["request_restart", "set_state"]



async def set_state(client: Client, name: str, state: str) -> Obj:
    """Merge-patch spec.state to Running or Stopped; repeating it is harmless."""
    if state not in ("Running", "Stopped"):
        raise ValueError(f"state must be Running or Stopped, not {state!r}")
    return await client.patch("containers", name, {"spec": {"state": state}})


async def request_restart(client: Client, name: str, *, now: datetime | None = None) -> Obj:
    """Record a restart request as an annotation; a kubelet restarts a container whose request is newer than its start."""
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return await client.patch("containers", name, {"metadata": {"annotations": {RESTART_ANNOTATION: stamp}}, "spec": {"state": "Running"}})
