"""Start, stop and restart a container by changing its desired state; the kubelet does the rest."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from dlxc.client import Client

__all__ = ["RESTARTED_AT", "request_restart", "set_state"]

RESTARTED_AT = "dlxc.io/restartedAt"
Obj = dict[str, Any]


async def set_state(client: Client, name: str, state: str) -> Obj:
    """Merge-patch spec.state to Running or Stopped; repeating it is harmless."""
    if state not in ("Running", "Stopped"):
        raise ValueError(f"state must be Running or Stopped, not {state!r}")
    return await client.patch("containers", name, {"spec": {"state": state}})


async def request_restart(client: Client, name: str, *, now: datetime | None = None) -> Obj:
    """Record a restart request as an annotation; a kubelet restarts a container whose request is newer than its start."""
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return await client.patch("containers", name, {"metadata": {"annotations": {RESTARTED_AT: stamp}}, "spec": {"state": "Running"}})
