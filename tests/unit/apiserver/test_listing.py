from __future__ import annotations

import json

import pytest

from apiserver.app import _listed
from apiserver.selectors import Selector, parse_label_selector

STORED = [
    (json.dumps({"apiVersion": "dlxc.io/v1", "kind": "Container", "metadata": {"name": "a", "labels": {"x": "1"}}, "spec": {}}, separators=(",", ":")).encode(), 7),
    (json.dumps({"apiVersion": "dlxc.io/v1", "kind": "Container", "metadata": {"name": "b"}, "spec": {}}, separators=(",", ":")).encode(), 9),
    # Not in the server's own key order: takes the decoding path.
    (json.dumps({"spec": {"note": '"metadata":{'}, "metadata": {"name": "c"}}, separators=(",", ":")).encode(), 11),
]


@pytest.mark.parametrize(
    ("selector", "names"),
    [(Selector(), ["a", "b", "c"]), (Selector(labels=parse_label_selector("x=1")), ["a"])],
    ids=["spliced", "selected"],
)
def test_listed_items_carry_their_resource_version(selector: Selector, names: list[str]) -> None:
    items = [json.loads(item) for item in _listed(STORED, selector)]
    assert [i["metadata"]["name"] for i in items] == names
    expected = {"a": "7", "b": "9", "c": "11"}
    assert [i["metadata"]["resourceVersion"] for i in items] == [expected[n] for n in names]
    assert items[0]["metadata"]["name"] == names[0]
