"""Making a finished write survive a crash or a power cut before it is reported.

A rename is durable only once its directory is synced, and the files a restore unpacked only
once their filesystem is: a backup reported Completed, or a rootfs marked restored, must not come
back after a power cut as a missing archive or a half-written tree that the marker vouches for.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
from pathlib import Path

__all__ = ["fsync_dir", "sync_filesystem", "write_durably"]

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def fsync_dir(path: Path) -> None:
    """Sync a directory, so the renames and creations in it so far are on disk."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sync_filesystem(path: Path) -> None:
    """syncfs(2) of the filesystem holding `path`: every file written there (an unpacked tree of
    thousands, which fsync one by one would take far longer) is on disk when it returns."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        if _libc.syncfs(fd) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"syncfs {path}: {os.strerror(errno)}")
    finally:
        os.close(fd)


def write_durably(path: Path, text: str) -> None:
    """Write `path` whole or not at all (a temporary file renamed over it), synced with its directory."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
