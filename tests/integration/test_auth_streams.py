"""Who may exec, attach and read logs: the streaming subresources refuse before anything reaches a kubelet."""
from __future__ import annotations

from typing import Any

import httpx
import pytest

from conftest import Api, run
from dlxc.client.api import Client
from dlxc.client.config import ClientConfig
from dlxc.client.errors import ApiError
from dlxc.client.streams import open_stream

pytestmark = pytest.mark.timeout(120)

BASE = "/apis/dlxc.io/v1"


def upgrade(api: Api, token: str | None, name: str, sub: str, params: list[tuple[str, str]]) -> tuple[int, str]:
    """Status and message of a WebSocket upgrade to containers/NAME/SUB (101 and '' when it opens)."""

    async def go() -> tuple[int, str]:
        async with Client(ClientConfig(server=api.url, token=token)) as client:
            try:
                stream = await open_stream(client, name, sub, params)
            except ApiError as exc:
                return exc.status, exc.message
            await stream.close()
            return 101, ""

    return run(go())


@pytest.fixture
def setup(api: Api) -> dict[str, Any]:
    admin = httpx.Client(base_url=api.url, headers={"Authorization": f"Bearer {api.token}"}, timeout=10)
    try:
        response = admin.post(f"{BASE}/containers", json={"metadata": {"name": "web"}, "spec": {"image": "busybox"}})
        assert response.status_code == 201, response.text
    finally:
        admin.close()
    return {
        "viewer": api.new_token("alice", "viewer"),
        "node": api.new_token("kubelet-n1", "node:n1"),
        "admin": api.token,
    }


EXEC = [("command", "touch"), ("command", "/tmp/pwned")]


@pytest.mark.parametrize(
    ("who", "sub", "expected"),
    [
        pytest.param("none", "exec", 401, id="no-token-exec"),
        pytest.param("bad", "exec", 401, id="bad-token-exec"),
        pytest.param("viewer", "exec", 403, id="viewer-exec"),
        pytest.param("node", "exec", 403, id="node-exec"),
        pytest.param("viewer", "attach", 403, id="viewer-attach"),
        pytest.param("node", "attach", 403, id="node-attach"),
        # admin passes authorization; the container is not scheduled anywhere, so nothing can run.
        pytest.param("admin", "exec", 409, id="admin-exec-unscheduled"),
        pytest.param("admin", "attach", 409, id="admin-attach-unscheduled"),
    ],
)
def test_exec_and_attach_need_admin(api: Api, setup: dict[str, Any], who: str, sub: str, expected: int) -> None:
    token = {"none": None, "bad": "not-a-token"}.get(who, setup.get(who))
    status, message = upgrade(api, token, "web", sub, EXEC)
    assert status == expected, message
    if who in ("viewer", "node"):
        role = "viewer" if who == "viewer" else "node:n1"
        name = "alice" if who == "viewer" else "kubelet-n1"
        assert message == f"{name} ({role}) may not {sub} containers/web"
    if expected == 409:
        assert message == "container web is not scheduled to a node yet (Pending)"


def test_wrong_container_and_missing_command(api: Api, setup: dict[str, Any]) -> None:
    assert upgrade(api, api.token, "nosuch", "exec", EXEC) == (404, "containers/nosuch not found")
    status, message = upgrade(api, api.token, "web", "exec", [])
    assert (status, message) == (400, "no command given")


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        pytest.param("none", 401, id="no-token"),
        pytest.param("node", 403, id="node"),
        pytest.param("viewer", 409, id="viewer-may-read-logs"),  # allowed; the container just has no node yet
        pytest.param("admin", 409, id="admin"),
    ],
)
def test_logs_viewer_yes_node_no(api: Api, setup: dict[str, Any], who: str, expected: int) -> None:
    headers = {"Authorization": f"Bearer {setup[who]}"} if who in setup else {}
    response = httpx.get(f"{api.url}{BASE}/containers/web/log", headers=headers, timeout=10)
    assert response.status_code == expected, response.text


def test_no_audit_event_for_a_refused_exec(api: Api, setup: dict[str, Any]) -> None:
    upgrade(api, setup["viewer"], "web", "exec", EXEC)
    events = httpx.get(f"{api.url}{BASE}/events", headers={"Authorization": f"Bearer {api.token}"}, timeout=10).json()["items"]
    assert [e for e in events if e["spec"]["reason"] in ("Exec", "Attach")] == []


def test_plain_get_of_exec_is_not_a_route(api: Api) -> None:
    # Exec is a WebSocket only: a plain GET is no way around the checks.
    response = httpx.get(f"{api.url}{BASE}/containers/web/exec", headers={"Authorization": f"Bearer {api.token}"}, timeout=10)
    assert response.status_code in (404, 405)




def test_a_browser_may_offer_the_token_as_a_subprotocol(api: Api, setup: dict[str, Any]) -> None:
    """Browsers cannot set headers on a WebSocket: the token rides in Sec-WebSocket-Protocol, as in Kubernetes."""
    import base64

    import aiohttp

    def status_with(token: str) -> int:
        async def go() -> int:
            offered = "base64url.bearer.authorization.k8s.io." + base64.urlsafe_b64encode(token.encode()).decode().rstrip("=")
            async with aiohttp.ClientSession() as session:
                try:
                    async with session.ws_connect(f"{api.url}{BASE}/containers/web/exec", params={"command": "true"},
                                                  protocols=("v5.channel.k8s.io", offered)):
                        return 101
                except aiohttp.WSServerHandshakeError as exc:
                    return exc.status

        return run(go())

    assert status_with(api.token) == 409  # authorized; the container just is not on a node
    assert status_with(setup["viewer"]) == 403
    assert status_with("wrong") == 401
