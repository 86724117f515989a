"""A batch body (events, bindings) is `{"items": [...]}` with 1 to its limit of items and nothing else: anything else is a 400 naming the field."""
from __future__ import annotations

from typing import Any

import pytest

from apiserver.app import batch_items
from dlxc.client.errors import BadRequest


def test_the_items_of_a_good_batch_come_back() -> None:
    body = {"apiVersion": "dlxc.io/v1", "kind": "BindingBatch", "items": [{"name": "a"}, {"name": "b"}]}
    assert batch_items(body, "a binding batch", "bindings", 100) == [{"name": "a"}, {"name": "b"}]


@pytest.mark.parametrize(
    ("body", "message", "details"),
    [
        ({"items": []}, 'a binding batch is {"items": [...]} with 1 to 3 bindings', [("items", "must be a list of 1 to 3 bindings")]),
        ({"items": [{}] * 4}, 'a binding batch is {"items": [...]} with 1 to 3 bindings', [("items", "must be a list of 1 to 3 bindings")]),
        ({"items": {"a": 1}}, 'a binding batch is {"items": [...]} with 1 to 3 bindings', [("items", "must be a list of 1 to 3 bindings")]),
        ([{"name": "a"}], 'a binding batch is {"items": [...]} with 1 to 3 bindings', [("items", "must be a list of 1 to 3 bindings")]),
        ({"items": [{}], "dryRun": True, "more": 1}, "a binding batch has only items",
         [("dryRun", "unknown field"), ("more", "unknown field")]),
    ],
    ids=["empty", "over-the-limit", "not-a-list", "not-an-object", "extra-fields"],
)
def test_a_bad_batch_is_refused_naming_the_field(body: Any, message: str, details: list[tuple[str, str]]) -> None:
    with pytest.raises(BadRequest) as refused:
        batch_items(body, "a binding batch", "bindings", 3)
    assert refused.value.message == message
    assert [(d["field"], d["message"]) for d in refused.value.details] == details
