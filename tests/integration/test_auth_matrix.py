"""The auth matrix: each role x each verb x own/other node's objects, against a real apiserver."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from schemas.wire import LXC_FINALIZER

pytestmark = pytest.mark.timeout(120)

BASE = "/apis/dlxc.io/v1"
NODE = "n1"

# The objects each case starts from: (own, other) per kind; "own" belongs to node n1.
TARGETS = {
    "containers": ("c-own", "c-other"),
    "nodes": ("n1", "n2"),
    "leases": ("n1", "n2"),
    "events": ("e-own", "e-other"),
}


def body(plural: str, name: str) -> dict[str, Any]:
    if plural == "containers":
        return {"metadata": {"name": name}, "spec": {"image": "busybox"}}
    if plural == "events":
        about = "c-own" if name == "e-own" else "c-other"
        return {"metadata": {"name": name}, "spec": {"involvedObject": {"kind": "Container", "name": about}, "reason": "Seen"}}
    return {"metadata": {"name": name}, "spec": {}}


STATUS_PATCH = {"containers": {"message": "hi"}, "nodes": {"containerCount": 1}, "events": {"count": 2}, "leases": {}}
VERBS = ("get", "list", "watch", "create", "update", "patch", "delete", "status_update", "status_patch")
CONTAINER_VERBS = ("bind", "finalizer_patch", "foreign_finalizer_patch")
ROLES = ("admin", "viewer", f"node:{NODE}")


def allowed(role: str, plural: str, verb: str, own: bool) -> bool:
    """The policy, written out as the issue states it."""
    if role == "admin" or verb in ("get", "list", "watch"):
        return True
    if role == "viewer":
        return False
    if plural in ("nodes", "leases"):
        return own
    if plural == "events":
        return verb != "delete"
    # containers: only the status, and the kubelet's own finalizer, of those bound to the node
    return own and verb in ("status_update", "status_patch", "finalizer_patch")


def cases() -> list[Any]:
    params = []
    for role in ROLES:
        for plural in TARGETS:
            verbs = VERBS + (CONTAINER_VERBS if plural == "containers" else ())
            for verb in verbs:
                for own in (True, False):
                    expected = allowed(role, plural, verb, own)
                    params.append(pytest.param(role, plural, verb, own, expected,
                                               id=f"{role}-{plural}-{verb}-{'own' if own else 'other'}"))
    return params


class Http:
    def __init__(self, url: str, token: str) -> None:
        self.http = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=10)

    def __call__(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.request(method, BASE + path, **kwargs)


@pytest.fixture(scope="module")
def tokens(module_api) -> dict[str, str]:
    return {role: module_api.new_token(role.replace(":", "-"), role) for role in ROLES}


@pytest.fixture(scope="module")
def clients(module_api, tokens) -> Iterator[dict[str, Http]]:
    made = {role: Http(module_api.url, token) for role, token in tokens.items()}
    made["setup"] = Http(module_api.url, module_api.token)
    try:
        yield made
    finally:
        for client in made.values():
            client.http.close()


def reset(admin: Http, plural: str) -> None:
    """Fresh own/other objects of one kind (and the bound containers the node's rules rely on)."""
    for name in TARGETS[plural] + (("c-free",) if plural == "containers" else ()):
        current = admin("GET", f"/{plural}/{name}")
        if current.status_code == 200 and current.json()["metadata"].get("finalizers"):
            admin("PATCH", f"/{plural}/{name}", json={"metadata": {"finalizers": None}})
        admin("DELETE", f"/{plural}/{name}")
    for name in TARGETS[plural]:
        extra = {"metadata": {"finalizers": ["other.io/keep"]}} if plural == "containers" else {}
        created = admin("POST", f"/{plural}", json={**body(plural, name), **{k: {**body(plural, name)[k], **v} for k, v in extra.items()}})
        assert created.status_code == 201, created.text
    if plural == "containers":
        assert admin("POST", "/containers/c-own/binding", json={"nodeName": NODE}).status_code == 201
        assert admin("POST", "/containers/c-other/binding", json={"nodeName": "n2"}).status_code == 201
        assert admin("POST", "/containers", json=body("containers", "c-free")).status_code == 201


def perform(http: Http, admin: Http, plural: str, verb: str, name: str) -> int:
    current = admin("GET", f"/{plural}/{name}").json()
    if verb == "get":
        return http("GET", f"/{plural}/{name}").status_code
    if verb == "list":
        return http("GET", f"/{plural}").status_code
    if verb == "watch":
        with http.http.stream("GET", f"{BASE}/{plural}", params={"watch": "1", "resourceVersion": current["metadata"]["resourceVersion"]}) as response:
            return response.status_code
    if verb == "create":
        admin("DELETE", f"/{plural}/{name}")
        if plural == "containers":
            admin("PATCH", f"/{plural}/{name}", json={"metadata": {"finalizers": None}})
            new = body(plural, name)
            new["spec"]["nodeName"] = NODE if name == "c-own" else "n2"
            return http("POST", f"/{plural}", json=new).status_code
        return http("POST", f"/{plural}", json=body(plural, name)).status_code
    if verb == "update":
        current["metadata"]["labels"] = {"changed": "yes"}
        return http("PUT", f"/{plural}/{name}", json=current).status_code
    if verb == "patch":
        return http("PATCH", f"/{plural}/{name}", json={"metadata": {"labels": {"changed": "yes"}}}).status_code
    if verb == "delete":
        return http("DELETE", f"/{plural}/{name}").status_code
    if verb == "status_update":
        return http("PUT", f"/{plural}/{name}/status", json=current).status_code
    if verb == "status_patch":
        return http("PATCH", f"/{plural}/{name}/status", json={"status": STATUS_PATCH[plural]}).status_code
    if verb == "bind":
        # An unbound container: the question is only who may bind.
        return http("POST", "/containers/c-free/binding", json={"nodeName": NODE if name == "c-own" else "n2"}).status_code
    if verb == "finalizer_patch":
        finalizers = [*current["metadata"].get("finalizers", []), LXC_FINALIZER]
        return http("PATCH", f"/{plural}/{name}", json={"metadata": {"finalizers": finalizers}}).status_code
    if verb == "foreign_finalizer_patch":
        return http("PATCH", f"/{plural}/{name}", json={"metadata": {"finalizers": []}}).status_code
    raise AssertionError(verb)


@pytest.mark.parametrize(("role", "plural", "verb", "own", "expected"), cases())
def test_auth_matrix(clients, role: str, plural: str, verb: str, own: bool, expected: bool) -> None:
    admin, http = clients["setup"], clients[role]
    reset(admin, plural)
    name = TARGETS[plural][0 if own else 1]
    before = admin("GET", f"/{plural}/{name}").json()
    status = perform(http, admin, plural, verb, name)
    if expected:
        assert status in (200, 201), f"{role} {verb} {plural}/{name}: {status}"
    else:
        assert status == 403, f"{role} {verb} {plural}/{name}: {status}"
        if verb not in ("create",):
            assert admin("GET", f"/{plural}/{name}").json() == before  # a refused write wrote nothing


@pytest.mark.parametrize(
    ("headers", "path"),
    [
        ({}, "/containers"),
        ({"Authorization": "Bearer not-a-token"}, "/containers"),
        ({"Authorization": "Basic YWRtaW46YWRtaW4="}, "/nodes"),
        ({}, "/events?watch=1"),
    ],
    ids=["no-token", "unknown-token", "basic-auth", "watch-without-token"],
)
def test_no_valid_token_is_401_but_health_needs_none(module_api, headers: dict[str, str], path: str) -> None:
    response = httpx.get(module_api.url + BASE + path, headers=headers)
    assert response.status_code == 401
    assert response.json()["reason"] == "Unauthorized"
    assert httpx.get(module_api.url + "/healthz").status_code == 200
    assert httpx.get(module_api.url + "/readyz").status_code == 200


def test_tokens_are_stored_hashed(module_api, tokens) -> None:
    stored = module_api.token_file.read_text()
    for token in [module_api.token, *tokens.values()]:
        assert token not in stored
    assert oct(module_api.token_file.stat().st_mode & 0o777) == "0o600"


TOKEN_VERBS = {
    "create": lambda http: http("POST", "/tokens", json={"metadata": {"name": "minted"}, "spec": {"role": "admin"}}),
    "list": lambda http: http("GET", "/tokens"),
    "get": lambda http: http("GET", "/tokens/standing"),
    "delete": lambda http: http("DELETE", "/tokens/standing"),
}


@pytest.mark.parametrize(
    ("role", "verb"), [pytest.param(role, verb, id=f"{role}-tokens-{verb}") for role in ROLES for verb in TOKEN_VERBS]
)
def test_only_an_admin_may_touch_tokens(clients, role: str, verb: str) -> None:
    # Not even a viewer may list them: names and roles of credentials are an admin's business.
    admin, http = clients["setup"], clients[role]
    for name in ("minted", "standing"):
        admin("DELETE", f"/tokens/{name}")
    assert admin("POST", "/tokens", json={"metadata": {"name": "standing"}, "spec": {"role": "viewer"}}).status_code == 201
    response = TOKEN_VERBS[verb](http)
    if role == "admin":
        assert response.status_code in (200, 201), response.text
    else:
        assert response.status_code == 403, response.text
        assert response.json()["message"] == f"{role.replace(':', '-')} ({role}) may not {verb} tokens; only an admin may"
        assert admin("GET", "/tokens/minted").status_code == 404
        assert admin("GET", "/tokens/standing").status_code == 200
