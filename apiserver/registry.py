"""Server-side semantics of every write: validation, server-set metadata, generation, finalizers, binding."""
from __future__ import annotations

import copy
import logging
import uuid
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from pydantic import TypeAdapter, ValidationError

from apiserver import ipam
from apiserver.codec import dumps, loads
from apiserver.ipam import ClusterNetwork
from apiserver.policy import check_container, host_path_allowed
from apiserver.storage import AlsoExists, Existing, Store
from dlxc.client.errors import AlreadyExists, ApiError, BadRequest, Conflict, Invalid, NotFound
from schemas import API_VERSION, ContainerStatus, Kind
from schemas.base import DnsLabel, Model, Obj, now_iso
from schemas.container import Placement
from schemas.containerset import ContainerSetStatus
from schemas.wire import CONTAINER_LABEL

__all__ = ["Admission", "Registry", "merge_patch", "now_iso"]

RECENT_EVENTS = 1024  # events remembered for a repeat's count bump (Registry._recent_events)

# Metadata only the server writes; a client's copy is ignored on every write.
SERVER_META = ("uid", "creationTimestamp", "deletionTimestamp", "generation")
_NODE_NAME = TypeAdapter(DnsLabel)
log = logging.getLogger("dlxc.apiserver.registry")


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


def _details(exc: ValidationError, at: tuple[str, ...] = ()) -> list[dict[str, str]]:
    """Each error of a validation as {field, message}; `at` is where the validated value sits in the object."""
    details = []
    for err in exc.errors():
        field = ".".join(str(p) for p in (*at, *err["loc"]))
        message = "unknown field" if err["type"] == "extra_forbidden" else err["msg"].removeprefix("Value error, ")
        details.append({"field": field, "message": message})
    return details


def _rv_of(body: Any) -> str | None:
    meta = body.get("metadata") if isinstance(body, dict) else None
    rv = meta.get("resourceVersion") if isinstance(meta, dict) else None
    return None if rv in (None, "") else str(rv)


def _copy(obj: Obj) -> Obj:
    return loads(dumps(obj))


class Admission:
    """What the apiserver allows beyond the schema (from its flags)."""

    def __init__(self, *, allow_privileged: bool = False, allowed_host_paths: list[str] | None = None) -> None:
        self.allow_privileged = allow_privileged
        self.allowed_host_paths = list(allowed_host_paths or [])

    def check(self, kind: Kind, obj: Obj) -> None:
        if kind.name == "Container":
            check_container(obj, allow_privileged=self.allow_privileged, allowed_host_paths=self.allowed_host_paths)
        elif kind.name == "ContainerCluster":
            home = (obj.get("spec") or {}).get("home")
            why = host_path_allowed(home["hostPath"], self.allowed_host_paths) if home else None
            if why is not None:
                raise Invalid(f"ContainerCluster {obj['metadata']['name']} is not allowed: spec.home.hostPath: {why}",
                              details=[{"field": "spec.home.hostPath", "message": why}])
        elif kind.name == "ContainerSet":
            # Every member is a Container made from the template: refuse now what each would be refused.
            check_container(obj, allow_privileged=self.allow_privileged, allowed_host_paths=self.allowed_host_paths,
                            at="spec.template.spec", kind=kind.name)


class Registry:
    """One kind's REST semantics over the store."""

    def __init__(
        self,
        store: Store,
        kind: Kind,
        *,
        admission: Admission | None = None,
        cached: Callable[[str], Obj | None] | None = None,
        ipam: ClusterNetwork | None = None,
    ) -> None:
        self.store = store
        # Containers on the cluster network get their address with their creation (see apiserver.ipam).
        self.ipam = ipam if kind.name == "Container" else None
        self.kind = kind
        self.plural = kind.plural
        self.admission = admission or Admission()
        # A recent copy of an object by name (the watch cache's), for writes to start from; may lag.
        self.cached = cached or (lambda name: None)
        # The Event registry, for an Event a write records in its own transaction (a bind's Scheduled).
        self.events: Registry | None = None
        # Events this apiserver wrote lately, by name: a repeated one (an exec's audit record) is then
        # a count bump in one etcd transaction, without the create that would fail first. Only a
        # starting copy for a compare-and-swap, like `cached`; the watch cache of events runs only
        # while someone watches them.
        self._recent_events: OrderedDict[str, Obj] = OrderedDict()

    # ------------------------------------------------------------------ validation

    def validate(self, body: Any) -> Obj:
        """The body as a valid object of this kind, in canonical wire form, or 422 naming each field."""
        if not isinstance(body, dict):
            raise BadRequest("the body must be a JSON object", details=[{"field": "body", "message": "must be a JSON object"}])
        body = {"apiVersion": API_VERSION, "kind": self.kind.name, **body}
        try:
            model = self.kind.model.model_validate(body)
        except ValidationError as exc:
            raise self._invalid(_details(exc)) from None
        return model.to_wire()

    def _invalid(self, details: list[dict[str, str]]) -> Invalid:
        summary = "; ".join(f"{d['field']}: {d['message']}" for d in details)
        return Invalid(f"{self.kind.name} is invalid: {summary}", details=details)

    def _validate_status(self, status: Any) -> Obj:
        """A status alone, in wire form, as validating the whole object would check it: no model has
        a validator across spec and status, so the rest of a stored object needs no second look."""
        model: type[Model] = self.kind.model.model_fields["status"].annotation  # type: ignore[assignment]
        try:
            return model.model_validate(status).to_wire()
        except ValidationError as exc:
            raise self._invalid(_details(exc, ("status",))) from None

    def _check_name(self, obj: Obj, name: str | None) -> None:
        if name is not None and obj["metadata"]["name"] != name:
            raise BadRequest(
                f"metadata.name {obj['metadata']['name']!r} does not match the name in the URL {name!r}",
                details=[{"field": "metadata.name", "message": f"must be {name!r}, the name in the URL"}],
            )

    def _check_rv(self, current: Obj, rv: str | None) -> None:
        if rv is not None and current["metadata"]["resourceVersion"] != rv:
            name = current["metadata"]["name"]
            raise Conflict(f"{self.plural}/{name} was changed since resourceVersion {rv}; read it again and retry")

    # ------------------------------------------------------------------ create

    def prepare_create(self, body: Any) -> Obj:
        obj = self.validate(body)
        meta = obj["metadata"]
        for field in (*SERVER_META, "resourceVersion"):
            meta.pop(field, None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now_iso()
        meta["generation"] = 1
        if self.kind.name == "Container":
            # A container's status is the kubelet's to write; a new one starts Pending.
            obj["status"] = ContainerStatus().to_wire()
        if self.kind.name == "Backup":
            # The kubelet writes a backup's status; the label lets `backup list NAME` select by container.
            meta.setdefault("labels", {})[CONTAINER_LABEL] = obj["spec"]["container"]
            obj["status"] = {"phase": "Pending"}
        if self.kind.name == "ContainerSet":
            obj["status"] = ContainerSetStatus().to_wire()  # the controller's to write

        if self.kind.name == "Event":
            status = obj["status"]
            status["firstTimestamp"] = status.get("firstTimestamp") or meta["creationTimestamp"]
            status["lastTimestamp"] = status.get("lastTimestamp") or status["firstTimestamp"]
        self.admission.check(self.kind, obj)
        return obj

    async def create(self, body: Any, *, dry_run: bool = False) -> Obj:
        obj = self.prepare_create(body)
        name = obj["metadata"]["name"]
        if dry_run:
            try:
                await self.store.get(self.plural, name)
            except NotFound:
                if self.ipam is not None:
                    await self.ipam.check(obj)  # a taken address too, as the create would say
                return obj
            if self.kind.name != "Event":
                raise AlreadyExists(f"{self.plural}/{name} already exists")
            return obj
        if self.kind.name == "Event":
            return self._remember(await self._create_event(name, obj))
        if self.ipam is not None and ipam.cluster_ipv4(obj["spec"]) is not False:
            return await self.ipam.create(obj)
        return await self.store.create(self.plural, name, obj)

    async def _create_event(self, name: str, obj: Obj) -> Obj:
        """A new event, or the count of the same one bumped: straight away when a copy of it is at
        hand, else after the create found it (whose transaction read it: the bump swaps against that)."""
        known = self.cached(name) or self._recent_events.get(name)
        if known is not None:
            try:
                return await self._count_again(name, obj, known)
            except NotFound:
                self._recent_events.pop(name, None)  # expired since: created below
        try:
            return await self.store.create(self.plural, name, obj)
        except Existing as exc:
            return await self._count_again(name, obj, exc.current)

    def _remember(self, event: Obj) -> Obj:
        name = event["metadata"]["name"]
        self._recent_events[name] = copy.deepcopy(event)  # the caller's copy may change
        self._recent_events.move_to_end(name)
        while len(self._recent_events) > RECENT_EVENTS:
            self._recent_events.popitem(last=False)
        return event

    async def _count_again(self, name: str, obj: Obj, stored: Obj | None) -> Obj:
        """A duplicate event (same name, same spec) bumps the stored one's count instead of failing."""

        def mutate(current: Obj) -> Obj:
            if current["spec"] != obj["spec"]:
                raise AlreadyExists(f"events/{name} already exists and says something else")
            status = current.setdefault("status", {})
            status["count"] = int(status.get("count") or 1) + int(obj["status"].get("count") or 1)
            status["lastTimestamp"] = obj["status"]["lastTimestamp"]
            return current

        return await self.store.guaranteed_update(self.plural, name, mutate, cached=stored)

    # ------------------------------------------------------------------ spec writes

    def _merge_update(self, current: Obj, new: Obj) -> Obj:
        """What a spec writer's PUT becomes: server-owned metadata and the status are kept."""
        meta, cur_meta = new["metadata"], current["metadata"]
        for field in SERVER_META:
            if cur_meta.get(field) is not None:
                meta[field] = cur_meta[field]
            else:
                meta.pop(field, None)
        cur_node = (current.get("spec") or {}).get("nodeName")
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
        if self.ipam is not None:
            ipam.keep_address(current, new)
        if new.get("spec") != current.get("spec"):
            meta["generation"] = int(cur_meta.get("generation") or 0) + 1
            self.admission.check(self.kind, new)
        return new

    @staticmethod
    def _finish(obj: Obj) -> Obj | None:
        """None when a terminating object has no finalizers left: it is deleted then."""
        meta = obj["metadata"]
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            return None
        return obj

    async def _write(self, name: str, mutate: Callable[[Obj], Obj | None], *, dry_run: bool,
                     also_create: tuple[str, str, Obj] | None = None) -> Obj:
        """Apply mutate by compare-and-swap (retrying on races), or only compute it for a dry run;
        `also_create` is created in the same transaction (see Store.guaranteed_update)."""
        if dry_run:
            current = await self.store.get(self.plural, name)
            result = mutate(_copy(current))
            return result if result is not None else current
        if self.ipam is None:
            return await self._update(name, mutate, also_create=also_create)
        gone: list[Obj] = []

        def noting_deletion(current: Obj) -> Obj | None:
            result = mutate(current)
            gone[:] = [current] if result is None else []
            return result

        written = await self._update(name, noting_deletion, also_create=also_create)
        if gone:
            await self.ipam.release(gone[0])
        return written

    async def _update(self, name: str, mutate: Callable[[Obj], Obj | None], *,
                      also_create: tuple[str, str, Obj] | None = None) -> Obj:
        return await self.store.guaranteed_update(self.plural, name, mutate, cached=self.cached(name), also_create=also_create)

    async def replace(self, name: str, body: Any, *, dry_run: bool = False) -> Obj:
        """PUT: the whole object; resourceVersion is required and a stale one is 409."""
        rv = _rv_of(body)
        new = self.validate(body)
        self._check_name(new, name)
        if rv is None:
            raise Invalid(
                "metadata.resourceVersion must be given for an update",
                details=[{"field": "metadata.resourceVersion", "message": "required for an update"}],
            )

        def mutate(current: Obj) -> Obj | None:
            self._check_rv(current, rv)
            merged = self._merge_update(current, _copy(new))
            return merged if dry_run else self._finish(merged)

        return await self._write(name, mutate, dry_run=dry_run)

    async def patch(self, name: str, patch: Any, *, dry_run: bool = False) -> Obj:
        """Merge PATCH of metadata and spec; status in it is ignored (it has its own subresource)."""
        if not isinstance(patch, dict):
            raise BadRequest("a merge patch must be a JSON object", details=[{"field": "body", "message": "must be a JSON object"}])
        rv = _rv_of(patch)

        def mutate(current: Obj) -> Obj | None:
            self._check_rv(current, rv)
            patched = merge_patch(current, {k: v for k, v in patch.items() if k != "status"})
            new = self.validate(patched)
            self._check_name(new, name)
            merged = self._merge_update(current, new)
            return merged if dry_run else self._finish(merged)

        return await self._write(name, mutate, dry_run=dry_run)

    # ------------------------------------------------------------------ status

    def _with_status(self, current: Obj, status: Any) -> Obj:
        current["status"] = self._validate_status(status)
        return current

    async def replace_status(self, name: str, body: Any, *, dry_run: bool = False) -> Obj:
        """PUT status: only status changes; a stale resourceVersion, if given, is 409."""
        new = self.validate(body)
        self._check_name(new, name)
        rv = _rv_of(body)
        status = new["status"]  # validated with the body

        def mutate(current: Obj) -> Obj:
            self._check_rv(current, rv)
            current["status"] = _copy(status)
            return current

        return await self._write(name, mutate, dry_run=dry_run)

    async def patch_status(self, name: str, patch: Any, *, dry_run: bool = False) -> Obj:
        """Merge PATCH of status only; anything else in the patch but resourceVersion is refused."""
        if not isinstance(patch, dict):
            raise BadRequest("a merge patch must be a JSON object", details=[{"field": "body", "message": "must be a JSON object"}])
        extra = [k for k in patch if k not in ("status", "metadata", "apiVersion", "kind")]
        meta = patch.get("metadata") or {}
        extra += [f"metadata.{k}" for k in (meta if isinstance(meta, dict) else {}) if k not in ("name", "resourceVersion")]
        if extra:
            raise BadRequest(
                "the status subresource changes only status",
                details=[{"field": f, "message": "cannot be changed through /status"} for f in extra],
            )
        rv = _rv_of(patch)

        def mutate(current: Obj) -> Obj:
            self._check_rv(current, rv)
            return self._with_status(current, merge_patch(current.get("status") or {}, patch.get("status") or {}))

        return await self._write(name, mutate, dry_run=dry_run)

    # ------------------------------------------------------------------ binding and deletion

    async def bind(self, name: str, body: Any, *, dry_run: bool = False) -> Obj:
        """Set spec.nodeName once; a second bind, or a bind of a terminating object, is 409.

        `event` (an Event about this container, as POST .../events takes it: the scheduler's
        Scheduled) is recorded in the bind's own etcd transaction: one write for both instead of
        two, and never an event for a bind that did not happen. When an event of that name exists
        already, the bind goes alone and the event's count rises, as a repeated POST would do.
        """
        node = body.get("nodeName") if isinstance(body, dict) else None
        if not isinstance(node, str) or not node:
            raise Invalid("binding needs nodeName", details=[{"field": "nodeName", "message": "required"}])
        extra = [k for k in body if k not in ("nodeName", "placement", "resourceVersion", "event")]
        if extra:
            raise Invalid("binding has unknown fields", details=[{"field": k, "message": "unknown field"} for k in extra])
        # The scheduler's explanation rides on the bind: one write, and it cannot race the kubelet.
        placement = body.get("placement")
        want_rv = body.get("resourceVersion")
        # Checked as the object would check them (spec.nodeName, status.placement), named as in the binding.
        errors: list[dict[str, str]] = []
        try:
            _NODE_NAME.validate_python(node)
        except ValidationError as exc:
            errors += _details(exc, ("spec", "nodeName"))
        checked_placement = None
        if placement is not None:
            try:
                checked_placement = Placement.model_validate(placement).to_wire()
            except ValidationError as exc:
                errors += _details(exc, ("status", "placement"))
        if errors:
            details = [
                {"field": "nodeName" if d["field"].startswith("spec.") else d["field"].removeprefix("status."), "message": d["message"]}
                for d in errors
            ]
            raise Invalid(self._invalid(errors).message, details=details)
        event = self._binding_event(name, body.get("event")) if body.get("event") is not None else None

        def mutate(current: Obj) -> Obj:
            if want_rv and current["metadata"]["resourceVersion"] != str(want_rv):
                raise Conflict(f"{self.plural}/{name} changed since resourceVersion {want_rv}; decide again")
            if current["spec"].get("nodeName"):
                raise Conflict(f"{self.plural}/{name} is already bound to {current['spec']['nodeName']}")
            if current["metadata"].get("deletionTimestamp"):
                raise Conflict(f"{self.plural}/{name} is being deleted")
            current["spec"]["nodeName"] = node
            current["metadata"]["generation"] = int(current["metadata"].get("generation") or 0) + 1
            status = current.setdefault("status", {})
            message = f"bound to node {node}"
            if checked_placement is not None:
                status["placement"] = _copy(checked_placement)
                message = checked_placement.get("message") or message
            status.update({"phase": "Scheduled", "nodeName": node, "message": message})
            status["conditions"] = [c for c in status.get("conditions", []) if c.get("type") != "Scheduled"] + [
                {"type": "Scheduled", "status": "True", "reason": "Scheduled", "message": message, "lastTransitionTime": now_iso()}
            ]
            return current

        if event is None or dry_run:
            return await self._write(name, mutate, dry_run=dry_run)
        assert self.events is not None
        event_name = event["metadata"]["name"]
        try:
            return await self._write(name, mutate, dry_run=False, also_create=("events", event_name, event))
        except AlsoExists:
            bound = await self._write(name, mutate, dry_run=False)
        try:
            await self.events._count_again(event_name, event, None)
        except ApiError as exc:  # the bind stands; an event is best effort, as it is for its poster
            log.info("containers/%s is bound; its event %s was not counted: %s", name, event_name, exc.message)
        return bound

    def _binding_event(self, name: str, body: Any) -> Obj:
        """A binding's `event` as a created Event (422 naming `event.…` when it is not one, or is about
        another object)."""
        if self.events is None:
            raise Invalid("binding: this server records no events with a bind", details=[{"field": "event", "message": "not supported"}])
        try:
            event = self.events.prepare_create(body)
        except (Invalid, BadRequest) as exc:
            details = [{"field": f"event.{d['field']}", "message": d["message"]} for d in exc.details]
            raise Invalid(f"binding: {exc.message}", details=details) from None
        involved = event["spec"]["involvedObject"]
        if (involved["kind"], involved["name"]) != (self.kind.name, name):
            message = f"must be {self.kind.name} {name}, the object bound"
            raise Invalid(f"binding: event.spec.involvedObject {message}",
                          details=[{"field": "event.spec.involvedObject", "message": message}])
        return event

    async def unbind(self, name: str, body: Any, *, dry_run: bool = False) -> Obj:
        """Clear spec.nodeName of a container bound to `nodeName` (the node lost), saying why.

        Conditioned on the node the caller expects, so a late or repeated eviction never unbinds
        a container the scheduler has meanwhile placed elsewhere (409). The kubelet's finalizer
        stays: the next node's kubelet takes it over.
        """
        if not isinstance(body, dict):
            raise BadRequest("the body must be a JSON object", details=[{"field": "body", "message": "must be a JSON object"}])
        extra = [k for k in body if k not in ("nodeName", "reason", "message")]
        if extra:
            raise Invalid("unbinding has unknown fields", details=[{"field": k, "message": "unknown field"} for k in extra])
        node = body.get("nodeName")
        if not isinstance(node, str) or not node:
            raise Invalid("unbinding needs nodeName, the node the container is expected on",
                          details=[{"field": "nodeName", "message": "required"}])
        reason = body.get("reason") or "Evicted"
        message = body.get("message") or f"unbound from node {node}"
        for field, value in (("reason", reason), ("message", message)):
            if not isinstance(value, str) or len(value) > 1024:
                raise Invalid(f"{field} must be a string of at most 1024 characters",
                              details=[{"field": field, "message": "must be a string of at most 1024 characters"}])

        def mutate(current: Obj) -> Obj:
            bound = current["spec"].get("nodeName")
            if bound != node:
                where = f"bound to {bound}" if bound else "not bound"
                raise Conflict(f"{self.plural}/{name} is {where}, not to {node}")
            if current["metadata"].get("deletionTimestamp"):
                raise Conflict(f"{self.plural}/{name} is being deleted")
            current["spec"].pop("nodeName", None)
            current["metadata"]["generation"] = int(current["metadata"].get("generation") or 0) + 1
            status = current.setdefault("status", {})
            for key in ("nodeName", "ip", "startedAt"):
                status.pop(key, None)
            status.update({"phase": "Pending", "message": message})
            status["conditions"] = [c for c in status.get("conditions", []) if c.get("type") not in ("Scheduled", "NodeLost")] + [
                {"type": "Scheduled", "status": "False", "reason": reason, "message": message, "lastTransitionTime": now_iso()}
            ]
            return current

        return await self._write(name, mutate, dry_run=dry_run)

    async def delete(self, name: str, *, dry_run: bool = False) -> Obj:
        """Delete, or only mark for deletion while finalizers remain (their owners remove them)."""

        def mutate(current: Obj) -> Obj | None:
            meta = current["metadata"]
            if not meta.get("finalizers"):
                return None
            if not meta.get("deletionTimestamp"):
                meta["deletionTimestamp"] = now_iso()
                if self.kind.name == "Container":
                    current.setdefault("status", {})["phase"] = "Terminating"
            return current

        return await self._write(name, mutate, dry_run=dry_run)
