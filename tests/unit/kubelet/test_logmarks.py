"""`logs --since` by line: marks of when a console log grew, and where a cutoff starts in it."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from kubelet.logfiles import read_tail
from kubelet.logmarks import MAX_MARKS, LogMarks, line_start, start_offset

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("cutoff", "offset"),
    [(50, 0), (100, 0), (150, 10), (200, 10), (250, 20), (350, 30)],
    ids=["before-all", "at-first-mark", "between", "at-second-mark", "later", "after-all"],
)
def test_a_cutoff_starts_past_every_mark_older_than_it(cutoff: float, offset: int) -> None:
    assert start_offset([(10, 100.0), (20, 200.0), (30, 300.0)], cutoff) == offset


@pytest.mark.parametrize(
    ("before", "offset", "start"),
    [(b"abc\nde", 106, 104), (b"abc\n", 104, 104), (b"abcdef", 6, 0)],
    ids=["mid-line", "at-line-start", "first-line"],
)
def test_a_start_backs_up_to_its_line(before: bytes, offset: int, start: int) -> None:
    assert line_start(before, offset) == start


def grow(path: Path, data: bytes, at: float, marks: LogMarks) -> None:
    with open(path, "ab") as fh:
        fh.write(data)
    os.utime(path, (at, at))
    marks.look([path])


@pytest.mark.parametrize(
    ("cutoff", "expected"),
    [
        (NOW - 500, b"old1\nold2\npartial\nnew1\nnew2\n"),
        (NOW - 50, b"partial\nnew1\nnew2\n"),  # the line begun before the cutoff and ended after it comes whole
        (NOW - 5, b"new2\n"),
        (NOW + 5, b""),
    ],
    ids=["all", "one-line-straddles", "last-look-only", "nothing-since"],
)
def test_since_keeps_the_lines_written_after_the_cutoff(tmp_path: Path, cutoff: float, expected: bytes) -> None:
    path, marks = tmp_path / "console.log", LogMarks()
    grow(path, b"old1\nold2\npart", NOW - 100, marks)
    grow(path, b"ial\nnew1\n", NOW - 10, marks)
    grow(path, b"new2\n", NOW, marks)
    start = marks.start(path, cutoff)
    assert path.read_bytes()[start:] == expected
    with open(path, "rb") as handle:
        handle.seek(start)
        assert read_tail([handle], 2) == b"".join(expected.splitlines(keepends=True)[-2:])


def test_marks_follow_a_rotated_file_and_are_forgotten_with_it(tmp_path: Path) -> None:
    path, marks = tmp_path / "console.log", LogMarks()
    grow(path, b"old\n", NOW - 100, marks)
    grow(path, b"new\n", NOW, marks)
    rotated = path.rename(tmp_path / "console.log.1")  # liblxc's rotation: the same inode
    assert rotated.read_bytes()[marks.start(rotated, NOW - 50):] == b"new\n"
    marks.look([])  # no longer among the logs: forgotten, and only the file's mtime is left to go by
    assert marks.start(rotated, NOW - 50) == 0
    assert marks.start(rotated, NOW + 1) == rotated.stat().st_size


def test_marks_stay_bounded(tmp_path: Path) -> None:
    path, marks = tmp_path / "console.log", LogMarks()
    for i in range(MAX_MARKS + 10):
        grow(path, b"x\n", NOW - MAX_MARKS + i, marks)
    assert path.read_bytes()[marks.start(path, NOW + 8.5):] == b"x\n"  # the newest marks keep their precision
    assert len(marks._marks[(path.stat().st_dev, path.stat().st_ino)]) <= MAX_MARKS  # noqa: SLF001


def test_a_look_skips_paths_that_are_missing_or_no_file(tmp_path: Path) -> None:
    # The kubelet passes every name a console log may have, existing or not, and stats each once.
    path, marks = tmp_path / "console.log", LogMarks()
    (tmp_path / "console.log.1").mkdir()
    grow(path, b"one\n", NOW - 100, marks)
    marks.look([str(tmp_path / "console.previous.log"), str(tmp_path / "console.log.1"), str(path)])
    with open(path, "ab") as fh:
        fh.write(b"two\n")
    os.utime(path, (NOW, NOW))
    marks.look([str(tmp_path / "console.log.1"), str(path)])
    assert path.read_bytes()[marks.start(path, NOW - 50):] == b"two\n"
    assert len(marks._marks) == 1  # noqa: SLF001 - the directory got no marks


@pytest.mark.parametrize("rotated_by_liblxc", [False, True], ids=["one-file", "with-liblxc-rotation"])
def test_the_previous_run_keeps_the_time_of_its_lines(tmp_path: Path, rotated_by_liblxc: bool) -> None:
    """`logs --previous --since`: the run's log moved aside at a restart keeps its marks (it was copied into a
    new file, all of whose lines then counted as written at the restart)."""
    from kubelet.runtime import PREVIOUS_LOG, LxcRuntime

    runtime, marks = LxcRuntime(tmp_path), LogMarks()
    directory = tmp_path / "web"
    directory.mkdir()
    first = directory / ("console.log.1" if rotated_by_liblxc else "console.log")
    grow(first, b"old\n", NOW - 100, marks)
    if rotated_by_liblxc:
        grow(directory / "console.log", b"mid\n", NOW - 10, marks)
    else:
        grow(first, b"mid\n", NOW - 10, marks)
    marks.look(runtime.console_log_names("web"))
    runtime._rotate_console_log("web")
    marks.look(runtime.console_log_names("web"))
    previous = directory / PREVIOUS_LOG
    assert previous.read_bytes() == b"old\nmid\n"
    assert runtime.console_log_files("web") == []
    assert previous.read_bytes()[marks.start(previous, NOW - 50):] == b"mid\n"
    assert previous.read_bytes()[marks.start(previous, NOW - 200):] == b"old\nmid\n"
    assert marks.start(previous, NOW - 5) == previous.stat().st_size  # nothing since: the run ended before
