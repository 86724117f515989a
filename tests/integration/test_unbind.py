"""DELETE containers/NAME/binding: the node lifecycle controller's way to move a container off a lost node."""
from __future__ import annotations

from typing import Any

import httpx
import pytest


BASE = "/apis/dlxc.io/v1/containers"


def bound(api: Any, name: str, node: str = "n1") -> dict:
    with httpx.Client(base_url=api.url, headers={"Authorization": f"Bearer {api.token}"}) as http:
        http.post(BASE, json={"metadata": {"name": name}, "spec": {"image": "busybox"}}).raise_for_status()
        response = http.post(f"{BASE}/{name}/binding", json={"nodeName": node})
        response.raise_for_status()
        return response.json()


def unbind(api: Any, name: str, body: object, *, token: str | None = None) -> httpx.Response:
    with httpx.Client(base_url=api.url, headers={"Authorization": f"Bearer {token or api.token}"}) as http:
        return http.request("DELETE", f"{BASE}/{name}/binding", json=body)


def test_unbind_clears_the_binding_and_says_why(api: Any) -> None:
    before = bound(api, "web")
    response = unbind(api, "web", {"nodeName": "n1", "reason": "NodeLost", "message": "evicted: node n1 lost"})
    assert response.status_code == 200
    after = response.json()
    assert "nodeName" not in after["spec"]
    assert after["metadata"]["generation"] == before["metadata"]["generation"] + 1
    status = after["status"]
    assert (status["phase"], status["message"], status.get("nodeName")) == ("Pending", "evicted: node n1 lost", None)
    scheduled = [c for c in status["conditions"] if c["type"] == "Scheduled"]
    assert [(c["status"], c["reason"], c["message"]) for c in scheduled] == [("False", "NodeLost", "evicted: node n1 lost")]
    # Bound again, as the scheduler does next.
    with httpx.Client(base_url=api.url, headers={"Authorization": f"Bearer {api.token}"}) as http:
        again = http.post(f"{BASE}/web/binding", json={"nodeName": "n2"})
    assert (again.status_code, again.json()["spec"]["nodeName"]) == (201, "n2")


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"nodeName": "n2"}, 409, "containers/c is bound to n1, not to n2"),
        ({}, 422, "unbinding needs nodeName, the node the container is expected on"),
        ({"nodeName": "n1", "colour": "red"}, 422, "unbinding has unknown fields"),
        ({"nodeName": "n1", "reason": 5}, 422, "reason must be a string of at most 1024 characters"),
        ([], 400, "the body must be a JSON object"),
    ],
    ids=["other-node", "no-node", "unknown-field", "bad-reason", "not-an-object"],
)
def test_unbind_refuses(api: Any, body: object, status: int, message: str) -> None:
    bound(api, "c")
    response = unbind(api, "c", body)
    assert (response.status_code, response.json()["message"]) == (status, message)


def test_unbind_of_an_unbound_container_is_a_conflict(api: Any) -> None:
    bound(api, "c")
    assert unbind(api, "c", {"nodeName": "n1"}).status_code == 200
    again = unbind(api, "c", {"nodeName": "n1"})
    assert (again.status_code, again.json()["message"]) == (409, "containers/c is not bound, not to n1")


@pytest.mark.parametrize("role", ["viewer", "node:n1"], ids=["viewer", "its-own-node"])
def test_only_admin_may_unbind(api: Any, role: str) -> None:
    bound(api, "c")
    response = unbind(api, "c", {"nodeName": "n1"}, token=api.new_token("someone", role))
    assert response.status_code == 403
    assert response.json()["message"] == f"someone ({role}) may not delete containers/c/binding"
