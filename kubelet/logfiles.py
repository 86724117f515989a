"""Reading a container's console log files for `dlxc logs`: the last lines across liblxc's rotation,
the whole files, and following the live file as liblxc rotates it.

Everything reads from open handles, so a dump and the follow after it are one reading of the same
file: the follow starts at the byte the dump stopped at, and what was written while the dump went
out to the client is not skipped.
"""
from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

__all__ = ["FOLLOW_INTERVAL", "LogFollower", "follow_log", "read_chunks", "read_tail", "tail_start"]

FOLLOW_INTERVAL = 0.25  # seconds between looks at a followed console log
READ_CHUNK = 64 * 1024


def tail_start(data: bytes, lines: int) -> int | None:
    """Where the last `lines` lines of `data` begin (`lines` > 0); None when `data` holds fewer whole
    lines, so its first line may begin in bytes before it. Only b"\\n" ends a line (as Kubernetes counts
    them; a bare \\r in console output is no line end); an unfinished last line counts as one."""
    end = len(data) - 1 if data.endswith(b"\n") else len(data)
    for _ in range(lines):
        newline = data.rfind(b"\n", 0, end)
        if newline < 0:
            return None
        end = newline
    return end + 1


def read_tail(handles: Sequence[BinaryIO], lines: int) -> bytes:
    """The last `lines` lines of the handles' bytes joined, oldest file first, each read from where its
    handle stands. The newest is read to its end (a follow goes on from there); an older one only when
    the newer ones hold too few lines, so a line liblxc split across its rotation comes whole, once."""
    if not handles:
        return b""
    if lines <= 0:
        handles[-1].seek(0, os.SEEK_END)
        return b""
    data = b""
    for handle in reversed(handles):
        data = handle.read() + data
        start = tail_start(data, lines)
        if start is not None:
            return data[start:]
    return data


def read_chunks(handle: BinaryIO) -> Iterator[bytes]:
    """The handle's bytes from where it stands to its end, in chunks."""
    while chunk := handle.read(READ_CHUNK):
        yield chunk


class LogFollower:
    """New bytes of the console log at `path`, across liblxc's rotations. liblxc closes console.log
    before renaming it to console.log.1 at its size cap, so when the path names another file the
    handle held is read to its end (all that was written since the last look) before the new file
    is opened and read from its start."""

    def __init__(self, path: Path, handle: BinaryIO | None = None) -> None:
        self.path = path
        self.handle = handle  # the file followed, at the first byte not given out yet (None: none yet)

    def read_new(self) -> bytes | None:
        """What was written since the last call (b"" when nothing); None when the path is missing and the
        followed file has nothing left (a rotation under way, or the container deleted: the caller asks)."""
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return self._rest() or None
        if self.handle is None:
            return self._reopen()
        held = os.fstat(self.handle.fileno())
        if (held.st_dev, held.st_ino) != (stat.st_dev, stat.st_ino):
            return self._rest() + self._reopen()
        if stat.st_size < self.handle.tell():
            self.handle.seek(0)  # truncated in place: what is there now is new
        return self._rest()

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()

    def _rest(self) -> bytes:
        return self.handle.read() if self.handle is not None else b""

    def _reopen(self) -> bytes:
        try:
            handle = open(self.path, "rb")  # noqa: SIM115 - held across looks, closed by close()
        except FileNotFoundError:  # gone again since the stat: the next look sees
            return b""
        self.close()
        self.handle = handle
        return self._rest()


async def follow_log(
    follower: LogFollower, *, client_gone: Callable[[], bool], deleted: Callable[[], Awaitable[bool]],
    interval: float = FOLLOW_INTERVAL,
) -> AsyncIterator[bytes]:
    """The follower's new bytes as they come, until the client is gone (nothing else would end the
    loop: the server does not cancel a handler whose client left) or the container is deleted."""
    while True:
        await asyncio.sleep(interval)
        if client_gone():
            return
        data = follower.read_new()
        if data is None:
            if await deleted():
                return
            continue
        if data:
            yield data
