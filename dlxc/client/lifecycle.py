"""Start, stop and restart a container by changing its desired state; the kubelet does the rest."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING

from schemas.wire import RESTART_ANNOTATION

if TYPE_CHECKING:
    from dlxc.client.api import Client
    from schemas.base import Obj

__all__ = ["halted", "request_restart", "set_state", "start"]


async def set_state(client: Client, name: str, state: str) -> Obj:
    """Merge-patch spec.state to Running or Stopped; repeating it is harmless."""
    if state not in ("Running", "Stopped"):
        raise ValueError(f"state must be Running or Stopped, not {state!r}")
    return await client.patch("containers", name, {"spec": {"state": state}})


async def request_restart(client: Client, name: str, *, now: datetime | None = None) -> Obj:
    """Record a restart request as an annotation; a kubelet restarts a container whose request is newer than its start."""
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return await client.patch("containers", name, {"metadata": {"annotations": {RESTART_ANNOTATION: stamp}}, "spec": {"state": "Running"}})


def halted(obj: Obj) -> bool:
    """Desired Running but ended on its own (a halt, an exit the policy does not restart, a crash): a spec patch would change nothing."""
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    return spec.get("state", "Running") == "Running" and bool(spec.get("nodeName")) and status.get("phase") in ("Stopped", "Failed")


async def start(client: Client, name: str, *, now: datetime | None = None) -> tuple[Obj, bool]:
    """Make a container run: patch spec.state, or, when it already says Running but halted, ask its kubelet to start it once.

    Returns the object and whether a start request (the restart annotation) was needed.
    """
    live = await client.get("containers", name)
    if halted(live):
        return await request_restart(client, name, now=now), True
    return await set_state(client, name, "Running"), False
