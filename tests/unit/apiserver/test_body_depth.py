"""A body's nesting limit: the same depth as a walk of every value, and no walk for a body with few brackets."""
from __future__ import annotations

import json
from typing import Any

import pytest

from apiserver import body
from apiserver.body import MAX_DEPTH, _depth, too_deep


def every_value_depth(value: Any, depth: int = 1) -> int:
    """The definition: a scalar is one level, each object or array adds one to what it holds."""
    if isinstance(value, dict):
        return max([depth, *(every_value_depth(v, depth + 1) for v in value.values())])
    if isinstance(value, list):
        return max([depth, *(every_value_depth(v, depth + 1) for v in value)])
    return depth


def nested(levels: int) -> Any:
    value: Any = "leaf"
    for i in range(levels):
        value = {"k": value} if i % 2 else [value, 1]
    return value


@pytest.mark.parametrize(
    "value",
    [1, "x", None, {}, [], {"a": 1}, [[]], [[], [[1]]], {"a": {"b": {}}, "c": [1, {"d": [2]}]}, nested(5), nested(40)],
    ids=["int", "str", "null", "empty-object", "empty-array", "flat", "array-in-array", "uneven", "mixed", "5", "40"],
)
def test_depth_is_the_walk_of_every_value(value: Any) -> None:
    assert _depth(value) == every_value_depth(value)


@pytest.mark.parametrize(
    ("value", "deep"),
    [(nested(MAX_DEPTH - 1), False), (nested(MAX_DEPTH), True), (nested(3 * MAX_DEPTH), True),
     ({"items": [{"a": {}} for _ in range(40)]}, False)],
    ids=["at-limit", "one-past", "far-past", "many-brackets-shallow"],
)
def test_too_deep_matches_the_limit(value: Any, deep: bool) -> None:
    raw = json.dumps(value).encode()
    assert every_value_depth(value) > MAX_DEPTH or not deep
    assert too_deep(raw, value) is deep


def test_a_body_with_fewer_brackets_than_the_limit_is_not_walked(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_walk(value: Any) -> int:
        raise AssertionError("walked")

    monkeypatch.setattr(body, "_depth", no_walk)
    shallow = {"metadata": {"name": "web"}, "spec": {"image": "busybox", "env": {"A": "1"}}, "status": {"s": "{[{[" * 3}}
    assert too_deep(json.dumps(shallow).encode(), shallow) is False
