"""X-Dlxc-Lease-Fence: a write commits only while the named Lease is the one created at the named resourceVersion."""
from __future__ import annotations

from typing import Any

import httpx
import pytest

BASE = "/apis/dlxc.io/v1"


def http(api: Any, fence: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {api.token}"}
    if fence is not None:
        headers["X-Dlxc-Lease-Fence"] = fence
    return httpx.Client(base_url=api.url, headers=headers)


def write(h: httpx.Client, verb: str) -> httpx.Response:
    """One write of each kind the fence guards, on container c (create makes d)."""
    return {
        "create": lambda: h.post(f"{BASE}/containers", json={"metadata": {"name": "d"}, "spec": {"image": "busybox"}}),
        "bind": lambda: h.post(f"{BASE}/containers/c/binding", json={"nodeName": "n1"}),
        "patch": lambda: h.patch(f"{BASE}/containers/c", json={"metadata": {"labels": {"a": "b"}}}),
        "delete": lambda: h.delete(f"{BASE}/containers/c"),
    }[verb]()


def lease(api: Any) -> str:
    with http(api) as h:
        created = h.post(f"{BASE}/leases", json={"metadata": {"name": "scheduler"}, "spec": {"holderIdentity": "a"}})
        created.raise_for_status()
        return created.json()["metadata"]["resourceVersion"]


@pytest.mark.parametrize("verb", ["create", "bind", "patch", "delete"])
def test_a_current_token_lets_every_write_through(api: Any, verb: str) -> None:
    with http(api) as h:
        h.post(f"{BASE}/containers", json={"metadata": {"name": "c"}, "spec": {"image": "busybox"}}).raise_for_status()
    rv = lease(api)
    with http(api) as h:  # the leader renews: its term, and so its token, stays
        h.patch(f"{BASE}/leases/scheduler", json={"spec": {"renewTime": "2026-01-01T00:00:00Z"}}).raise_for_status()
    with http(api, f"scheduler={rv}") as h:
        response = write(h, verb)
    assert response.status_code in (200, 201), response.text


@pytest.mark.parametrize("verb", ["create", "bind", "patch", "delete"])
def test_a_deposed_leaders_write_is_refused_and_not_made(api: Any, verb: str) -> None:
    with http(api) as h:
        h.post(f"{BASE}/containers", json={"metadata": {"name": "c"}, "spec": {"image": "busybox"}}).raise_for_status()
    old = lease(api)
    with http(api) as h:  # another candidate takes the lease over: a new term
        h.delete(f"{BASE}/leases/scheduler").raise_for_status()
        h.post(f"{BASE}/leases", json={"metadata": {"name": "scheduler"}, "spec": {"holderIdentity": "b"}}).raise_for_status()
        before = h.get(f"{BASE}/containers/c").json()
    with http(api, f"scheduler={old}") as h:
        response = write(h, verb)
    body = response.json()
    assert (response.status_code, body["reason"]) == (409, "Fenced")
    assert body["message"].startswith("fenced: lease scheduler belongs to the term that began at resourceVersion ")
    assert body["message"].endswith(f", not {old}; this writer is no longer the leader")
    with http(api) as h:
        assert h.get(f"{BASE}/containers/c").json() == before
        assert h.get(f"{BASE}/containers/d").status_code == 404


def test_a_fence_on_a_missing_lease_refuses(api: Any) -> None:
    with http(api, "nosuch=5") as h:
        response = h.post(f"{BASE}/containers", json={"metadata": {"name": "d"}, "spec": {"image": "busybox"}})
    assert (response.status_code, response.json()["message"]) == (
        409, "fenced: lease nosuch belongs to the term that began at resourceVersion none, not 5; this writer is no longer the leader"
    )


@pytest.mark.parametrize("header", ["scheduler", "scheduler=abc", "=5"], ids=["no-rv", "rv-not-a-number", "no-name"])
def test_a_malformed_fence_is_400(api: Any, header: str) -> None:
    with http(api, header) as h:
        response = h.post(f"{BASE}/containers", json={"metadata": {"name": "d"}, "spec": {"image": "busybox"}})
    assert (response.status_code, response.json()["message"]) == (400, "X-Dlxc-Lease-Fence must be LEASE=RESOURCEVERSION")
