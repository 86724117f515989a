"""Writes from the dashboard: the API's own registries, behind the API's own authorization.

`LocalClient` has the methods of `dlxc.client.Client` the apply and move workflows use, served
in-process for one identity, so the dashboard applies manifests and drains nodes with the very code
`dlxc apply` and `dlxc drain` run.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from apiserver.auth import Identity, authorize
from apiserver.registry import Registry
from apiserver.selectors import Selector, parse_field_selector, parse_label_selector
from apiserver.storage import Store
from dlxc.client.errors import BadRequest
from schemas.base import Obj
from schemas.wire import RESTART_ANNOTATION

__all__ = ["CONTAINER_ACTIONS", "LocalClient", "container_action", "set_cordon"]


class LocalClient:
    def __init__(self, identity: Identity, store: Store, registries: dict[str, Registry]) -> None:
        self.identity = identity
        self.store = store
        self.registries = registries

    def _check(self, verb: str, plural: str, name: str | None) -> Registry:
        registry = self.registries.get(plural)
        if registry is None:
            raise BadRequest(f"unknown resource {plural!r}")
        self.authorize(verb, plural, name)
        return registry

    def authorize(self, verb: str, plural: str, name: str | None = None) -> None:
        """Forbidden unless this identity may `verb` `plural` (a workflow checks all it will do before it starts)."""
        authorize(self.identity, verb=verb, plural=plural, name=name, subresource=None, bound_node=None)

    async def get(self, plural: str, name: str) -> Obj:
        self._check("get", plural, name)
        return await self.store.get(plural, name)

    async def list(self, plural: str, *, label_selector: str | None = None, field_selector: str | None = None) -> tuple[list[Obj], str]:
        selector = Selector(parse_label_selector(label_selector), parse_field_selector(field_selector))
        self._check("list", plural, None)
        items, revision = await self.store.list(plural)
        return [o for o in items if selector.matches(o)], str(revision)

    async def create(self, plural: str, obj: Obj, *, dry_run: bool = False) -> Obj:
        name = (obj.get("metadata") or {}).get("name") if isinstance(obj, dict) else None
        return await self._check("create", plural, name).create(obj, dry_run=dry_run)

    async def replace(self, plural: str, obj: Obj, *, dry_run: bool = False) -> Obj:
        name = obj["metadata"]["name"]
        return await self._check("update", plural, name).replace(name, obj, dry_run=dry_run)

    async def patch(self, plural: str, name: str, patch: Obj, *, dry_run: bool = False) -> Obj:
        return await self._check("patch", plural, name).patch(name, patch, dry_run=dry_run)

    async def delete(self, plural: str, name: str, *, dry_run: bool = False) -> Obj:
        return await self._check("delete", plural, name).delete(name, dry_run=dry_run)


def _restart_patch(now: datetime) -> Obj:
    # The same request `dlxc restart` makes (dlxc.client.lifecycle.request_restart).
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"metadata": {"annotations": {RESTART_ANNOTATION: stamp}}, "spec": {"state": "Running"}}


CONTAINER_ACTIONS = ("start", "stop", "restart", "delete")


async def container_action(client: LocalClient, name: str, action: str, *, now: datetime | None = None) -> Any:
    """start and stop set spec.state, restart sets the restart annotation, delete deletes: as the CLI does."""
    if action == "start":
        return await client.patch("containers", name, {"spec": {"state": "Running"}})
    if action == "stop":
        return await client.patch("containers", name, {"spec": {"state": "Stopped"}})
    if action == "restart":
        return await client.patch("containers", name, _restart_patch(now or datetime.now(timezone.utc)))
    if action == "delete":
        return await client.delete("containers", name)
    raise BadRequest(f"unknown action {action!r}; use one of {', '.join(CONTAINER_ACTIONS)}",
                     details=[{"field": "action", "message": f"must be one of {', '.join(CONTAINER_ACTIONS)}"}])


async def set_cordon(client: LocalClient, name: str, cordoned: bool) -> Obj:
    return await client.patch("nodes", name, {"spec": {"unschedulable": cordoned}})
