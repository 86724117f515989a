"""Reading what the node offers: idmapped mounts by kernel release, a live lxcfs by mountinfo, a private mount namespace."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from kubelet.hostfeatures import idmapped_mounts_supported, lxcfs_mounted, private_mount_namespace


@pytest.mark.parametrize(("release", "supported"), [
    ("6.18.44-fc-v657", True),
    ("5.12.0", True),
    ("5.11.22-generic", False),
    ("4.19.0-25-amd64", False),
    ("weird", False),
])
def test_idmapped_mounts_by_kernel_release(release: str, supported: bool) -> None:
    assert idmapped_mounts_supported(release) is supported


def test_lxcfs_mount_is_found_by_fs_type(tmp_path: Path) -> None:
    (tmp_path / "proc").mkdir()
    line = f"812 29 0:77 / {tmp_path} rw,nosuid,nodev,relatime shared:400 - fuse.lxcfs lxcfs rw,user_id=0\n"
    assert lxcfs_mounted(tmp_path, mountinfo=line)
    # Some other filesystem at that path is not lxcfs.
    assert not lxcfs_mounted(tmp_path, mountinfo=line.replace("fuse.lxcfs", "tmpfs"))
    assert not lxcfs_mounted(tmp_path / "other", mountinfo=line)


def fake_proc(root: Path, *, own: str, pid1: str | None, pid2: str | None, comm2: str = "kthreadd") -> Path:
    """A /proc whose ns/mnt entries are files: the same name means the same namespace (a hard link)."""
    spaces = root / "spaces"
    spaces.mkdir()
    for pid, space in (("self", own), ("1", pid1), ("2", pid2)):
        (root / "proc" / pid / "ns").mkdir(parents=True)
        if space is not None:
            (spaces / space).touch(exist_ok=True)
            os.link(spaces / space, root / "proc" / pid / "ns" / "mnt")
    (root / "proc" / "2" / "comm").write_text(comm2 + "\n")
    return root / "proc"


@pytest.mark.parametrize(("own", "pid1", "pid2", "comm2", "private"), [
    ("host", "host", "host", "kthreadd", False),
    ("mine", "host", "host", "kthreadd", True),
    # /proc/1/ns/mnt refused (a sandbox): kthreadd's, the kernel's initial namespace, decides.
    ("mine", None, "host", "kthreadd", True),
    ("host", None, "host", "kthreadd", False),
    # In a pid namespace pid 2 is no kernel thread: it says nothing about the machine.
    ("mine", None, "host", "sh", None),
    ("mine", None, None, "kthreadd", None),
], ids=["host", "own", "pid1-refused-own", "pid1-refused-host", "pid2-not-kthreadd", "nothing-readable"])
def test_a_private_mount_namespace_is_told_from_the_machines(tmp_path: Path, own: str, pid1: str | None, pid2: str | None,
                                                             comm2: str, private: bool | None) -> None:
    proc = fake_proc(tmp_path, own=own, pid1=pid1, pid2=pid2, comm2=comm2)
    assert private_mount_namespace(proc) is private


def test_this_process_is_in_the_machines_mount_namespace() -> None:
    assert private_mount_namespace() is False
