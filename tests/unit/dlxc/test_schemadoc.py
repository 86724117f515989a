from __future__ import annotations

import pytest

from dlxc.schemadoc import explain, manifest_schema


def test_schema_offers_every_kind_and_the_flat_form() -> None:
    schema = manifest_schema()
    assert schema["anyOf"] == [{"$ref": "#/$defs/Container"}, {"$ref": "#/$defs/Node"}, {"$ref": "#/$defs/FlatContainer"}]
    flat = schema["$defs"]["FlatContainer"]
    assert flat["required"] == ["name", "image"] and flat["additionalProperties"] is False
    assert {"cpu_limit", "memory_limit", "environment", "mounts", "network"} <= set(flat["properties"])
    assert "nodeName" not in flat["properties"]
    assert schema["$defs"]["Container"]["required"] == ["apiVersion", "kind", "metadata", "spec"]
    assert "ContainerSpec" in schema["$defs"]


@pytest.mark.parametrize(
    ("path", "type_", "description"),
    [
        ("container.spec.memory", "string | null", "Memory limit, e.g. 512Mi; a bare number means MiB."),
        ("ct.spec.state", "string (Running | Stopped)", "Power state to hold."),
        ("container.spec.mounts.readOnly", "boolean", "Mount read-only."),
        ("node.spec.unschedulable", "boolean", "Cordoned: nothing new is placed here."),
    ],
    ids=["memory", "short-kind-enum", "through-a-list", "node"],
)
def test_explain_field(path: str, type_: str, description: str) -> None:
    doc = explain(path)
    assert (doc.type, doc.description) == (type_, description)


def test_explain_object_lists_its_fields() -> None:
    doc = explain("container.spec.network")
    assert doc.fields == [
        ("type", "string (bridge | none)", ""),
        ("bridge", "string | null", "Bridge on the node; default: the kubelet's bridge (dlxcbr0)."),
    ]


@pytest.mark.parametrize(
    ("path", "message"),
    [("pod", "unknown kind 'pod'; known: container, node"), ("container.spec.colour", "Container.spec has no field 'colour'")],
    ids=["kind", "field"],
)
def test_explain_errors(path: str, message: str) -> None:
    with pytest.raises(KeyError, match=message):
        explain(path)
