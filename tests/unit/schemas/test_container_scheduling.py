"""The scheduling fields of a Container: spec.antiAffinity and status.placement."""
from __future__ import annotations

import pytest
from pydantic import ValidationError

from schemas import Container


def spec(**fields: object) -> dict:
    return {"metadata": {"name": "web"}, "spec": {"image": "busybox", **fields}}


@pytest.mark.parametrize(
    ("anti", "wire"),
    [
        ({"group": "web"}, {"group": "web", "mode": "required"}),
        ({"group": "web.v2_a", "mode": "preferred"}, {"group": "web.v2_a", "mode": "preferred"}),
    ],
    ids=["required-by-default", "preferred"],
)
def test_anti_affinity_is_accepted(anti: dict, wire: dict) -> None:
    assert Container.model_validate(spec(antiAffinity=anti)).to_wire()["spec"]["antiAffinity"] == wire


@pytest.mark.parametrize(
    ("anti", "field", "message"),
    [
        ({"group": "-web"}, "group", "must be 1-63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"),
        ({"group": ""}, "group", "must be 1-63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"),
        ({"group": "web", "mode": "always"}, "mode", "Input should be 'required' or 'preferred'"),
        ({"mode": "required"}, "group", "Field required"),
    ],
    ids=["leading-dash", "empty", "bad-mode", "no-group"],
)
def test_anti_affinity_errors_name_the_field(anti: dict, field: str, message: str) -> None:
    with pytest.raises(ValidationError) as err:
        Container.model_validate(spec(antiAffinity=anti))
    (error,) = err.value.errors()
    assert error["loc"] == ("spec", "antiAffinity", field)
    assert error["msg"].removeprefix("Value error, ") == message


def test_placement_round_trips_in_wire_form() -> None:
    placement = {
        "node": "n1", "total": 94.25,
        "scores": {"AvailableCPU": 100.0}, "weights": {"AvailableCPU": 30.0},
        "runnersUp": [{"node": "n2", "total": 90.5, "scores": {"AvailableCPU": 100.0}}],
        "nodes": 3, "feasible": 2, "rejected": {"node not ready": 1}, "message": "node n1 scored 94.2 of 100",
        "seed": 0, "time": "2026-01-01T00:00:00Z",
    }
    obj = Container.model_validate({**spec(), "status": {"placement": placement}})
    assert obj.to_wire()["status"]["placement"] == placement
