"""A small in-memory stand-in for the API client (kubelet.ports.ContainerApi) that records every write.

For unit tests of the kubelet's reconcile logic: objects live in a dict, each write bumps the
resourceVersion, and `outage` makes every call fail as an unreachable apiserver does.
"""
from __future__ import annotations

import copy
from typing import Any

from dlxc.client.errors import ApiError, Conflict, NotFound, TemporaryError

Obj = dict[str, Any]


class FakeApi:
    def __init__(self) -> None:
        self.objects: dict[str, Obj] = {}
        self.writes: list[tuple[str, str, Obj]] = []  # (verb, name, body)
        self.events: list[tuple[str, str, str]] = []  # (type, reason, message), as posted
        self.outage: ApiError | None = None
        self._rv = 100

    def _bump(self, obj: Obj) -> Obj:
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)
        return copy.deepcopy(obj)

    def _check(self) -> None:
        if self.outage is not None:
            raise self.outage

    def add(self, obj: Obj) -> Obj:
        obj = copy.deepcopy(obj)
        obj["metadata"].setdefault("uid", f"uid-{obj['metadata']['name']}")
        obj["metadata"].setdefault("generation", 1)
        obj.setdefault("status", {})
        self.objects[obj["metadata"]["name"]] = obj
        return self._bump(obj)

    def cached(self, name: str) -> Obj | None:
        """What an up-to-date informer would hold."""
        obj = self.objects.get(name)
        return copy.deepcopy(obj) if obj is not None else None

    def statuses(self, name: str) -> list[Obj]:
        return [body["status"] for verb, n, body in self.writes if verb == "status" and n == name]

    async def get(self, plural: str, name: str) -> Obj:
        self._check()
        if name not in self.objects:
            raise NotFound(f"containers {name} not found")
        return copy.deepcopy(self.objects[name])

    async def list(self, plural: str, *, field_selector: str | None = None) -> tuple[list[Obj], str]:
        self._check()
        node = (field_selector or "").removeprefix("spec.nodeName=")
        items = [copy.deepcopy(o) for o in self.objects.values() if not node or o["spec"].get("nodeName") == node]
        return items, str(self._rv)

    async def patch(self, plural: str, name: str, patch: Obj) -> Obj:
        self._check()
        obj = self.objects.get(name)
        if obj is None:
            raise NotFound(f"containers {name} not found")
        meta = dict(patch.get("metadata", {}))
        rv = meta.pop("resourceVersion", None)
        if rv is not None and rv != obj["metadata"]["resourceVersion"]:
            raise Conflict(f"containers {name} changed")
        self.writes.append(("patch", name, copy.deepcopy(patch)))
        obj["metadata"].update(meta)
        return self._bump(obj)

    async def replace_status(self, plural: str, obj: Obj) -> Obj:
        self._check()
        name = obj["metadata"]["name"]
        stored = self.objects.get(name)
        if stored is None:
            raise NotFound(f"containers {name} not found")
        self.writes.append(("status", name, copy.deepcopy(obj)))
        stored["status"] = copy.deepcopy(obj["status"])
        return self._bump(stored)

    async def record_event(self, involved: Obj, *, reason: str, message: str, type: str = "Normal",
                           component: str = "", host: str = "") -> Obj:
        self._check()
        self.events.append((type, reason, message))
        return {}


def unreachable() -> TemporaryError:
    return TemporaryError("apiserver unreachable (connection refused)", delay=1.0)
