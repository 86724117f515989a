from __future__ import annotations

import pytest

from dlxc.apply.schemadoc import explain, manifest_schema


def test_schema_offers_every_kind_and_the_flat_form() -> None:
    schema = manifest_schema()
    assert schema["anyOf"] == [{"$ref": f"#/$defs/{kind}"} for kind in ("Container", "Node", "Event", "Lease", "ContainerSet", "ContainerCluster", "FlatContainer")]
    flat = schema["$defs"]["FlatContainer"]
    assert flat["required"] == ["name", "image"] and flat["additionalProperties"] is False
    assert {"cpu_limit", "memory_limit", "environment", "mounts", "network"} <= set(flat["properties"])
    assert "nodeName" not in flat["properties"]
    assert schema["$defs"]["Container"]["required"] == ["apiVersion", "kind", "metadata", "spec"]
    assert "ContainerSpec" in schema["$defs"]


@pytest.mark.parametrize(
    ("path", "type_", "description"),
    [
        ("container.spec.memory", "string | number | null", "Memory limit, e.g. 512Mi; a bare number means MiB."),
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
        ("type", "string (cluster | bridge | none)", "cluster: the network spanning every node, one address for the container's "
         "life; bridge: a bridge on the node, an address of that node; none: loopback only."),
        ("bridge", "string | null", "type bridge: the bridge on the node; default: the kubelet's bridge (dlxcbr0)."),
        ("ipv4", "string | null", "type cluster: a static address with the network's prefix, e.g. 10.88.5.10/16; "
         "default: one the apiserver allocates. Kept when the container moves; cannot be changed."),
    ]


@pytest.mark.parametrize(
    ("path", "message"),
    [("pod", "unknown kind 'pod'; known: container, node"), ("container.spec.colour", "Container.spec has no field 'colour'")],
    ids=["kind", "field"],
)
def test_explain_errors(path: str, message: str) -> None:
    with pytest.raises(KeyError, match=message):
        explain(path)


def _validator():
    import jsonschema

    schema = manifest_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_every_shipped_manifest_matches_the_schema() -> None:
    from pathlib import Path

    from dlxc.apply.manifests import safe_load_all

    validator = _validator()
    root = Path(__file__).resolve().parents[3] / "manifests"
    files = sorted(root.rglob("*.yaml"))
    assert len(files) >= 4
    for file in files:
        for doc in safe_load_all(file.read_text()):
            assert validator.is_valid(doc), f"{file}: {[e.message for e in validator.iter_errors(doc)]}"


@pytest.mark.parametrize(
    ("doc", "valid"),
    [
        ({"name": "web", "image": "busybox", "memory_limit": 512, "environment": ["A=1"], "mounts": ["/a:/b:ro"]}, True),
        ({"name": "web", "image": "busybox", "memory": "1Gi", "env": {"A": "1", "N": 2}}, True),
        ({"apiVersion": "dlxc.io/v1", "kind": "Container", "metadata": {"name": "web"}, "spec": {"image": "busybox", "memory": 64}}, True),
        ({"name": "web", "image": "busybox", "colour": "red"}, False),
        ({"name": "web", "image": "busybox", "memory_limit": "lots"}, False),
        ({"name": "web", "image": "busybox", "mounts": ["relative:/b"]}, False),
        ({"apiVersion": "dlxc.io/v1", "kind": "Container", "metadata": {"name": "web"}}, False),
        ({"name": "web"}, False),
    ],
    ids=["flat-original-forms", "flat-spec-names", "full", "unknown-field", "bad-size", "bad-mount", "no-spec", "no-image"],
)
def test_schema_accepts_what_the_models_accept(doc: dict, valid: bool) -> None:
    assert _validator().is_valid(doc) is valid


def test_explain_says_disk_is_a_scheduling_request_only() -> None:
    doc = explain("container.spec.disk")
    assert doc.type == "string | number | null"
    assert doc.description == (
        "Disk request, e.g. 10Gi; a bare number means MiB. A scheduling request only, not a limit: "
        "the scheduler places the container on a node with this much disk left, but nothing stops it writing "
        "more (its overlay upper dir sits on the node's filesystem, which has no per-container quota)."
    )


def test_explain_command_and_args() -> None:
    command = explain("container.spec.command")
    assert command.type == "[]string | null"
    assert command.description.startswith("Run this instead of the image's init, as the container's pid 1")
    assert "never split or run through a shell" in command.description
    args = explain("container.spec.args")
    assert args.description == "Arguments appended to command (or to the image's init, /sbin/init, when command is unset)."
