"""Server-side semantics of every write: validation, server-set metadata, generation, finalizers, binding."""
from __future__ import annotations

import copy
import uuid
from datetime import datetime, timezone
from typing import Any

from pydantic import ValidationError

from apiserver.storage import Store
from dlxc.errors import BadRequest, Conflict, Invalid
from schemas import API_VERSION, Kind

__all__ = ["Registry", "merge_patch", "now_iso"]

Obj = dict[str, Any]


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _details(exc: ValidationError) -> list[dict[str, str]]:
    details = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"])
        message = "unknown field" if err["type"] == "extra_forbidden" else err["msg"].removeprefix("Value error, ")
        details.append({"field": field, "message": message})
    return details


class Registry:
    """One kind's REST semantics over the store."""

    def __init__(self, store: Store, kind: Kind) -> None:
        self.store = store
        self.kind = kind
        self.plural = kind.plural

    def validate(self, body: Any) -> Obj:
        """The body as a valid object of this kind, in canonical wire form, or 422 naming each field."""
        if not isinstance(body, dict):
            raise BadRequest("the body must be a JSON object")
        body = {"apiVersion": API_VERSION, "kind": self.kind.name, **body}
        try:
            model = self.kind.model.model_validate(body)
        except ValidationError as exc:
            details = _details(exc)
            summary = "; ".join(f"{d['field']}: {d['message']}" for d in details)
            raise Invalid(f"{self.kind.name} is invalid: {summary}", details=details) from None
        return model.to_wire()

    def _check_name(self, obj: Obj, name: str | None) -> None:
        if name is not None and obj["metadata"]["name"] != name:
            raise BadRequest(
                f"metadata.name {obj['metadata']['name']!r} does not match the name in the URL {name!r}"
            )

    def prepare_create(self, body: Any) -> Obj:
        obj = self.validate(body)
        meta = obj["metadata"]
        for field in ("uid", "resourceVersion", "deletionTimestamp", "generation", "creationTimestamp"):
            meta.pop(field, None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now_iso()
        meta["generation"] = 1
        if self.kind.name == "Container":
            # A container's status is the kubelet's to write; a new one starts Pending.
            obj["status"] = self.validate({"metadata": {"name": meta["name"]}, "spec": obj["spec"]})["status"]
        return obj

    async def create(self, body: Any, *, dry_run: bool = False) -> Obj:
        obj = self.prepare_create(body)
        if dry_run:
            return obj
        return await self.store.create(self.plural, obj["metadata"]["name"], obj)

    def _merge_update(self, current: Obj, new: Obj) -> Obj:
        """What a spec writer's PUT becomes: server-owned metadata and the status are kept."""
        meta, cur_meta = new["metadata"], current["metadata"]
        for field in ("uid", "creationTimestamp", "deletionTimestamp", "generation"):
            if cur_meta.get(field) is not None:
                meta[field] = cur_meta[field]
            else:
                meta.pop(field, None)
        cur_node = current.get("spec", {}).get("nodeName")
        if cur_node:
            new_node = new["spec"].get("nodeName")
            if new_node is None:
                new["spec"]["nodeName"] = cur_node  # binding is the scheduler's; a spec writer keeps it
            elif new_node != cur_node:
                raise Invalid(
                    f"spec.nodeName is {cur_node!r} and cannot be changed by an update",
                    details=[{"field": "spec.nodeName", "message": "field is immutable once bound"}],
                )
        if cur_meta.get("deletionTimestamp"):
            # While terminating, a writer may only remove finalizers.
            added = set(meta.get("finalizers", [])) - set(cur_meta.get("finalizers", []))
            if added:
                raise Conflict(f"{self.plural}/{meta['name']} is being deleted; finalizers cannot be added")
        new["status"] = current.get("status", {})
        if new.get("spec") != current.get("spec"):
            meta["generation"] = int(cur_meta.get("generation") or 0) + 1
        return new

    def _finish(self, obj: Obj) -> Obj | None:
        """None when a terminating object has no finalizers left: it is deleted then."""
        meta = obj["metadata"]
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            return None
        return obj

    async def replace(self, name: str, body: Any, *, dry_run: bool = False) -> Obj:
        rv = (body.get("metadata") or {}).get("resourceVersion") if isinstance(body, dict) else None
        new = self.validate(body)
        self._check_name(new, name)
        if not rv:
            raise Invalid(
                "metadata.resourceVersion must be given for an update",
                details=[{"field": "metadata.resourceVersion", "message": "required for an update"}],
            )
        current = await self.store.get(self.plural, name)
        if current["metadata"]["resourceVersion"] != str(rv):
            raise Conflict(f"{self.plural}/{name} was changed since resourceVersion {rv}; read it again and retry")
        merged = self._merge_update(current, new)
        if dry_run:
            return merged
        finished = self._finish(merged)
        if finished is None:
            return await self.store.delete(self.plural, name, expected_rv=int(rv))
        return await self.store.update(self.plural, name, finished, expected_rv=int(rv))

    async def patch(self, name: str, patch: Any, *, dry_run: bool = False) -> Obj:
        if not isinstance(patch, dict):
            raise BadRequest("a merge patch must be a JSON object")
        want_rv = (patch.get("metadata") or {}).get("resourceVersion")
        result: Obj = {}

        def mutate(current: Obj) -> Obj | None:
            if want_rv and current["metadata"]["resourceVersion"] != str(want_rv):
                raise Conflict(f"{self.plural}/{name} was changed since resourceVersion {want_rv}")
            patched = merge_patch(current, {k: v for k, v in patch.items() if k != "status"})
            new = self.validate(patched)
            self._check_name(new, name)
            merged = self._merge_update(current, new)
            result["obj"] = merged
            return merged if dry_run else self._finish(merged)

        if dry_run:
            mutate(await self.store.get(self.plural, name))
            return result["obj"]
        return await self.store.guaranteed_update(self.plural, name, mutate)

    async def replace_status(self, name: str, body: Any) -> Obj:
        """The status subresource: only status changes; a stale resourceVersion, if given, is 409."""
        new = self.validate(body)
        self._check_name(new, name)
        rv = (body.get("metadata") or {}).get("resourceVersion")

        def mutate(current: Obj) -> Obj:
            if rv and current["metadata"]["resourceVersion"] != str(rv):
                raise Conflict(f"{self.plural}/{name} was changed since resourceVersion {rv}; read it again")
            current["status"] = new.get("status", {})
            return current

        return await self.store.guaranteed_update(self.plural, name, mutate)

    async def bind(self, name: str, body: Any) -> Obj:
        """Set spec.nodeName once; a second bind, or a bind of a terminating object, is 409."""
        node = body.get("nodeName") if isinstance(body, dict) else None
        if not isinstance(node, str) or not node:
            raise Invalid("binding needs nodeName", details=[{"field": "nodeName", "message": "required"}])

        def mutate(current: Obj) -> Obj:
            if current["spec"].get("nodeName"):
                raise Conflict(f"{self.plural}/{name} is already bound to {current['spec']['nodeName']}")
            if current["metadata"].get("deletionTimestamp"):
                raise Conflict(f"{self.plural}/{name} is being deleted")
            current["spec"]["nodeName"] = node
            status = current.setdefault("status", {})
            status.update({"phase": "Scheduled", "nodeName": node, "message": f"bound to node {node}"})
            return current

        return await self.store.guaranteed_update(self.plural, name, mutate)

    async def delete(self, name: str, *, dry_run: bool = False) -> Obj:
        """Delete, or only mark for deletion while finalizers remain (the kubelet removes its own)."""

        def mutate(current: Obj) -> Obj | None:
            meta = current["metadata"]
            if not meta.get("finalizers"):
                return None
            if not meta.get("deletionTimestamp"):
                meta["deletionTimestamp"] = now_iso()
                if self.kind.name == "Container":
                    current.setdefault("status", {})["phase"] = "Terminating"
            return current

        if dry_run:
            current = await self.store.get(self.plural, name)
            return mutate(current) or current
        return await self.store.guaranteed_update(self.plural, name, mutate)
