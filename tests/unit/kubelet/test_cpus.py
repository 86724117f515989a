from __future__ import annotations

import pytest

from kubelet.cpus import format_cpuset, parse_cpuset, pick_cpus


@pytest.mark.parametrize(
    ("text", "cpus"),
    [("0", [0]), ("0-2,5", [0, 1, 2, 5]), ("3,1", [1, 3]), ("0-1,1-2", [0, 1, 2]), (" 4-5\n", [4, 5])],
    ids=["one", "range-and-single", "unordered", "overlap", "blanks"],
)
def test_parse_cpuset(text: str, cpus: list[int]) -> None:
    assert parse_cpuset(text) == cpus


@pytest.mark.parametrize("text", ["", "a", "1-", "3-1", "1,,2", "-1"], ids=["empty", "letter", "open", "backwards", "gap", "negative"])
def test_parse_cpuset_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="is not a cpu list"):
        parse_cpuset(text)


@pytest.mark.parametrize(
    ("cpus", "text"),
    [([0], "0"), ([0, 1, 2, 5], "0-2,5"), ([5, 1, 0], "0-1,5"), ([1, 3, 5], "1,3,5"), ([2, 3], "2-3")],
    ids=["one", "range-and-single", "unordered", "no-ranges", "pair"],
)
def test_format_cpuset(cpus: list[int], text: str) -> None:
    assert format_cpuset(cpus) == text
    assert parse_cpuset(text) == sorted(set(cpus))


@pytest.mark.parametrize(
    ("count", "online", "pinned", "expected"),
    [
        (1, [0, 1, 2, 3], {}, [0]),
        (1, [0, 1, 2, 3], {"a": [0], "b": [1]}, [2]),
        (2, [0, 1, 2, 3], {"a": [0, 1]}, [2, 3]),
        (2, [0, 1, 2, 3], {"a": [0], "b": [0, 2]}, [1, 3]),
        (1, [0, 1], {"web": [1], "a": [1], "b": [1]}, [1]),
        (2, [0, 1], {"web": [1]}, [0, 1]),
        (8, [0, 1], {}, [0, 1]),
        (1, [0, 1], {"web": [7]}, [0]),
        (1, [0, 1, 2], {"a": [0], "b": [1], "c": [2], "d": [0]}, [1]),
    ],
    ids=["empty-node", "least-used", "spread-pair", "mixed-load", "keeps-its-pin", "regrows", "more-than-node",
         "pin-offline", "ties-lowest"],
)
def test_pick_cpus(count: int, online: list[int], pinned: dict[str, list[int]], expected: list[int]) -> None:
    assert pick_cpus(count, online, pinned, name="web") == expected
