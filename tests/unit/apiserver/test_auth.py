from __future__ import annotations

from pathlib import Path

import pytest

from apiserver.auth import Identity, TokenFile, authorize, check_role
from dlxc.client.errors import Forbidden, Unauthorized


@pytest.mark.parametrize(
    ("role", "ok"),
    [("admin", True), ("viewer", True), ("node:n1", True), ("join", True), ("node:", False), ("node:N1", False), ("root", False), ("node:a b", False)],
    ids=["admin", "viewer", "node", "join", "node-empty", "node-upper", "unknown", "node-space"],
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


def test_join_tokens_are_never_in_the_token_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="a join token counts its uses in etcd"):
        TokenFile(tmp_path / "tokens").add("hosts", "join")
    assert not (tmp_path / "tokens").exists()


@pytest.mark.parametrize("verb", ["get", "list", "watch", "create", "update", "delete"])
def test_a_join_identity_may_do_nothing(verb: str) -> None:
    with pytest.raises(Forbidden, match="only good for `dlxc join`"):
        authorize(Identity("hosts", "join"), verb=verb, plural="nodes", name=None, subresource=None, bound_node=None)


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


def test_token_file_remove_drops_only_that_name(tmp_path: Path) -> None:
    tokens = TokenFile(tmp_path / "tokens")
    keep, gone = tokens.add("alice", "viewer"), tokens.add("kubelet-n2", "node:n2")
    assert tokens.authenticate(f"Bearer {gone}") == Identity("kubelet-n2", "node:n2")
    assert tokens.remove("kubelet-n2") is True
    assert tokens.remove("kubelet-n2") is False
    with pytest.raises(Unauthorized):
        tokens.authenticate(f"Bearer {gone}")
    assert tokens.authenticate(f"Bearer {keep}") == Identity("alice", "viewer")
    assert (tmp_path / "tokens").stat().st_mode & 0o777 == 0o600


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
        pytest.param("admin", "terminal", True, id="admin-terminal"),
        pytest.param("viewer", "terminal", False, id="viewer-terminal"),
        pytest.param("node:n1", "terminal", False, id="node-terminal"),
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
        action = "open a terminal in" if sub == "terminal" else sub
        with pytest.raises(Forbidden, match=f"someone \\({role}\\) may not {action} containers/web"):
            decide()
