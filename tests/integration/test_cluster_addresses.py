"""Cluster addresses over a real etcd: concurrent creates never share one, deletes free them, stale claims are reclaimed."""
from __future__ import annotations

import asyncio
import ipaddress
import json

import httpx
import pytest

from conftest import run

PREFIX = "/apis/dlxc.io/v1/containers"


def body(name: str, network: dict | None = None) -> dict:
    return {"metadata": {"name": name}, "spec": {"image": "busybox", **({"network": network} if network else {})}}


def test_concurrent_creates_in_a_tiny_network_never_share_an_address(make_api) -> None:
    # /28: 16 addresses less the network, gateway and broadcast ones leave 13 for containers.
    api = make_api(cluster_cidr=ipaddress.IPv4Network("10.99.0.0/28"))

    async def create_all() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=api.url, headers={"Authorization": f"Bearer {api.token}"}, timeout=30) as http:
            return await asyncio.gather(*(http.post(PREFIX, json=body(f"c{i}")) for i in range(20)))

    responses = run(create_all())
    created = [r.json() for r in responses if r.status_code == 201]
    refused = [r.json() for r in responses if r.status_code != 201]
    addresses = [c["spec"]["network"]["ipv4"] for c in created]
    assert len(created) == 13 and len(set(addresses)) == 13
    assert {ipaddress.IPv4Interface(a).ip for a in addresses} == set(ipaddress.IPv4Network("10.99.0.0/28").hosts()) - {
        ipaddress.IPv4Address("10.99.0.1")}
    assert len(refused) == 7
    for error in refused:
        assert error["details"][0]["field"] == "spec.network.ipv4"
        assert "no free address left in the cluster network 10.99.0.0/28" in error["details"][0]["message"]

    with httpx.Client(base_url=api.url, headers={"Authorization": f"Bearer {api.token}"}, timeout=10) as http:
        # A container without finalizers is gone at once; its address goes back to the pool.
        freed = created[0]
        assert http.delete(f"{PREFIX}/{freed['metadata']['name']}").status_code == 200
        again = http.post(PREFIX, json=body("late"))
        assert again.status_code == 201, again.text
        assert again.json()["spec"]["network"]["ipv4"] == freed["spec"]["network"]["ipv4"]
        # Node-bridge and loopback containers take no cluster address, even in a full network.
        assert http.post(PREFIX, json=body("br", {"type": "bridge"})).status_code == 201
        assert http.post(PREFIX, json=body("lo", {"type": "none"})).status_code == 201


def test_a_claim_left_behind_by_a_deleted_container_is_taken_over(make_api, etcd) -> None:
    api = make_api(cluster_cidr=ipaddress.IPv4Network("10.88.0.0/16"))
    static = "10.88.7.7/16"
    with httpx.Client(base_url=api.url, headers={"Authorization": f"Bearer {api.token}"}, timeout=10) as http:
        first = http.post(PREFIX, json=body("first", {"ipv4": static}))
        assert first.status_code == 201, first.text
        uid = first.json()["metadata"]["uid"]
        # As if the apiserver died between deleting the container and its claim: put the claim back.
        assert http.delete(f"{PREFIX}/first").status_code == 200

        async def restore_claim() -> None:
            import aetcd

            async with aetcd.Client(host="127.0.0.1", port=int(etcd.endpoint.rsplit(":", 1)[1])) as client:
                await client.put(f"{api.prefix}/claims/ipv4-10.88.7.7".encode(), json.dumps({"name": "first", "uid": uid}).encode())

        run(restore_claim())
        second = http.post(PREFIX, json=body("second", {"ipv4": static}))
        assert second.status_code == 201, second.text
        # Now really held: a third is refused, naming the holder.
        third = http.post(PREFIX, json=body("third", {"ipv4": static}))
        assert third.status_code == 422
        assert third.json()["details"] == [{"field": "spec.network.ipv4", "message": "10.88.7.7 is taken by container second"}]
        # Dry run checks the static address's shape too.
        dry = http.post(f"{PREFIX}?dryRun=All", json=body("fourth", {"ipv4": "10.99.0.1/16"}))
        assert dry.status_code == 422 and "outside the cluster network" in dry.text
