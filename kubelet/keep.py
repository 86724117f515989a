"""A moved container's old directory, kept on its old node until the move is confirmed.

`dlxc move` stops the container, backs it up, and marks it `dlxc.io/keep-rootfs-for: BACKUP`
before deleting it; the kubelet then renames the container's directory (config, upper dir,
snapshots) to `<lxcpath>/.kept/BACKUP` instead of removing it (`park`). Two outcomes:

- the new copy runs on the target: the move deletes its Backup, and this node's BackupAgent,
  which removes the archive, removes the kept directory too (`discard`);
- the move fails: it creates the container here again with `dlxc.io/restore-from: BACKUP`, and
  `Restorer.rootfs` renames the kept directory back into place (`reinstate`) instead of
  unpacking the archive: the very rootfs the container had, at no copying cost.

A rename on the same filesystem, so parking costs nothing whatever the rootfs's size. The kept
directory has no `config` at `<lxcpath>/.kept/`'s top, so liblxc does not list it as a container.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

from kubelet.lxcconfig import split_overlay_rootfs

__all__ = ["KEPT", "discard", "kept_dir", "kept_record", "park", "reinstate"]

log = logging.getLogger("dlxc.kubelet.keep")
KEPT = ".kept"
_ROOTFS = "kept-rootfs"  # the original lxc.rootfs.path, written when parking


def kept_dir(lxc_path: Path, backup: str) -> Path:
    return lxc_path / KEPT / backup


def _rootfs_of(config: Path) -> str | None:
    try:
        for line in config.read_text().splitlines():
            key, sep, value = line.partition("=")
            if sep and key.strip() == "lxc.rootfs.path":
                return value.strip()
    except OSError:
        return None
    return None


def park(lxc_path: Path, name: str, backup: str) -> Path | None:
    """Rename the (stopped) container's directory to `.kept/BACKUP`; None when it has none. Idempotent."""
    source, dest = lxc_path / name, kept_dir(lxc_path, backup)
    if dest.exists():
        return dest  # parked by an earlier pass
    if not source.is_dir():
        return None
    rootfs = _rootfs_of(source / "config")
    dest.parent.mkdir(mode=0o700, exist_ok=True)
    os.rename(source, dest)
    if rootfs is not None:
        (dest / _ROOTFS).write_text(rootfs + "\n")
    log.info("%s: directory kept as %s until the move of backup %s is confirmed", name, dest, backup)
    return dest


def reinstate(lxc_path: Path, name: str, backup: str) -> str | None:
    """Rename `.kept/BACKUP` back to the container's directory and answer its lxc.rootfs.path; None
    when nothing usable is kept (never parked, already discarded, the image under it gone), so the
    caller unpacks the archive instead."""
    source, dest = kept_dir(lxc_path, backup), lxc_path / name
    if not source.is_dir():
        return None
    recorded = source / _ROOTFS
    rootfs = recorded.read_text().strip() if recorded.is_file() else ""
    parts = split_overlay_rootfs(rootfs) if rootfs else None
    if parts is None or Path(parts[1]).parent != dest:
        log.warning("%s: kept directory %s has no usable overlay rootfs (%r); unpacking the archive instead", name, source, rootfs)
        return None
    lower = Path(parts[0])
    if lower.is_relative_to(dest):
        lower = source / lower.relative_to(dest)  # a restored container's own empty lower dir
    if not lower.is_dir():
        log.warning("%s: the lower dir %s of its kept rootfs is gone (image collected?); unpacking the archive instead", name, parts[0])
        return None
    if dest.exists():
        if any(dest.iterdir()):
            log.warning("%s: %s exists already; not reinstating %s over it", name, dest, source)
            return None
        dest.rmdir()
    os.rename(source, dest)
    (dest / _ROOTFS).unlink(missing_ok=True)
    log.info("%s: directory kept during the failed move of backup %s reinstated", name, backup)
    return rootfs


def discard(lxc_path: Path, backup: str) -> bool:
    """Remove `.kept/BACKUP` (the move it was kept for is over); False when there was none."""
    path = kept_dir(lxc_path, backup)
    if not path.is_dir():
        return False
    shutil.rmtree(path)
    return True


def kept_record(rootfs: str, backup: str) -> str:
    """The `restored-from` marker of a reinstated container (its rootfs is its own, not an unpacked one)."""
    return json.dumps({"backup": backup, "kept": True, "rootfs": rootfs}) + "\n"
