"""The etcd members of the control plane, as the API shows them: listed, and removed with a host.

`dlxc node remove NAME` of a control-plane host removes its etcd member (named after its node by
`dlxc init`/`join --control-plane`) before anything else, so a refusal leaves the cluster as it
was. etcd itself refuses (strict reconfiguration check, on by default) a removal that would lose
quorum: the member is one of too few started members, or removing a running one would leave too
few of the rest connected; the answer says so and what to do.
"""
from __future__ import annotations

from typing import Any

import aetcd.exceptions

from apiserver.storage import Store
from dlxc.client.errors import Conflict, NotFound, TemporaryError
from schemas import API_VERSION
from schemas.base import Obj

__all__ = ["EtcdMembers"]

# etcd's words for a removal refused to protect quorum (ErrUnhealthy, ErrNotEnoughStartedMembers).
_QUORUM = ("unhealthy cluster", "not enough started members")


class EtcdMembers:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def _all(self) -> list[Any]:
        try:
            return [m async for m in self.store.etcd.members()]
        except aetcd.exceptions.ClientError as exc:
            raise TemporaryError(f"etcd did not list its members: {exc}", delay=1.0) from None

    async def list(self) -> Obj:
        items = [_member(m) for m in await self._all()]
        return {"apiVersion": API_VERSION, "kind": "EtcdMemberList", "items": sorted(items, key=lambda m: m["name"])}

    async def remove(self, name: str) -> Obj:
        everyone = await self._all()
        found = [m for m in everyone if m.name == name]
        if not found:
            raise NotFound(f"no etcd member is named {name!r} (only control-plane hosts have one)")
        member, total = found[0], len(everyone)
        if total == 1:
            raise Conflict(f"{name!r} is the cluster's only etcd member: removing it would end the cluster; "
                           f"`dlxc reset` the host instead")
        try:
            await self.store.etcd.remove_member(member.id)
        except aetcd.exceptions.ClientError as exc:
            if any(words in str(exc) for words in _QUORUM):
                raise Conflict(
                    f"etcd refused to remove member {name!r}: without it, the other {total - 1} members would not have a "
                    f"quorum connected ({exc}); a member is stopped or unreachable, or joined seconds ago: bring it back "
                    f"or wait, or remove a dead member first"
                ) from None
            raise TemporaryError(f"etcd did not remove member {name!r}: {exc}; try again", delay=1.0) from None
        return _member(member)


def _member(member: Any) -> Obj:
    return {"name": member.name, "id": format(member.id, "x"), "peerURLs": list(member.peer_urls)}
