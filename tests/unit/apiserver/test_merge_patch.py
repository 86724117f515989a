from __future__ import annotations

import pytest

from apiserver.registry import merge_patch


@pytest.mark.parametrize(
    ("target", "patch", "result"),
    [
        ({"a": 1}, {"a": 2}, {"a": 2}),
        ({"a": 1, "b": 2}, {"a": None}, {"b": 2}),
        ({"a": {"b": 1, "c": 2}}, {"a": {"c": None, "d": 3}}, {"a": {"b": 1, "d": 3}}),
        ({"a": [1, 2]}, {"a": [3]}, {"a": [3]}),
        ({"a": 1}, {"b": {"c": 1}}, {"a": 1, "b": {"c": 1}}),
    ],
    ids=["replace", "remove", "nested", "list-replaced", "add-nested"],
)
def test_rfc7386(target: dict, patch: dict, result: dict) -> None:
    assert merge_patch(target, patch) == result
