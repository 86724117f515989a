from __future__ import annotations

import pytest

from apiserver.selectors import Selector, parse_field_selector, parse_label_selector
from dlxc.client.errors import BadRequest

OBJ = {"metadata": {"name": "web", "labels": {"app": "web", "tier": "front"}}, "spec": {"nodeName": "n1"}, "status": {"phase": "Running"}}


@pytest.mark.parametrize(
    ("labels", "fields", "matches"),
    [
        ("", "", True),
        ("app=web", "", True),
        ("app==web", "", True),
        ("app!=web", "", False),
        ("app in (web, db)", "", True),
        ("app notin (web,db)", "", False),
        ("tier", "", True),
        ("!tier", "", False),
        ("missing!=x", "", True),
        ("app=web,tier=back", "", False),
        ("", "spec.nodeName=n1", True),
        ("", "spec.nodeName=n2", False),
        ("", "spec.nodeName!=n2,status.phase=Running", True),
        ("", "metadata.name=web", True),
        ("app=web", "status.phase=Pending", False),
    ],
)
def test_selector_matches(labels: str, fields: str, matches: bool) -> None:
    selector = Selector(parse_label_selector(labels), parse_field_selector(fields))
    assert selector.matches(OBJ) is matches


def test_unbound_field_selector_matches_empty_node_name() -> None:
    selector = Selector(fields=parse_field_selector("spec.nodeName="))
    assert selector.matches({"metadata": {"name": "x"}, "spec": {}})
    assert not selector.matches(OBJ)


@pytest.mark.parametrize("expr", ["spec.image=busybox", "foo=bar"])
def test_unsupported_field_is_bad_request(expr: str) -> None:
    with pytest.raises(BadRequest):
        parse_field_selector(expr)
