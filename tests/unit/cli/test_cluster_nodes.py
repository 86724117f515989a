"""addnode/delnode write the node numbers with the resourceVersion read, and redo on a conflict."""
from __future__ import annotations

import asyncio
from typing import Any

import pytest

from dlxc.cli.cluster import _change_nodes, addnode_numbers
from dlxc.client.errors import Conflict


class Racing:
    """A cluster whose resourceVersion moves (a controller's status write) under the first `races` patches."""

    def __init__(self, races: int) -> None:
        self.obj: dict[str, Any] = {"metadata": {"name": "mc", "resourceVersion": "1"}, "spec": {"nodes": 2, "skipNodes": []}}
        self.races = races
        self.patches: list[dict[str, Any]] = []

    async def get(self, plural: str, name: str) -> dict[str, Any]:
        return {"metadata": dict(self.obj["metadata"]), "spec": dict(self.obj["spec"])}

    async def patch(self, plural: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        self.patches.append(body)
        if self.races:
            self.races -= 1
            self.obj["metadata"]["resourceVersion"] = str(int(self.obj["metadata"]["resourceVersion"]) + 1)
            raise Conflict("containerclusters/mc was changed since resourceVersion; read it again and retry")
        assert body["metadata"]["resourceVersion"] == self.obj["metadata"]["resourceVersion"]
        self.obj["spec"].update(body["spec"])
        return self.obj


def test_a_conflict_is_read_again_and_redone() -> None:
    client = Racing(races=2)
    before, after = asyncio.run(_change_nodes(client, "mc", lambda numbers: addnode_numbers(numbers, 1)))  # type: ignore[arg-type]
    assert (before, after, client.obj["spec"]) == ([1, 2], [1, 2, 3], {"nodes": 3, "skipNodes": []})
    assert [p["metadata"]["resourceVersion"] for p in client.patches] == ["1", "2", "3"]


def test_conflicts_that_do_not_stop_are_reported() -> None:
    with pytest.raises(Conflict):
        asyncio.run(_change_nodes(Racing(races=9), "mc", lambda numbers: numbers))  # type: ignore[arg-type]
