"""`dlxc label` argument parsing and `get --sort-by` / `-L`: pure functions, tables of cases."""
from __future__ import annotations

import pytest

from dlxc.cli.get import field_value, labels_of, sort_items
from dlxc.cli.label import parse_changes


@pytest.mark.parametrize(
    ("args", "sets", "removes"),
    [
        (["a=1"], {"a": "1"}, []),
        (["a=1", "b-"], {"a": "1"}, ["b"]),
        (["a="], {"a": ""}, []),
        (["x/y=z=w"], {"x/y": "z=w"}, []),
    ],
    ids=["set", "set-and-remove", "empty-value", "value-with-equals"],
)
def test_parse_changes(args: list[str], sets: dict, removes: list) -> None:
    assert parse_changes(args, what="label") == (sets, removes)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["a"], "'a': use KEY=VALUE to set a label or KEY- to remove it"),
        (["=v"], "'=v': the label key is empty; use KEY=VALUE or KEY-"),
        (["a=1", "a-"], "label 'a' is both set and removed"),
        ([], "give at least one label: KEY=VALUE or KEY-"),
    ],
    ids=["bare-key", "empty-key", "both", "none"],
)
def test_parse_changes_errors(args: list[str], message: str) -> None:
    with pytest.raises(ValueError) as exc:
        parse_changes(args, what="label")
    assert str(exc.value) == message


def _o(name: str, **spec: object) -> dict:
    return {"metadata": {"name": name}, "spec": spec}


@pytest.mark.parametrize(
    ("path", "order"),
    [
        (".metadata.name", ["a", "b", "c"]),
        ("{.spec.cpu}", ["c", "b", "a"]),
        (".spec.image", ["b", "a", "c"]),
    ],
    ids=["name", "number-missing-first", "text"],
)
def test_sort_items(path: str, order: list[str]) -> None:
    items = [_o("b", cpu=2, image="alpine"), _o("a", cpu=10, image="busybox"), _o("c", image="debian")]
    assert [o["metadata"]["name"] for o in sort_items(items, path)] == order


def test_field_value_and_node_labels() -> None:
    node = {"kind": "Node", "metadata": {"name": "n", "labels": {"zone": "a", "disk": "ssd"}}, "spec": {"labels": {"zone": "b"}}}
    assert field_value(node, ".spec.labels.zone") == "b"
    assert field_value(node, ".status.phase") is None
    assert labels_of(node) == {"zone": "b", "disk": "ssd"}
    assert labels_of({**node, "kind": "Container"}) == {"zone": "a", "disk": "ssd"}
