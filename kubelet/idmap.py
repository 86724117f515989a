"""The subordinate id range that unprivileged containers map their root to, kept in /etc/subuid and /etc/subgid."""
from __future__ import annotations

import fcntl
import os
import stat
from dataclasses import dataclass
from pathlib import Path

__all__ = ["IdMap", "SubIdRange", "ensure_subids", "pick_start", "read_subids", "unreachable_dirs"]

# Where shadow-utils starts handing out ranges; leaving 0..99999 alone keeps host system ids unmapped.
_FIRST_START = 100000
_ALIGN = 65536


@dataclass(frozen=True)
class IdMap:
    """Container ids 0..count-1 map to host ids start..start+count-1 (uids and gids separately)."""

    host_uid_start: int
    host_gid_start: int
    count: int = 65536

    def __post_init__(self) -> None:
        if self.host_uid_start <= 0 or self.host_gid_start <= 0:
            raise ValueError("an id map must not map container root to host root (start must be > 0)")
        if self.count <= 0:
            raise ValueError("an id map must map at least one id")

    def host_uid(self, uid: int) -> int:
        """The host uid a container uid shows up as."""
        if not 0 <= uid < self.count:
            raise ValueError(f"uid {uid} is outside the mapped range 0..{self.count - 1}")
        return self.host_uid_start + uid

    def host_gid(self, gid: int) -> int:
        """The host gid a container gid shows up as."""
        if not 0 <= gid < self.count:
            raise ValueError(f"gid {gid} is outside the mapped range 0..{self.count - 1}")
        return self.host_gid_start + gid


@dataclass(frozen=True)
class SubIdRange:
    """One line of /etc/subuid or /etc/subgid: OWNER:START:COUNT."""

    owner: str
    start: int
    count: int

    @property
    def end(self) -> int:
        return self.start + self.count


def read_subids(path: Path) -> list[SubIdRange]:
    """The ranges in a subid file; malformed lines are skipped, as shadow-utils does."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    ranges = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(":")
        if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
            continue
        ranges.append(SubIdRange(parts[0], int(parts[1]), int(parts[2])))
    return ranges


def pick_start(taken: list[SubIdRange], *, count: int) -> int:
    """The lowest aligned start at or above 100000 whose range overlaps none of `taken`."""
    start = _FIRST_START
    while True:
        clash = [r for r in taken if r.start < start + count and start < r.end]
        if not clash:
            return start
        # Jump past the furthest clash, then to the next 64Ki boundary so ranges stay tidy.
        start = -(-max(r.end for r in clash) // _ALIGN) * _ALIGN


def _owned(ranges: list[SubIdRange], user: str, count: int) -> SubIdRange | None:
    for r in ranges:
        if r.owner == user and r.count >= count and r.start > 0:
            return r
    return None


def _ensure_one(path: Path, user: str, count: int) -> int:
    # A lock file beside the subid file, so two agents (or useradd-like tools honouring it) do not interleave.
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        ranges = read_subids(path)
        found = _owned(ranges, user, count)
        if found is not None:
            return found.start
        start = pick_start(ranges, count=count)
        handle.seek(0, os.SEEK_END)
        if handle.tell() > 0:
            handle.seek(handle.tell() - 1)
            if handle.read(1) != "\n":
                handle.write("\n")
        handle.write(f"{user}:{start}:{count}\n")
        handle.flush()
        os.fsync(handle.fileno())
        return start


def ensure_subids(
    user: str = "root",
    count: int = 65536,
    *,
    subuid_path: Path = Path("/etc/subuid"),
    subgid_path: Path = Path("/etc/subgid"),
) -> IdMap:
    """The id map for `user`'s containers, adding a free range to both files when `user` has none."""
    if not user or any(ch in user for ch in ":\n"):
        raise ValueError(f"{user!r} is not a user name")
    if count <= 0:
        raise ValueError("count must be positive")
    uid_start = _ensure_one(subuid_path, user, count)
    gid_start = _ensure_one(subgid_path, user, count)
    return IdMap(host_uid_start=uid_start, host_gid_start=gid_start, count=count)


def unreachable_dirs(path: Path) -> list[Path]:
    """Directories down to and including `path` that a mapped (non-host-root) root could not pass through.

    An unprivileged container's root is an ordinary host user, so its rootfs and overlay dirs must sit
    below directories with the "others may search" bit (o+x); pytest's 0700 temp dirs do not have it.
    """
    resolved = Path(path).resolve()
    blocked = []
    for directory in [*reversed(resolved.parents), resolved]:
        try:
            mode = directory.stat().st_mode
        except FileNotFoundError:
            break
        if not mode & stat.S_IXOTH:
            blocked.append(directory)
    return blocked
