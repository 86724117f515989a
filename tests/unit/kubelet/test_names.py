"""The /etc/hosts every container on the cluster network gets, and how it is rewritten."""
from __future__ import annotations

from pathlib import Path

import pytest

from kubelet.names import HostsFiles, hosts_content

HEADER = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"


def ct(name: str, phase: str, network: dict | None, *, deleting: bool = False) -> dict:
    meta: dict = {"name": name, **({"deletionTimestamp": "2026-01-01T00:00:00Z"} if deleting else {})}
    spec: dict = {"image": "busybox", **({"network": network} if network is not None else {})}
    return {"metadata": meta, "spec": spec, "status": {"phase": phase}}


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
    assert hosts_content(containers) == HEADER + lines


def test_files_are_rewritten_in_place_never_shrinking_and_dropped_when_the_container_leaves(tmp_path: Path) -> None:
    files = HostsFiles(tmp_path / "hosts")
    web = files.ensure("web")
    inode = web.stat().st_ino
    assert web.read_text() == HEADER
    long = HEADER + "10.88.0.9\tdb db.dlxc\n10.88.0.10\tcache cache.dlxc\n"
    files.update(long, ["web"])
    assert web.read_text() == long
    files.update(HEADER, ["web"])
    text = web.read_text()
    # Same inode (a bind mount holds it), same length, and what is left over is a comment.
    assert web.stat().st_ino == inode and len(text) == len(long)
    assert text.startswith(HEADER) and text[len(HEADER):].lstrip("# ").strip() == ""
    assert files.ensure("web") == web and web.read_text() == text
    files.update(HEADER, [])
    assert not web.exists()
