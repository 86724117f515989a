"""dlxc.apply.moves.prepare_drain: what a drain checks and changes before it moves anything (CLI and dashboard alike)."""
from __future__ import annotations

import asyncio
from typing import Any

import pytest

from dlxc.apply.moves import MoveError, prepare_drain
from dlxc.client.errors import NotFound


class Client:
    """Nodes and containers in dicts; the field selector spec.nodeName=X, as the API serves it; patches recorded."""

    def __init__(self, nodes: dict[str, dict], containers: list[dict]) -> None:
        self.nodes = nodes
        self.containers = containers
        self.patches: list[tuple[str, str, dict]] = []

    async def get(self, plural: str, name: str) -> dict:
        assert plural == "nodes"
        if name not in self.nodes:
            raise NotFound(f"nodes/{name} not found")
        spec = dict(self.nodes[name])
        ready = "True" if not spec.pop("notReady", False) else "Unknown"
        return {"metadata": {"name": name, "resourceVersion": "7"}, "spec": spec,
                "status": {"conditions": [{"type": "Ready", "status": ready}]}}

    async def list(self, plural: str, *, field_selector: str | None = None) -> tuple[list[dict], str]:
        assert plural == "containers" and field_selector is not None
        node = field_selector.removeprefix("spec.nodeName=")
        return [c for c in self.containers if c["spec"].get("nodeName") == node], "9"

    async def patch(self, plural: str, name: str, body: Any) -> dict:
        self.patches.append((plural, name, body))
        return {}


def ct(name: str, node: str, **spec: Any) -> dict:
    meta: dict = {"name": name}
    if spec.pop("deleting", False):
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"metadata": meta, "spec": {"nodeName": node, **spec}}


CORDON = ("nodes", "n1", {"metadata": {"resourceVersion": "7"}, "spec": {"unschedulable": True}})


@pytest.mark.parametrize(
    ("nodes", "containers", "force", "names", "patches"),
    [
        ({"n1": {}}, [ct("b", "n1"), ct("a", "n1"), ct("c", "n2")], False, ["a", "b"], [CORDON]),
        ({"n1": {}}, [], False, [], [CORDON]),
        ({"n1": {"unschedulable": True}}, [ct("a", "n1")], False, ["a"], []),
        ({"n1": {}}, [ct("a", "n1"), ct("gone", "n1", deleting=True)], False, ["a"], [CORDON]),
        ({"n1": {}}, [ct("a", "n1"), ct("p", "n1", failover="Never")], True, ["a", "p"], [CORDON]),
        ({"n1": {"notReady": True}}, [], False, [], [CORDON]),  # nothing on it to stop: just cordoned
    ],
    ids=["moves-its-own-sorted", "empty", "already-cordoned", "skips-deleting", "forced-pinned", "empty-not-ready"],
)
def test_prepare_drain_cordons_and_names_what_to_move(nodes: dict, containers: list, force: bool, names: list, patches: list) -> None:
    client = Client(nodes, containers)
    assert asyncio.run(prepare_drain(client, "n1", force=force)) == names
    assert client.patches == patches


@pytest.mark.parametrize(
    ("nodes", "containers", "message"),
    [
        ({}, [], "node n1 does not exist"),
        ({"n1": {}}, [ct("a", "n1"), ct("q", "n1", failover="Never"), ct("p", "n1", failover="Never")],
         "containers with failover: Never are on n1: p, q; they block the drain (nothing was changed): "
         "move them yourself, or drain with --force"),
        # Its kubelet cannot stop and archive anything: every move would wait out the deadline.
        ({"n1": {"notReady": True}}, [ct("a", "n1")],
         "node n1 is not Ready, so its kubelet cannot stop and archive its containers (nothing was changed): they "
         "fail over by themselves once it stays NotReady past the eviction timeout; `dlxc node remove n1` if the "
         "host is gone for good"),
    ],
    ids=["no-node", "pinned", "not-ready"],
)
def test_prepare_drain_refuses_and_changes_nothing(nodes: dict, containers: list, message: str) -> None:
    client = Client(nodes, containers)
    with pytest.raises(MoveError) as refused:
        asyncio.run(prepare_drain(client, "n1", force=False))
    assert str(refused.value) == message
    assert client.patches == []


def test_a_copy_running_on_another_node_than_the_target_is_a_failed_move() -> None:
    from dlxc.apply.moves import _running_on

    class Running:
        async def get(self, plural: str, name: str) -> dict:
            return {"metadata": {"name": name}, "spec": {"nodeName": "n3"}, "status": {"phase": "Running"}}

    with pytest.raises(MoveError) as failed:
        asyncio.run(_running_on(Running(), "web", "n2", timeout=5))
    assert str(failed.value) == "container web runs on node n3, not n2: it was placed again meanwhile"
    asyncio.run(_running_on(Running(), "web", "n3", timeout=5))  # where it should be: fine
