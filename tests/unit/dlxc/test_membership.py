"""`dlxc node remove` (dlxc.cluster.membership): a control-plane host's etcd member first, a refusal
changing nothing, and the etcd election that may follow a removal ridden out across apiservers."""
from __future__ import annotations

import asyncio
from typing import Any

import pytest

from dlxc.client.errors import Conflict, NotFound, TemporaryError
from dlxc.cluster.membership import remove_node
from schemas.wire import CONTROL_PLANE_OF_ANNOTATION


class FakeCluster:
    """The calls remove_node makes, over plain dicts; `unavailable` lists fail once each with a 503."""

    def __init__(self, *, member: str | Exception | None, unavailable: int = 0) -> None:
        self.member = member  # the etcd member's name, or the error its removal gets; None: no member
        self.unavailable = unavailable
        self.nodes = {"c2"}
        self.tokens = {"node-c2": {"metadata": {"name": "node-c2"}, "spec": {"role": "node:c2"}},
                       "cp-node-c2": {"metadata": {"name": "cp-node-c2", "annotations": {CONTROL_PLANE_OF_ANNOTATION: "c2"}},
                                      "spec": {"role": "admin"}}}
        self.moves = 0
        self.members_removed: list[str] = []

    async def get(self, plural: str, name: str) -> Any:
        if name not in self.nodes:
            raise NotFound(f"{plural}/{name} not found")
        return {"metadata": {"name": name}}

    async def request(self, method: str, path: str, **_: Any) -> Any:
        assert (method, path) == ("DELETE", "/apis/dlxc.io/v1/etcdmembers/c2")
        if isinstance(self.member, Exception):
            raise self.member
        if self.member is None:
            raise NotFound("no etcd member is named 'c2'")
        self.members_removed.append(self.member)
        return {}

    async def list(self, plural: str) -> tuple[list[Any], str]:
        if self.unavailable:
            self.unavailable -= 1
            raise TemporaryError("etcd unavailable: etcdserver: leader changed")
        return (list(self.tokens.values()) if plural == "tokens" else []), "1"

    async def delete(self, plural: str, name: str) -> Any:
        if plural == "tokens":
            return self.tokens.pop(name)
        if plural == "nodes" and name in self.nodes:
            self.nodes.discard(name)
            return {}
        raise NotFound(name)

    def next_server(self) -> None:
        self.moves += 1


def test_the_member_goes_first_and_an_election_after_it_is_ridden_out() -> None:
    cluster = FakeCluster(member="c2", unavailable=2)
    done = asyncio.run(remove_node(cluster, "c2", settle=0.0))  # type: ignore[arg-type]
    assert (done.etcd_member, sorted(done.revoked), cluster.members_removed, cluster.moves) == (
        True, ["cp-node-c2", "node-c2"], ["c2"], 2)
    assert cluster.nodes == set()


def test_a_refused_member_removal_changes_nothing() -> None:
    cluster = FakeCluster(member=Conflict("etcd refused to remove member 'c2': ..."))
    with pytest.raises(Conflict):
        asyncio.run(remove_node(cluster, "c2", settle=0.0))  # type: ignore[arg-type]
    assert set(cluster.tokens) == {"node-c2", "cp-node-c2"} and cluster.nodes == {"c2"}


def test_a_plain_node_is_not_retried() -> None:
    """No member was removed: a 503 is the caller's to see at once (no election of ours to wait for)."""
    cluster = FakeCluster(member=None, unavailable=1)
    with pytest.raises(TemporaryError):
        asyncio.run(remove_node(cluster, "c2", settle=0.0))  # type: ignore[arg-type]
    assert cluster.moves == 0
