"""The bad-input corpus: every document gets a 4xx naming the field at fault, and nothing is written."""
from __future__ import annotations

import json
import os
import socket
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.timeout(60)

URL = "/apis/dlxc.io/v1/containers"


def ct(**spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "bad"}, "spec": {"image": "busybox", **spec}}


def named(name: str) -> dict[str, Any]:
    return {"metadata": {"name": name}, "spec": {"image": "busybox"}}


def nested(depth: int) -> bytes:
    return b'{"metadata":{"name":"bad","annotations":' + b"[" * depth + b"]" * depth + b"}}"


# (id, body (object or raw bytes), status, field named in details)
CORPUS: list[tuple[str, Any, int, str]] = [
    ("name-uppercase", named("Web"), 422, "metadata.name"),
    ("name-too-long", named("a" * 64), 422, "metadata.name"),
    ("name-with-dot", named("a.b"), 422, "metadata.name"),
    ("name-leading-dash", named("-a"), 422, "metadata.name"),
    ("name-missing", {"metadata": {}, "spec": {"image": "busybox"}}, 422, "metadata.name"),
    ("env-newline", ct(env={"A": "x\nlxc.cap.drop="}), 422, "spec.env.A"),
    ("env-carriage-return", ct(env={"A": "x\rb"}), 422, "spec.env.A"),
    ("env-nul", ct(env={"A": "x\x00b"}), 422, "spec.env.A"),
    ("env-bad-key", ct(env={"A B": "x"}), 422, "spec.env"),
    ("hostname-newline", ct(hostname="h\nlxc.x=1"), 422, "spec.hostname"),
    ("bridge-newline", ct(network={"type": "bridge", "bridge": "br0\nlxc.net.0.type=phys"}), 422, "spec.network.bridge"),
    ("bridge-too-long", ct(network={"bridge": "b" * 16}), 422, "spec.network.bridge"),
    ("mount-newline", ct(mounts=[{"hostPath": "/tmp/a\nlxc.x=1", "path": "/a"}]), 422, "spec.mounts.0.hostPath"),
    ("mount-relative", ct(mounts=[{"hostPath": "tmp/a", "path": "/a"}]), 422, "spec.mounts.0.hostPath"),
    ("mount-dotdot", ct(mounts=[{"hostPath": "/tmp/../etc", "path": "/a"}]), 422, "spec.mounts.0.hostPath"),
    ("mount-not-allowed", ct(mounts=[{"hostPath": "/etc", "path": "/a"}]), 422, "spec.mounts.0.hostPath"),
    ("mount-container-path-nul", ct(mounts=[{"hostPath": "/tmp", "path": "/a\x00"}]), 422, "spec.mounts.0.path"),
    ("privileged", ct(privileged=True), 422, "spec.privileged"),
    ("image-space", ct(image="busy box"), 422, "spec.image"),
    ("memory-words", ct(memory="lots"), 422, "spec.memory"),
    ("memory-too-small", ct(memory="1Ki"), 422, "spec.memory"),
    ("cpu-negative", ct(cpu=-1), 422, "spec.cpu"),
    ("unknown-field", ct(foo=1), 422, "spec.foo"),
    ("annotation-newline", {"metadata": {"name": "bad", "annotations": {"a": "x\ny"}}, "spec": {"image": "busybox"}}, 422, "metadata.annotations.a"),
    ("label-invalid", {"metadata": {"name": "bad", "labels": {"a": "x y"}}, "spec": {"image": "busybox"}}, 422, "metadata.labels"),
    ("wrong-kind", {**ct(), "kind": "Node"}, 422, "kind"),
    ("not-json", b"{not json", 400, "body"),
    ("a-list", b"[1, 2]", 400, "body"),
    ("deep-nesting", nested(100), 400, "body"),
    ("very-deep-nesting", nested(100_000), 400, "body"),
    ("too-large", b'{"metadata":{"name":"bad"},"spec":{"image":"' + b"a" * (1024 * 1024) + b'"}}', 413, "body"),
]


@pytest.mark.parametrize(("body", "status", "field"), [pytest.param(b, s, f, id=i) for i, b, s, f in CORPUS])
def test_bad_input_is_refused_naming_the_field(module_api, body: Any, status: int, field: str) -> None:
    headers = {"Authorization": f"Bearer {module_api.token}", "Content-Type": "application/json"}
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    with httpx.Client(base_url=module_api.url, headers=headers) as http:
        response = http.post(URL, content=raw)
        assert response.status_code == status, response.text
        answer = response.json()
        assert set(answer) >= {"reason", "message", "details"}
        assert field in [d["field"] for d in answer["details"]], answer
        assert "Traceback" not in response.text
        assert http.get(URL).json()["items"] == []


def test_a_host_path_through_a_symlink_is_refused(module_api, tmp_path) -> None:
    link = tmp_path / "link"
    os.symlink("/etc", link)
    headers = {"Authorization": f"Bearer {module_api.token}"}
    with httpx.Client(base_url=module_api.url, headers=headers) as http:
        response = http.post(URL, json=ct(mounts=[{"hostPath": f"{link}/ssl", "path": "/a"}]))
        assert response.status_code == 422
        assert response.json()["details"] == [{"field": "spec.mounts.0.hostPath", "message": f"{link} is a symlink; host paths are not resolved through symlinks"}]
        ok = http.post(URL, json=ct(mounts=[{"hostPath": str(tmp_path), "path": "/a"}]))
        assert ok.status_code == 201, ok.text
        http.delete(f"{URL}/bad")


def test_a_memory_limit_too_small_to_start_is_refused_by_a_server_dry_run(module_api) -> None:
    headers = {"Authorization": f"Bearer {module_api.token}"}
    response = httpx.post(f"{module_api.url}{URL}?dryRun=All", json=ct(memory="1Ki"), headers=headers)
    assert response.status_code == 422
    assert response.json()["details"] == [{"field": "spec.memory", "message": "1Ki is too small to start a container; the minimum is 4Mi"}]


def test_a_413_is_answered_before_the_body_is_read(module_api) -> None:
    # The declared length alone decides: only two bytes of the promised 50 MiB are ever sent.
    host, port = module_api.url.rpartition("/")[2].split(":")
    request = (
        f"POST {URL} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {module_api.token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {50 * 1024 * 1024}\r\n\r\n{{}}"
    ).encode()
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request)
        received = b""
        while b"}" not in received.partition(b"\r\n\r\n")[2]:  # headers, then the whole JSON body
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
        answer = received.decode()
    assert answer.startswith("HTTP/1.1 413 ")
    assert '"reason":"RequestEntityTooLarge"' in answer


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/apis/dlxc.io/v1/widgets", 404), ("POST", "/healthz", 405), ("GET", "/nothing", 404)],
    ids=["unknown-kind", "wrong-method", "unknown-path"],
)
def test_routing_errors_are_json_too(module_api, method: str, path: str, status: int) -> None:
    response = httpx.request(method, module_api.url + path, headers={"Authorization": f"Bearer {module_api.token}"})
    assert response.status_code == status
    assert set(response.json()) == {"reason", "message", "details", "code"}
