from __future__ import annotations

import asyncio

import pytest

from apiserver.auth import Identity
from apiserver.ui.actions import container_action
from apiserver.ui.session import LoginLinks, Session, csrf_token, identify
from apiserver.ui.login import safe_next as _next
from dlxc.client.errors import BadRequest, Unauthorized


def test_csrf_token_is_stable_per_token_and_differs_between_tokens() -> None:
    assert csrf_token("a") == csrf_token("a")
    assert csrf_token("a") != csrf_token("b")
    assert len(csrf_token("a")) == 64


def test_a_login_link_works_once_and_not_after_it_expires() -> None:
    now = [100.0]
    links = LoginLinks(ttl=120, clock=lambda: now[0])
    code = links.issue("tok")
    assert links.redeem(code) == "tok"
    assert links.redeem(code) is None
    late = links.issue("tok")
    now[0] += 121
    assert links.redeem(late) is None
    assert links.redeem("made-up") is None


@pytest.mark.parametrize(
    ("role", "verb", "plural", "allowed"),
    [("admin", "patch", "containers", True), ("viewer", "patch", "containers", False), ("viewer", "get", "containers", True),
     ("node:n1", "patch", "nodes", False), ("node:n1", "delete", "containers", False)],
    ids=["admin-writes", "viewer-does-not", "viewer-reads", "node-not-other-nodes", "node-not-containers"],
)
def test_session_may_follows_the_api_roles(role: str, verb: str, plural: str, allowed: bool) -> None:
    assert Session("t", Identity("x", role)).may(verb, plural) is allowed


def test_identify_takes_a_sync_or_an_async_token_check() -> None:
    def sync_check(header: str | None) -> Identity:
        if header != "Bearer good":
            raise Unauthorized("bad")
        return Identity("alice", "viewer")

    async def async_check(header: str | None) -> Identity:
        return sync_check(header)

    async def go() -> None:
        assert await identify(sync_check, "good") == Identity("alice", "viewer")
        assert await identify(async_check, "good") == Identity("alice", "viewer")
        with pytest.raises(Unauthorized):
            await identify(async_check, "bad")

    asyncio.run(go())


@pytest.mark.parametrize(
    ("value", "target"),
    [("/ui/containers?phase=Running", "/ui/containers?phase=Running"), ("https://evil.example/", "/ui/"),
     ("//evil.example/ui/", "/ui/"), ("/ui/\\evil", "/ui/"), ("/apis/dlxc.io/v1/containers", "/ui/"), (None, "/ui/")],
    ids=["dashboard-path", "other-site", "scheme-relative", "backslash", "api-path", "none"],
)
def test_after_login_only_dashboard_paths_are_followed(value: str | None, target: str) -> None:
    assert _next(value) == target


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple] = []

    async def patch(self, plural: str, name: str, patch: dict) -> dict:
        self.calls.append(("patch", plural, name, patch))
        return {}

    async def delete(self, plural: str, name: str) -> dict:
        self.calls.append(("delete", plural, name))
        return {}


@pytest.mark.parametrize(
    ("action", "call"),
    [("start", ("patch", "containers", "web", {"spec": {"state": "Running"}})),
     ("stop", ("patch", "containers", "web", {"spec": {"state": "Stopped"}})),
     ("restart", ("patch", "containers", "web", {"metadata": {"annotations": {"dlxc.io/restartedAt": "2026-01-01T12:00:00Z"}},
                                                 "spec": {"state": "Running"}})),
     ("delete", ("delete", "containers", "web"))],
    ids=["start", "stop", "restart", "delete"],
)
def test_container_actions_write_what_the_cli_writes(action: str, call: tuple) -> None:
    from datetime import datetime, timezone

    client = Recorder()
    asyncio.run(container_action(client, "web", action, now=datetime(2026, 1, 1, 12, tzinfo=timezone.utc)))  # type: ignore[arg-type]
    assert client.calls == [call]


def test_an_unknown_action_names_the_field() -> None:
    with pytest.raises(BadRequest) as caught:
        asyncio.run(container_action(Recorder(), "web", "explode"))  # type: ignore[arg-type]
    assert caught.value.details == [{"field": "action", "message": "must be one of start, stop, restart, delete"}]
