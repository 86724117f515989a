"""Binding and status writes check only the parts they change, with the errors whole-object validation gave."""
from __future__ import annotations

import asyncio
from typing import Any

import pytest

from apiserver.registry import Registry, merge_patch
from dlxc.client.errors import Invalid
from schemas import KINDS
from schemas.base import Obj

CONTAINERS = next(k for k in KINDS if k.plural == "containers")
STORED: Obj = {
    "apiVersion": "dlxc.io/v1", "kind": "Container",
    "metadata": {"name": "c", "resourceVersion": "7", "generation": 1},
    "spec": {"image": "busybox"}, "status": {"phase": "Pending"},
}


class OneObjectStore:
    """A store holding one object: guaranteed_update applies mutate to a copy of it."""

    async def guaranteed_update(self, plural: str, name: str, mutate: Any, **_: Any) -> Obj:
        import copy

        return mutate(copy.deepcopy(STORED))


def registry() -> Registry:
    return Registry(OneObjectStore(), CONTAINERS)  # type: ignore[arg-type]


def whole_object_error(spec: Obj, status: Obj) -> Invalid:
    """What validating a whole container with these parts says."""
    with pytest.raises(Invalid) as caught:
        registry().validate({"metadata": {"name": "x"}, "spec": {"image": "x", **spec}, "status": status})
    return caught.value


@pytest.mark.parametrize(
    ("node", "placement"),
    [
        ("Bad_Node", None),
        ("n1", {"total": "high"}),
        ("n1", "not an object"),
        ("n1", {"runnersUp": [{"node": "n2"}], "extra": 1}),
        ("-bad-", {"nodes": -1.5}),
    ],
    ids=["node-name", "placement-field", "placement-not-object", "placement-nested-and-unknown", "both"],
)
def test_bind_errors_are_those_of_the_whole_object_named_as_in_the_binding(node: str, placement: Any) -> None:
    expected = whole_object_error({"nodeName": node}, {"placement": placement} if placement is not None else {})
    body: Obj = {"nodeName": node, **({"placement": placement} if placement is not None else {})}
    with pytest.raises(Invalid) as caught:
        asyncio.run(registry().bind("c", body))
    assert caught.value.message == expected.message
    assert caught.value.details == [
        {"field": "nodeName" if d["field"].startswith("spec.") else d["field"].removeprefix("status."), "message": d["message"]}
        for d in expected.details
    ]


def test_bind_stores_the_placement_as_the_object_would_hold_it() -> None:
    placement = {"node": "n1", "total": 70, "scores": {"fit": 80}, "time": "2024-01-01T00:00:00+00:00"}
    bound = asyncio.run(registry().bind("c", {"nodeName": "n1", "placement": placement}))
    expected = registry().validate({**STORED, "status": {"placement": placement}})["status"]["placement"]
    assert bound["status"]["placement"] == expected
    assert bound["spec"]["nodeName"] == "n1"


@pytest.mark.parametrize(
    "status",
    [{"phase": "Sleeping"}, {"restartCount": "many"}, {"conditions": [{"type": "Ready"}]}, "Running", {"bogus": 1}],
    ids=["phase", "count", "nested", "not-object", "unknown"],
)
def test_patch_status_errors_are_those_of_the_whole_object(status: Any) -> None:
    expected = whole_object_error({}, merge_patch(STORED["status"], status))
    with pytest.raises(Invalid) as caught:
        asyncio.run(registry().patch_status("c", {"status": status}))
    assert (caught.value.message, caught.value.details) == (expected.message, expected.details)


def test_status_writes_keep_everything_but_the_status() -> None:
    status = {"phase": "Running", "startedAt": "2024-01-01T00:00:00Z", "metrics": {"cpu.seconds": 1}}
    body = {"metadata": {"name": "c", "resourceVersion": "7"}, "spec": {"image": "other"}, "status": status}
    put = asyncio.run(registry().replace_status("c", body))
    patched = asyncio.run(registry().patch_status("c", {"status": status}))
    expected = registry().validate({**STORED, "status": status})["status"]
    assert put == patched == {**STORED, "status": expected}
