from __future__ import annotations

from pathlib import Path

import pytest

from apiserver.auth import Identity, TokenFile, authorize, check_role
from dlxc.client.errors import Forbidden, Unauthorized


@pytest.mark.parametrize(
    ("role", "ok"),
    [("admin", True), ("viewer", True), ("node:n1", True), ("node:", False), ("node:N1", False), ("root", False), ("node:a b", False)],
    ids=["admin", "viewer", "node", "node-empty", "node-upper", "unknown", "node-space"],
)
def test_check_role(role: str, ok: bool) -> None:
    if ok:
        assert check_role(role) == role
    else:
        with pytest.raises(ValueError, match="unknown role"):
            check_role(role)


def test_token_file_stores_only_hashes_and_authenticates(tmp_path: Path) -> None:
    tokens = TokenFile(tmp_path / "tokens")
    token = tokens.add("alice", "viewer")
    assert token not in (tmp_path / "tokens").read_text()
    assert tokens.authenticate(f"Bearer {token}") == Identity("alice", "viewer")
    second = tokens.add("bob", "node:n1")  # picked up without a restart
    assert tokens.authenticate(f"Bearer {second}") == Identity("bob", "node:n1")
    for header in (None, "", f"Basic {token}", "Bearer wrong"):
        with pytest.raises(Unauthorized):
            tokens.authenticate(header)


@pytest.mark.parametrize(
    ("verb", "plural", "name", "sub", "bound", "ok"),
    [
        ("update", "containers", "c", "status", "n1", True),
        ("patch", "containers", "c", "finalizers", "n1", True),
        ("patch", "containers", "c", None, "n1", False),
        ("update", "containers", "c", "status", "n2", False),
        ("create", "containers", "c", "binding", None, False),
        ("delete", "nodes", "n1", None, None, True),
        ("update", "nodes", "n2", "status", None, False),
        ("update", "leases", "n1", None, None, True),
        ("create", "leases", "n2", None, None, False),
        ("create", "events", "e", None, None, True),
        ("delete", "events", "e", None, None, False),
        ("watch", "containers", None, None, None, True),
    ],
    ids=["own-status", "own-finalizer", "own-spec", "other-status", "bind", "own-node", "other-node",
         "own-lease", "other-lease", "event", "event-delete", "watch"],
)
def test_node_role(verb: str, plural: str, name: str | None, sub: str | None, bound: str | None, ok: bool) -> None:
    node = Identity("kubelet", "node:n1")
    if ok:
        authorize(node, verb=verb, plural=plural, name=name, subresource=sub, bound_node=bound)
    else:
        with pytest.raises(Forbidden):
            authorize(node, verb=verb, plural=plural, name=name, subresource=sub, bound_node=bound)


@pytest.mark.parametrize(
    ("role", "sub", "allowed"),
    [
        pytest.param("admin", "exec", True, id="admin-exec"),
        pytest.param("admin", "attach", True, id="admin-attach"),
        pytest.param("admin", "log", True, id="admin-log"),
        pytest.param("viewer", "exec", False, id="viewer-exec"),
        pytest.param("viewer", "attach", False, id="viewer-attach"),
        pytest.param("viewer", "log", True, id="viewer-log"),
        pytest.param("node:n1", "exec", False, id="node-exec"),
        pytest.param("node:n1", "attach", False, id="node-attach"),
        pytest.param("node:n1", "log", False, id="node-log-even-its-own"),
    ],
)
def test_getting_inside_a_container(role: str, sub: str, allowed: bool) -> None:
    identity = Identity("someone", role)

    def decide() -> None:
        # A node's own container is no exception: bound_node names it.
        authorize(identity, verb="get" if sub == "log" else "create", plural="containers", name="web", subresource=sub, bound_node="n1")

    if allowed:
        decide()
    else:
        with pytest.raises(Forbidden, match=f"someone \\({role}\\) may not {sub} containers/web"):
            decide()
