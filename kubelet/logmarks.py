"""When each part of a console log was written, for `dlxc logs --since` line by line.

liblxc writes the console log itself (lxc.console.logfile), raw, so its lines carry no time and the
kubelet cannot stamp them. Instead the kubelet looks at every console log once a second and keeps
marks `(size, mtime)`: every byte before `size` was written at or before `mtime`. A `since` cutoff
then starts at the largest size whose mark is older than the cutoff, backed up to the start of its
line: no line written after the cutoff is left out, and at most the lines of one look's interval
before it are let in. Marks follow a file by its inode, so liblxc's rotation (console.log →
console.log.1) and the kubelet's own (→ console.previous.log) keep them; they live in the kubelet's
memory, so after a kubelet restart a file's older part falls back to its modification time.
"""
from __future__ import annotations

import bisect
import os
import threading
from collections.abc import Iterable
from pathlib import Path
from stat import S_ISREG

__all__ = ["LogMarks", "line_start", "start_offset"]

MAX_MARKS = 4096  # per file; beyond, every other one of the older half is dropped

Mark = tuple[int, float]  # (size, mtime)


def start_offset(marks: list[Mark], cutoff: float) -> int:
    """The first byte that may have been written at or after `cutoff`: past every mark older than it."""
    return max((size for size, mtime in marks if mtime < cutoff), default=0)


def line_start(data_before: bytes, offset: int) -> int:
    """`offset` moved back to the start of its line; `data_before` is the file's bytes just before it."""
    newline = data_before.rfind(b"\n")
    return offset - len(data_before) + newline + 1 if newline >= 0 else offset - len(data_before)


class LogMarks:
    """Marks per file, keyed by (device, inode)."""

    def __init__(self) -> None:
        self._marks: dict[tuple[int, int], list[Mark]] = {}
        self._lock = threading.Lock()  # looks run in a worker thread, reads in the event loop

    def look(self, paths: Iterable[str | Path]) -> None:
        """Mark every file in `paths` that grew; forget files no longer among them (deleted: an inode
        may be reused). A path that does not exist or is no regular file is skipped: callers pass
        every name a log may have, and this one stat per path is the whole look."""
        with self._lock:
            self._look(paths)

    def _look(self, paths: Iterable[str | Path]) -> None:
        seen = set()
        for path in paths:
            try:
                stat = os.stat(path)
            except OSError:
                continue
            if not S_ISREG(stat.st_mode):
                continue
            key = (stat.st_dev, stat.st_ino)
            seen.add(key)
            marks = self._marks.setdefault(key, [])
            if marks and stat.st_size < marks[-1][0]:
                marks.clear()  # truncated: older marks describe bytes that are gone
            if not marks or stat.st_size > marks[-1][0]:
                marks.append((stat.st_size, stat.st_mtime))
                if len(marks) > MAX_MARKS:
                    half = len(marks) // 2
                    marks[:half] = marks[:half:2]  # the older half gets coarser; recent output keeps its precision
        for key in set(self._marks) - seen:
            del self._marks[key]

    def start(self, path: Path, cutoff: float) -> int:
        """Where lines written at or after `cutoff` begin in `path` (its size when none were)."""
        stat = path.stat()
        with self._lock:
            marks = [mark for mark in self._marks.get((stat.st_dev, stat.st_ino), []) if mark[0] <= stat.st_size]
        bisect.insort(marks, (stat.st_size, stat.st_mtime))  # now: the whole file was written by its mtime
        offset = start_offset(marks, cutoff)
        if offset <= 0 or offset >= stat.st_size:
            return offset
        with open(path, "rb") as fh:
            back = max(0, offset - 64 * 1024)  # a longer line starts at most this far back
            fh.seek(back)
            return line_start(fh.read(offset - back), offset)
