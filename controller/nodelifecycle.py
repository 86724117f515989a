"""Node lifecycle: a node whose kubelet stops heartbeating is marked NotReady, so nothing new lands there."""
from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta, timezone
from typing import Any

from pydantic import BaseModel

from dlxc.client import Client, Informer
from dlxc.errors import ApiError, Conflict, NotFound

__all__ = ["NodeLifecycleController", "NodeLifecycleSettings", "stale_nodes"]

log = logging.getLogger("dlxc.controller")
Obj = dict[str, Any]


class NodeLifecycleSettings(BaseModel):
    node_grace: float = 10.0  # seconds without a heartbeat before a node is NotReady
    period: float = 1.0


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def stale_nodes(nodes: list[Obj], *, now: datetime, grace: timedelta) -> list[str]:
    """Nodes that claim Ready but whose last heartbeat is older than the grace period."""
    stale = []
    for node in nodes:
        status = node.get("status", {})
        ready = next((c for c in status.get("conditions", []) if c.get("type") == "Ready"), None)
        if not ready or ready.get("status") != "True":
            continue
        beat = _parse_time(status.get("lastHeartbeatTime"))
        if beat is None or now - beat > grace:
            stale.append(node["metadata"]["name"])
    return stale


class NodeLifecycleController:
    def __init__(self, client: Client, settings: NodeLifecycleSettings | None = None) -> None:
        self.client = client
        self.settings = settings or NodeLifecycleSettings()
        self.nodes = Informer(client, "nodes", self._ignore)

    async def _ignore(self, name: str, old: Obj | None, new: Obj | None) -> None:
        return None

    async def mark_not_ready(self, name: str) -> None:
        node = await self.client.get("nodes", name)
        now = datetime.now(timezone.utc)
        if name not in stale_nodes([node], now=now, grace=timedelta(seconds=self.settings.node_grace)):
            return  # it heartbeated meanwhile
        status = node["status"]
        status["conditions"] = [c for c in status.get("conditions", []) if c.get("type") != "Ready"] + [
            {
                "type": "Ready",
                "status": "Unknown",
                "reason": "NodeStatusUnknown",
                "message": f"kubelet stopped posting status (no heartbeat for over {self.settings.node_grace:g}s)",
                "lastTransitionTime": now.isoformat().replace("+00:00", "Z"),
            }
        ]
        await self.client.replace_status("nodes", node)
        log.warning("node %s is NotReady: no heartbeat since %s", name, status.get("lastHeartbeatTime"))

    async def run_once(self) -> None:
        now = datetime.now(timezone.utc)
        for name in stale_nodes(list(self.nodes.cache.values()), now=now, grace=timedelta(seconds=self.settings.node_grace)):
            try:
                await self.mark_not_ready(name)
            except (Conflict, NotFound):
                pass

    async def run(self) -> None:
        watch = asyncio.create_task(self.nodes.run())
        try:
            await self.nodes.synced.wait()
            while True:
                try:
                    await self.run_once()
                except ApiError as exc:
                    log.warning("node lifecycle pass failed: %s", exc.message)
                await asyncio.sleep(self.settings.period)
        finally:
            watch.cancel()
