"""The API's verbs (list, get, create, ..., bind, events) on any transport that can send one request.

Two transports share them: the async aiohttp Client (dlxc.client.api) for components, and the
stdlib OneShotClient (dlxc.client.oneshot) for a single CLI call, which must not pay for
importing aiohttp.
"""
from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from schemas.base import Obj

__all__ = ["PREFIX", "ApiVerbs", "binding_body", "event_body", "event_name", "retry_safe"]

PREFIX = "/apis/dlxc.io/v1"


def retry_safe(method: str, body: Any) -> bool:
    """Whether a request may be sent again when its connection broke and the reply is unknown.

    GET: reads. PUT: the server refuses a replace without metadata.resourceVersion, so a replay of one
    that did commit is a 409, never a second write. PATCH: a merge patch applied twice leaves what it
    left once (RFC 7386), and with a resourceVersion it is guarded as PUT is. Not POST (a create would
    find its own object and say 409, an Event would count twice) and not DELETE (no precondition is
    sent: a replay could delete an object made again under the same name in between, or say 404 for
    a delete that worked).
    """
    if method == "GET":
        return True
    if method == "PUT":
        meta = body.get("metadata") if isinstance(body, dict) else None
        return isinstance(meta, dict) and bool(meta.get("resourceVersion"))
    return method == "PATCH"


class ApiVerbs:
    """Every API verb, written once over `request(method, path, body=, params=)`."""

    async def request(self, method: str, path: str, *, body: Any = None, params: dict[str, str] | None = None) -> Any:
        raise NotImplementedError

    @staticmethod
    def path(plural: str, name: str | None = None, sub: str | None = None) -> str:
        path = f"{PREFIX}/{plural}"
        if name:
            path += f"/{name}"
        if sub:
            path += f"/{sub}"
        return path

    async def list(self, plural: str, *, label_selector: str | None = None, field_selector: str | None = None) -> tuple[list[Obj], str]:
        params = {k: v for k, v in (("labelSelector", label_selector), ("fieldSelector", field_selector)) if v}
        result = await self.request("GET", self.path(plural), params=params)
        return result["items"], result["metadata"]["resourceVersion"]

    async def get(self, plural: str, name: str) -> Obj:
        return await self.request("GET", self.path(plural, name))

    async def usage(self, plural: str, name: str | None = None) -> Obj:
        """Usage metrics served from the kubelets' memory: of one container or node (with `name`),
        else of every one ({"items": [...], "unreachable": {node: why}})."""
        if name is None:
            return await self.request("GET", f"{PREFIX}/metrics/{plural}")
        return await self.request("GET", self.path(plural, name) + "/metrics")

    async def create(self, plural: str, obj: Obj, *, dry_run: bool = False) -> Obj:
        return await self.request("POST", self.path(plural), body=obj, params=_dry(dry_run))

    async def replace(self, plural: str, obj: Obj, *, dry_run: bool = False) -> Obj:
        name = obj["metadata"]["name"]
        return await self.request("PUT", self.path(plural, name), body=obj, params=_dry(dry_run))

    async def patch(self, plural: str, name: str, patch: Obj, *, dry_run: bool = False) -> Obj:
        """RFC 7386 merge patch of metadata and spec."""
        return await self.request("PATCH", self.path(plural, name), body=patch, params=_dry(dry_run))

    async def replace_status(self, plural: str, obj: Obj, *, dry_run: bool = False) -> Obj:
        return await self.request("PUT", self.path(plural, obj["metadata"]["name"], "status"), body=obj, params=_dry(dry_run))

    async def patch_status(self, plural: str, name: str, status: Obj, *, resource_version: str | None = None) -> Obj:
        """Merge-patch only the status; with resource_version, a stale read is 409."""
        body: Obj = {"status": status}
        if resource_version:
            body["metadata"] = {"resourceVersion": resource_version}
        return await self.request("PATCH", self.path(plural, name, "status"), body=body)

    async def bind(self, name: str, node: str, *, placement: Obj | None = None, resource_version: str | None = None,
                   event: Obj | None = None) -> Obj:
        """Bind once (409 if bound, or if it changed since resource_version); placement explains why;
        `event` (an `event_body` about this container) is recorded in the bind's own write."""
        body = binding_body(node, placement=placement, resource_version=resource_version, event=event)
        return await self.request("POST", self.path("containers", name, "binding"), body=body)

    async def bind_batch(self, bindings: list[Obj]) -> list[Obj]:
        """Several binds in one request (`POST .../bindingbatches`, up to 100): each item is a `binding_body`
        plus the container's `name`, and is done exactly as `bind` would do it. One answer per item, in
        order: {"name", "code": 201, "resourceVersion"} or an error body ({"name", "code", "reason",
        "message", "details"}). An apiserver older than the route answers 404 or 405."""
        answer = await self.request("POST", self.path("bindingbatches"), body={"items": bindings})
        return list(answer["items"])

    async def unbind(self, name: str, node: str, *, reason: str, message: str) -> Obj:
        """Clear the binding of a container expected on `node` (409 if it is bound elsewhere or not at all)."""
        body = {"nodeName": node, "reason": reason, "message": message}
        return await self.request("DELETE", self.path("containers", name, "binding"), body=body)

    async def delete(self, plural: str, name: str, *, dry_run: bool = False) -> Obj:
        return await self.request("DELETE", self.path(plural, name), params=_dry(dry_run))

    async def record_event(
        self,
        involved: Obj,
        *,
        reason: str,
        message: str,
        type: str = "Normal",
        component: str = "",
        host: str = "",
    ) -> Obj:
        """Post an Event about `involved`; the same event again only raises its count on the server."""
        return await self.create("events", event_body(involved, reason=reason, message=message, type=type,
                                                      component=component, host=host))

    async def record_events(self, events: list[Obj]) -> list[Obj]:
        """Post several Events (each an `event_body`) in one request: one answer per event, in order,
        {"code": 201, "object": EVENT} or an error body ({"code", "reason", "message", ...})."""
        answer = await self.request("POST", self.path("eventbatches"), body={"items": events})
        return list(answer["items"])



def _dry(dry_run: bool) -> dict[str, str] | None:
    return {"dryRun": "All"} if dry_run else None


def binding_body(node: str, *, placement: Obj | None = None, resource_version: str | None = None, event: Obj | None = None) -> Obj:
    """What `bind` posts: the node, and what of placement, resourceVersion and event is given."""
    body: Obj = {"nodeName": node}
    if placement is not None:
        body["placement"] = placement
    if resource_version is not None:
        body["resourceVersion"] = resource_version
    if event is not None:
        body["event"] = event
    return body


def event_body(involved: Obj, *, reason: str, message: str, type: str = "Normal", component: str = "", host: str = "") -> Obj:
    """The Event about `involved` that `record_event` posts."""
    spec = {
        "involvedObject": {"kind": involved["kind"], "name": involved["metadata"]["name"]},
        "type": type,
        "reason": reason,
        "message": message,
        "source": {"component": component, "host": host},
    }
    return {"metadata": {"name": event_name(spec)}, "spec": spec}


def event_name(spec: Obj) -> str:
    """A stable name per (object, type, reason, message, source): the same event again has the same name."""
    key = json.dumps(spec, sort_keys=True).encode()
    digest = hashlib.sha256(key).hexdigest()[:12]
    return f"{spec['involvedObject']['name'][:50]}-{digest}"
