"""Reading console logs for `dlxc logs`: the last lines across liblxc's rotation, and following the file."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, closing
from pathlib import Path
from typing import BinaryIO

import pytest

from kubelet.logfiles import LogFollower, follow_log, read_chunks, read_tail


def opened(stack: ExitStack, tmp_path: Path, contents: list[bytes]) -> list[BinaryIO]:
    handles = []
    for i, data in enumerate(contents):
        path = tmp_path / f"f{i}"
        path.write_bytes(data)
        handles.append(stack.enter_context(open(path, "rb")))
    return handles


@pytest.mark.parametrize(
    ("files", "lines", "expected"),
    [
        pytest.param([b"a\nb\n", b"c\nd\n"], 3, b"b\nc\nd\n", id="across-the-rotation"),
        pytest.param([b"a\nb\n", b"c\nd\n"], 10, b"a\nb\nc\nd\n", id="more-than-there-is"),
        pytest.param([b"a\nb\n"], 0, b"", id="none"),
        pytest.param([b"x\npartial"], 1, b"partial", id="unfinished-last-line"),
        # liblxc rotates at its size cap, in the middle of a line: the line is one, whole.
        pytest.param([b"a\nhal", b"f\nb\n"], 2, b"half\nb\n", id="a-line-split-at-the-cap-comes-whole"),
        pytest.param([b"a\nb\nhal", b"f\n"], 2, b"b\nhalf\n", id="a-line-split-at-the-cap-counts-once"),
        pytest.param([b"a\rb\nc\n"], 2, b"a\rb\nc\n", id="a-bare-carriage-return-ends-no-line"),
        pytest.param([b"a\r\nb\r\n"], 1, b"b\r\n", id="crlf"),
        pytest.param([b"a\nb\n", b""], 1, b"b\n", id="empty-newest"),
        pytest.param([b"a\n\n\n"], 2, b"\n\n", id="blank-lines"),
    ],
)
def test_tail_counts_lines_ended_by_newline_across_the_files(tmp_path: Path, files: list[bytes], lines: int, expected: bytes) -> None:
    with ExitStack() as stack:
        assert read_tail(opened(stack, tmp_path, files), lines) == expected


def test_tail_reads_an_older_file_only_when_the_newer_lacks_lines(tmp_path: Path) -> None:
    with ExitStack() as stack:
        older, newer = opened(stack, tmp_path, [b"a\nb\n", b"c\nd\ne\n"])
        assert read_tail([older, newer], 2) == b"d\ne\n"
        assert older.tell() == 0
        assert newer.tell() == 6  # read to its end: a follow goes on from there


def test_tail_starts_each_file_where_its_handle_stands(tmp_path: Path) -> None:
    with ExitStack() as stack:
        older, newer = opened(stack, tmp_path, [b"skip\nold\n", b"new\n"])
        older.seek(5)
        assert read_tail([older, newer], 10) == b"old\nnew\n"


@pytest.mark.parametrize("dump", ["tail", "whole"])
def test_the_follow_starts_where_the_dump_stopped(tmp_path: Path, dump: str) -> None:
    path = tmp_path / "console.log"
    path.write_bytes(b"a\nb\n")
    with open(path, "rb") as handle:
        dumped = read_tail([handle], 1) if dump == "tail" else b"".join(read_chunks(handle))
        assert dumped == (b"b\n" if dump == "tail" else b"a\nb\n")
        with open(path, "ab") as fh:
            fh.write(b"c\n")  # written while the dump went out to the client
        follower = LogFollower(path, handle)
        assert follower.read_new() == b"c\n"
        assert follower.read_new() == b""


def test_a_rotation_between_two_looks_loses_nothing(tmp_path: Path) -> None:
    path = tmp_path / "console.log"
    path.write_bytes(b"one\n")
    with open(path, "rb") as handle, closing(LogFollower(path, handle)) as follower:
        assert follower.read_new() == b"one\n"
        with open(path, "ab") as fh:
            fh.write(b"tw")
        path.rename(tmp_path / "console.log.1")  # liblxc at its cap: closes the file, renames it, starts a new one
        path.write_bytes(b"o\nthree\n")
        assert follower.read_new() == b"two\nthree\n"
        with open(path, "ab") as fh:
            fh.write(b"four\n")
        assert follower.read_new() == b"four\n"


def test_a_file_that_appears_later_is_read_from_its_start(tmp_path: Path) -> None:
    path = tmp_path / "console.log"
    with closing(LogFollower(path)) as follower:
        assert follower.read_new() is None
        path.write_bytes(b"first\n")
        assert follower.read_new() == b"first\n"


def test_a_missing_path_gives_the_followed_file_s_rest_first(tmp_path: Path) -> None:
    path = tmp_path / "console.log"
    path.write_bytes(b"")
    with open(path, "rb") as handle:
        follower = LogFollower(path, handle)
        with open(path, "ab") as fh:
            fh.write(b"last\n")
        path.unlink()
        assert follower.read_new() == b"last\n"
        assert follower.read_new() is None  # now the caller asks whether the container is gone


def test_a_file_truncated_in_place_is_read_again_from_its_start(tmp_path: Path) -> None:
    path = tmp_path / "console.log"
    path.write_bytes(b"long line\n")
    with open(path, "rb") as handle:
        follower = LogFollower(path, handle)
        assert follower.read_new() == b"long line\n"
        path.write_bytes(b"new\n")  # same inode, shorter
        assert follower.read_new() == b"new\n"


async def collected(chunks: AsyncIterator[bytes]) -> list[bytes]:
    return [chunk async for chunk in chunks]


def looks(answers: list[bool]) -> Iterator[bool]:
    yield from answers
    raise AssertionError("looked more often than the test allows")


def test_a_follow_ends_when_the_client_is_gone(tmp_path: Path) -> None:
    path = tmp_path / "console.log"
    path.write_bytes(b"")
    gone = looks([False, False, True])
    written = iter([b"x\n", b""])

    def grow_then_stay() -> bool:
        answer = next(gone)
        if not answer and (data := next(written)):
            with open(path, "ab") as fh:
                fh.write(data)
        return answer

    async def deleted() -> bool:
        raise AssertionError("the path exists: no need to ask")

    with open(path, "rb") as handle:
        follower = LogFollower(path, handle)
        chunks = follow_log(follower, client_gone=grow_then_stay, deleted=deleted, interval=0)
        assert asyncio.run(asyncio.wait_for(collected(chunks), 5)) == [b"x\n"]


def test_a_follow_ends_when_the_container_is_deleted(tmp_path: Path) -> None:
    answers = looks([False, True])

    async def deleted() -> bool:
        return next(answers)

    follower = LogFollower(tmp_path / "console.log")
    chunks = follow_log(follower, client_gone=lambda: False, deleted=deleted, interval=0)
    assert asyncio.run(asyncio.wait_for(collected(chunks), 5)) == []
