"""Removing a host from the cluster: its etcd member (a control-plane host) removed, its credentials revoked,
its containers sent elsewhere, its Node deleted."""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from dlxc.client.api import PREFIX, Client
from dlxc.client.errors import Conflict, NotFound, TemporaryError
from schemas.wire import CONTROL_PLANE_OF_ANNOTATION, LXC_FINALIZER

__all__ = ["Removal", "remove_node"]

RIDE_OUT = 30.0  # seconds an etcd leader election after a member's removal may take, at most


@dataclass
class Removal:
    node: str
    etcd_member: bool = False  # a control-plane host: its etcd member was removed
    revoked: list[str] = field(default_factory=list)
    unbound: list[str] = field(default_factory=list)
    released: list[str] = field(default_factory=list)  # deleted containers whose finalizer the node will never clear


async def remove_node(client: Client, name: str, *, settle: float = 1.0) -> Removal:
    """Revoke every node:NAME token (and the admin token of its control-plane components) first (the host may no longer act), delete its Lease and Node
    (so the scheduler no longer offers it), then unbind its containers (the scheduler places them
    again, whatever their failover policy: the host is gone for good). A scheduler that had not yet
    seen the Node go may bind one back to NAME: unbound again until `settle` seconds pass without
    that. NotFound when there is no such Node.

    A control-plane host's etcd member goes first: when etcd refuses (it would lose quorum), the
    Conflict says why and nothing else has changed."""
    await client.get("nodes", name)
    done = Removal(name)
    try:
        await client.request("DELETE", f"{PREFIX}/etcdmembers/{name}")
        done.etcd_member = True
    except NotFound:
        pass  # not a control-plane host
    # With one member fewer, etcd may elect a new leader (the removed member led) and the apiserver on
    # the removed host loses its etcd: every step below is safe to repeat, so ride that out.
    deadline = time.monotonic() + (RIDE_OUT if done.etcd_member else 0.0)
    while True:
        try:
            await _take_out(client, name, done, settle=settle)
            return done
        except TemporaryError:
            if time.monotonic() > deadline:
                raise
            client.next_server()
            await asyncio.sleep(0.5)


async def _take_out(client: Client, name: str, done: Removal, *, settle: float) -> None:
    tokens, _ = await client.list("tokens")
    for token in tokens:
        ours = token["spec"]["role"] == f"node:{name}" or (token["metadata"].get("annotations") or {}).get(CONTROL_PLANE_OF_ANNOTATION) == name
        if ours:
            try:
                await client.delete("tokens", token["metadata"]["name"])
                done.revoked.append(token["metadata"]["name"])
            except NotFound:
                pass
    for plural in ("leases", "nodes"):
        try:
            await client.delete(plural, name)
        except NotFound:
            pass
    quiet_since = time.monotonic()
    while time.monotonic() - quiet_since < settle:
        if await _unbind_all(client, name, done):
            quiet_since = time.monotonic()
        await asyncio.sleep(0.2)
    return done


async def _unbind_all(client: Client, name: str, done: Removal) -> bool:
    """Unbind (or, when deleted, release) every container bound to node NAME; whether there was any."""
    containers, _ = await client.list("containers")
    found = False
    for container in containers:
        if container["spec"].get("nodeName") != name:
            continue
        found = True
        meta = container["metadata"]
        try:
            if meta.get("deletionTimestamp"):
                rest = [f for f in meta.get("finalizers", []) if f != LXC_FINALIZER]
                await client.patch("containers", meta["name"], {"metadata": {"finalizers": rest, "resourceVersion": meta["resourceVersion"]}})
                done.released.append(meta["name"])
            else:
                await client.unbind(meta["name"], name, reason="NodeRemoved", message=f"node {name} was removed from the cluster")
                if meta["name"] not in done.unbound:
                    done.unbound.append(meta["name"])
                    await client.record_event(container, reason="NodeRemoved", type="Warning", component="dlxc node remove",
                                              message=f"moved off node {name}: it was removed from the cluster")
        except (Conflict, NotFound):
            pass  # moved or deleted meanwhile
    return found
