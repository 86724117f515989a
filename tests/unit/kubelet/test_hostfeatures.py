"""Reading what the node offers: idmapped mounts by kernel release, a live lxcfs by mountinfo."""
from __future__ import annotations

from pathlib import Path

import pytest

from kubelet.hostfeatures import idmapped_mounts_supported, lxcfs_mounted


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
