"""The /etc/hosts every container on the cluster network gets, and how it is rewritten."""
from __future__ import annotations

from pathlib import Path

import pytest

from kubelet.names import CLUSTER_BEGIN, CLUSTER_END, NAMES_BEGIN, NAMES_END, HostsFiles, cluster_lines, hosts_content, merge_blocks
from schemas.wire import HOSTS_ANNOTATION

HEADER = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
MEMBERS = ["10.88.0.2 frontend.mc.cluster frontend mc-frontend", "10.88.0.3 node1.mc.cluster node1 mc-node1"]


def ct(name: str, phase: str, network: dict | None, *, deleting: bool = False) -> dict:
    meta: dict = {"name": name, **({"deletionTimestamp": "2026-01-01T00:00:00Z"} if deleting else {})}
    spec: dict = {"image": "busybox", **({"network": network} if network is not None else {})}
    return {"metadata": meta, "spec": spec, "status": {"phase": phase}}


def names_file(names: str, own: str = HEADER) -> str:
    return own + NAMES_BEGIN + "\n" + names + NAMES_END + "\n"


def cluster_block(lines: list[str]) -> str:
    return CLUSTER_BEGIN + "\n" + "".join(line + "\n" for line in lines) + CLUSTER_END + "\n"


@pytest.mark.parametrize(
    ("containers", "lines"),
    [
        ([], ""),
        ([ct("web", "Running", {"type": "cluster", "ipv4": "10.88.0.9/16"}), ct("db", "Running", {"ipv4": "10.88.1.2/16"})],
         "10.88.1.2\tdb db.dlxc\n10.88.0.9\tweb web.dlxc\n"),
        ([ct("web", "Creating", {"ipv4": "10.88.0.9/16"}), ct("old", "Running", {"ipv4": "10.88.0.8/16"}, deleting=True),
          ct("br", "Running", {"type": "bridge", "bridge": "br0"}), ct("new", "Running", None)], ""),
    ],
    ids=["none", "running-sorted-by-name", "not-running-deleting-bridge-unallocated"],
)
def test_hosts_content(containers: list, lines: str) -> None:
    assert hosts_content(containers) == lines


NAMES = "10.88.0.9\tweb web.dlxc\n"


@pytest.mark.parametrize(
    ("existing", "cluster", "expected"),
    [
        ("", [], names_file(NAMES)),
        ("", MEMBERS, names_file(NAMES) + cluster_block(MEMBERS)),
        # The user's lines (before, between and after the blocks) stay, in order, ahead of the blocks.
        (HEADER + "10.9.9.9 mine\n" + NAMES_BEGIN + "\nold\n" + NAMES_END + "\n10.9.9.8 also\n" + cluster_block(["x"]) + "10.9.9.7 late\n",
         MEMBERS, names_file(NAMES, HEADER + "10.9.9.9 mine\n10.9.9.8 also\n10.9.9.7 late\n") + cluster_block(MEMBERS)),
        # What busybox's rcS leaves after cutting the file: its lines are the container's own.
        ("127.0.0.1\tlocalhost\n127.0.1.1\tnode1\n", MEMBERS,
         names_file(NAMES, "127.0.0.1\tlocalhost\n127.0.1.1\tnode1\n") + cluster_block(MEMBERS)),
        # The padding comment of a file that shrank is not kept as a line of the user's; a member no more loses its block.
        (names_file("a\nb\n") + cluster_block(MEMBERS) + "#        \n", [], names_file(NAMES)),
    ],
    ids=["empty", "empty-member", "user-lines-kept", "after-rcS", "padding-dropped-block-gone"],
)
def test_merge_blocks(existing: str, cluster: list[str], expected: str) -> None:
    assert merge_blocks(existing, NAMES, cluster) == expected
    assert merge_blocks(expected, NAMES, cluster) == expected


def test_cluster_lines_from_the_annotation() -> None:
    assert cluster_lines({"metadata": {}}) is None
    assert cluster_lines({"metadata": {"annotations": {HOSTS_ANNOTATION: ";".join(MEMBERS)}}}) == MEMBERS
    assert cluster_lines({"metadata": {"annotations": {HOSTS_ANNOTATION: ""}}}) == []


def test_files_are_rewritten_in_place_never_shrinking_and_dropped_when_the_container_leaves(tmp_path: Path) -> None:
    files = HostsFiles(tmp_path / "hosts")
    web = files.ensure("web")
    inode = web.stat().st_ino
    assert web.read_text() == names_file("")
    long = "10.88.0.9\tdb db.dlxc\n10.88.0.10\tcache cache.dlxc\n"
    files.update(long, ["web"])
    assert web.read_text() == names_file(long)
    files.update("", ["web"])
    text = web.read_text()
    # Same inode (a bind mount holds it), same length, and what is left over is a comment.
    assert web.stat().st_ino == inode and len(text) == len(names_file(long))
    assert text.startswith(names_file("")) and text[len(names_file("")):].lstrip("# ").strip() == ""
    assert files.ensure("web") == web and web.read_text() == text
    files.update("", [])
    assert not web.exists()


def test_the_containers_own_lines_survive_and_a_members_block_follows_its_reconcile(tmp_path: Path) -> None:
    files = HostsFiles(tmp_path / "hosts")
    # The loop's cache seeds a member's lines (a restarted kubelet), before the file exists.
    files.update(NAMES, ["mc-node1"], {"mc-node1": MEMBERS[:1]})
    path = files.ensure("mc-node1")
    assert path.read_text() == names_file(NAMES) + cluster_block(MEMBERS[:1])
    # The container edits its /etc/hosts (the same file through the bind mount).
    with path.open("a") as handle:
        handle.write("10.9.9.9 mine\n")
    # Its reconcile sets newer lines; a later loop pass with a lagging cache does not undo them.
    assert files.set_cluster("mc-node1", MEMBERS) is True
    files.update(NAMES, ["mc-node1"], {"mc-node1": MEMBERS[:1]})
    assert path.read_text() == names_file(NAMES, HEADER + "10.9.9.9 mine\n") + cluster_block(MEMBERS)
    assert files.set_cluster("mc-node1", MEMBERS) is False
    # A boot script cuts the file: the next write puts the blocks back after what it wrote.
    path.write_text("127.0.0.1\tlocalhost\n")
    assert files.set_cluster("mc-node1", MEMBERS) is True
    assert path.read_text() == names_file(NAMES, "127.0.0.1\tlocalhost\n") + cluster_block(MEMBERS)
    assert files.set_cluster("gone", MEMBERS) is False and not files.path("gone").exists()
