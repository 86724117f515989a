"""Cluster-wide container addresses: one claim per address in etcd, written with the container that holds it.

Why claims in etcd and the address in `spec.network.ipv4`: the address is recorded on the object
(as Kubernetes records a Service's clusterIP), so it survives every reschedule and move and any
component can read it; the claim key `claims/ipv4-ADDR` makes it unique, because the container
and its claim are written in one etcd transaction that fails when the claim exists. A claim whose
container (name and uid) is gone is stale and may be taken over by the same kind of transaction,
so a crash between a container's deletion and its claim's removal never leaks an address.
"""
from __future__ import annotations

import ipaddress
import random
from collections.abc import Iterator
from typing import Any

from apiserver.storage import ClaimTaken, Store
from dlxc.client.errors import Invalid, NotFound
from schemas.base import Obj

__all__ = [
    "ClusterNetwork",
    "claim_name",
    "cluster_ipv4",
    "gateway_of",
    "random_candidates",
    "static_problem",
]

FIELD = "spec.network.ipv4"


def gateway_of(network: ipaddress.IPv4Network) -> ipaddress.IPv4Address:
    """The network's first address: every node's bridge holds it (an anycast gateway), no container may."""
    return network.network_address + 1


def claim_name(ip: ipaddress.IPv4Address) -> str:
    return f"ipv4-{ip}"


def cluster_ipv4(spec: Obj) -> str | None | bool:
    """spec.network.ipv4 of a container on the cluster network (None when not yet chosen); False when
    the container is not on the cluster network at all."""
    network = spec.get("network")
    if network is None:
        return None
    if network.get("type", "cluster") != "cluster":
        return False
    return network.get("ipv4")


def static_problem(network: ipaddress.IPv4Network, ipv4: str) -> str | None:
    """Why `ipv4` (ADDR/PREFIX) cannot be a container's address on `network`, or None."""
    iface = ipaddress.IPv4Interface(ipv4)
    if iface.ip not in network:
        return f"{iface.ip} is outside the cluster network {network}"
    if iface.network.prefixlen != network.prefixlen:
        return f"the prefix must be the cluster network's: {iface.ip}/{network.prefixlen}"
    if iface.ip in (network.network_address, network.broadcast_address):
        return f"{iface.ip} is the network's {'own' if iface.ip == network.network_address else 'broadcast'} address"
    if iface.ip == gateway_of(network):
        return f"{iface.ip} is the cluster network's gateway (every node's bridge holds it)"
    return None


def random_candidates(network: ipaddress.IPv4Network, rng: random.Random, count: int) -> Iterator[ipaddress.IPv4Address]:
    """`count` random container addresses of `network` (never the network, gateway or broadcast address).

    Random rather than lowest-free: concurrent creates rarely pick the same address, so they
    rarely retry, and no create needs to read every claim first."""
    first = int(network.network_address) + 2
    last = int(network.broadcast_address) - 1
    if last < first:
        return
    for _ in range(count):
        yield ipaddress.IPv4Address(rng.randint(first, last))


class ClusterNetwork:
    """Allocates cluster addresses as containers are created (used by the Container registry)."""

    def __init__(self, store: Store, network: ipaddress.IPv4Network, *, rng: random.Random | None = None) -> None:
        self.store = store
        self.network = network
        self.rng = rng or random.Random()

    async def _stale_rv(self, claim: str) -> int | None:
        """0 when the claim is free, its revision when it is stale (its container is gone), None when held."""
        found = await self.store.get_claim(claim)
        if found is None:
            return 0
        owner, rv = found
        try:
            live = await self.store.get("containers", str(owner.get("name")))
        except NotFound:
            return rv
        return rv if live["metadata"].get("uid") != owner.get("uid") else None

    async def _holder(self, claim: str) -> str:
        found = await self.store.get_claim(claim)
        return str(found[0].get("name")) if found else "another container"

    async def _create_claiming(self, obj: Obj, ip: ipaddress.IPv4Address, owner: Obj) -> Obj | None:
        """Create obj holding `ip`: None when another live container holds it. The claim is assumed
        free (one transaction, no read); only when it is not is its owner looked at."""
        name, claim = obj["metadata"]["name"], claim_name(ip)
        rv: int | None = 0
        for _ in range(3):
            try:
                return await self.store.create_with_claim("containers", name, obj, claim=claim, owner=owner, claim_rv=rv or 0)
            except ClaimTaken:
                rv = await self._stale_rv(claim)
                if rv is None:
                    return None
        return None

    async def check(self, obj: Obj) -> None:
        """Raise what `create` would refuse about obj's static address, writing nothing (a dry run):
        outside the network, or held by another live container."""
        ipv4 = cluster_ipv4(obj["spec"])
        if not ipv4:
            return
        problem = static_problem(self.network, str(ipv4))
        if problem is None:
            ip = ipaddress.IPv4Interface(str(ipv4)).ip
            if await self._stale_rv(claim_name(ip)) is None:
                problem = f"{ip} is taken by container {await self._holder(claim_name(ip))}"
        if problem:
            raise _invalid(obj["metadata"]["name"], problem)

    async def create(self, obj: Obj) -> Obj:
        """Create the Container `obj` (already validated) with its cluster address claimed in the same write."""
        ipv4 = cluster_ipv4(obj["spec"])
        meta = obj["metadata"]
        owner = {"name": meta["name"], "uid": meta["uid"]}
        if ipv4:
            problem = static_problem(self.network, str(ipv4))
            if problem:
                raise _invalid(meta["name"], problem)
            ip = ipaddress.IPv4Interface(str(ipv4)).ip
            created = await self._create_claiming(obj, ip, owner)
            if created is not None:
                return created
            raise _invalid(meta["name"], f"{ip} is taken by container {await self._holder(claim_name(ip))}")
        tried = 0
        for ip in self._candidates():
            tried += 1
            obj["spec"]["network"] = {"type": "cluster", "ipv4": f"{ip}/{self.network.prefixlen}"}
            created = await self._create_claiming(obj, ip, owner)
            if created is not None:
                return created
        message = f"no free address left in the cluster network {self.network} ({tried} tried)"
        raise Invalid(f"Container {meta['name']} cannot be created: {message}", details=[{"field": FIELD, "message": message}])

    def _candidates(self) -> Iterator[ipaddress.IPv4Address]:
        # Random picks first; then every address in order, so a nearly full network still finds its last ones.
        yield from random_candidates(self.network, self.rng, 16)
        gateway = gateway_of(self.network)
        for ip in self.network.hosts():
            if ip != gateway:
                yield ip

    async def release(self, obj: Obj) -> None:
        """Drop the claim of a container that is gone (best effort: a leftover claim is stale, reclaimed later)."""
        ipv4 = cluster_ipv4(obj.get("spec") or {})
        if not ipv4:
            return
        claim = claim_name(ipaddress.IPv4Interface(str(ipv4)).ip)
        found = await self.store.get_claim(claim)
        if found is not None and found[0].get("uid") == obj["metadata"].get("uid"):
            await self.store.delete_claim(claim, rv=found[1])


def keep_address(current: Obj, new: Obj) -> Any:
    """The update rule: the address stays what it was; a writer that leaves it out keeps it, one that
    changes it is refused (422 naming the field)."""
    old_ip = cluster_ipv4(current.get("spec") or {})
    new_spec = new.get("spec") or {}
    new_ip = cluster_ipv4(new_spec)
    if not old_ip:
        if new_ip:
            raise Invalid(f"{FIELD} cannot be set by an update: delete the container and create it with the address",
                          details=[{"field": FIELD, "message": "can only be set when the container is created"}])
        if new_ip is None and old_ip is False:
            raise Invalid("spec.network: a container moves to the cluster network only by being created again",
                          details=[{"field": "spec.network", "message": "cannot change to the cluster network by an update"}])
        return new
    if new_ip is False:
        raise Invalid("spec.network: a container leaves the cluster network only by being created again",
                      details=[{"field": "spec.network", "message": "cannot change from the cluster network by an update"}])
    if new_ip is None:
        new_spec["network"] = {**(new_spec.get("network") or {}), "type": "cluster", "ipv4": old_ip}
    elif new_ip != old_ip:
        raise Invalid(f"{FIELD} is {old_ip} and cannot be changed by an update",
                      details=[{"field": FIELD, "message": "field is immutable"}])
    return new


def _invalid(name: str, problem: str) -> Invalid:
    """The refusal of a Container's static address, as the create and its dry run both say it."""
    return Invalid(f"Container {name} is invalid: {FIELD}: {problem}", details=[{"field": FIELD, "message": problem}])
