from __future__ import annotations

import pytest
import yaml
from pydantic import ValidationError

from schemas import Container, ContainerSpec
from schemas.manifest import ManifestError, parse_object
from schemas.quantity import format_bytes, parse_bytes

DESIGN_FLAT_EXAMPLE = """
name: my-web-server
image: ubuntu:20.04
cpu_limit: 2
memory_limit: 512          # MiB
privileged: false
environment: [PORT=8080, ENV=production]
mounts: [/host/path:/container/path]
network: {type: bridge, bridge: lxcbr0}
"""


def test_design_flat_example_parses_into_a_container() -> None:
    obj = parse_object(yaml.safe_load(DESIGN_FLAT_EXAMPLE))
    assert isinstance(obj, Container)
    assert obj.metadata.name == "my-web-server"
    assert obj.spec.image == "ubuntu:20.04"
    assert obj.spec.cpu == 2
    assert obj.spec.memory == "512Mi"
    assert obj.spec.privileged is False
    assert obj.spec.env == {"PORT": "8080", "ENV": "production"}
    assert [(m.host_path, m.path, m.read_only) for m in obj.spec.mounts] == [("/host/path", "/container/path", False)]
    assert obj.spec.network is not None and (obj.spec.network.type, obj.spec.network.bridge) == ("bridge", "lxcbr0")
    assert obj.spec.state == "Running" and obj.spec.restart_policy == "Always"


def test_full_form_round_trips() -> None:
    doc = {
        "apiVersion": "dlxc.io/v1",
        "kind": "Container",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {"image": "busybox", "memory": "1Gi", "env": {"A": "1"}, "mounts": ["/srv:/data:ro"], "network": {"type": "none"}},
    }
    obj = parse_object(doc)
    wire = obj.to_wire()
    assert wire["spec"]["memory"] == "1Gi"
    assert wire["spec"]["mounts"] == [{"hostPath": "/srv", "path": "/data", "readOnly": True}]
    assert parse_object(wire).to_wire() == wire


@pytest.mark.parametrize(
    ("doc", "field", "message"),
    [
        ({"name": "web", "image": "busybox", "colour": "red"}, "colour", "unknown field"),
        ({"name": "Web_1", "image": "busybox"}, "name", "DNS-1123"),
        ({"name": "web", "image": "busybox", "memory_limit": "lots"}, "memory_limit", "not a size"),
        ({"name": "web", "image": "busybox", "memory_limit": "1Ki"}, "memory_limit", "1Ki is too small to start a container; the minimum is 4Mi"),
        ({"name": "web", "image": "busybox", "memory_limit": 3}, "memory_limit", "3Mi is too small to start a container; the minimum is 4Mi"),
        ({"name": "web", "image": "busybox", "cpu_limit": "two"}, "cpu_limit", "valid number"),
        ({"name": "web", "image": "busybox", "environment": ["A=1\nlxc.cap.drop="]}, "environment.A", "control characters"),
        ({"name": "web", "image": "busybox", "environment": ["1A=x"]}, "environment", "not a valid variable name"),
        ({"name": "web", "image": "busybox", "mounts": ["relative:/x"]}, "mounts.0.hostPath", "absolute"),
        ({"name": "web", "image": "busybox", "mounts": ["/a b:/x"]}, "mounts.0.hostPath", "whitespace"),
        ({"name": "web", "image": "busybox", "mounts": ["/a:/../etc"]}, "mounts.0.path", "'..'"),
        ({"name": "web", "image": "busybox", "network": {"type": "bridge", "bridge": "br\n0"}}, "network.bridge", "interface name"),
        ({"name": "web", "image": "bad image"}, "image", "image reference"),
        # A trailing newline slipped past patterns ending in `$` (Python's `$` matches before one).
        ({"name": "web\n", "image": "busybox"}, "name", "DNS-1123"),
        ({"name": "web", "image": "busybox", "env": {"A\n": "1"}}, "env", "variable name"),
        ({"name": "web", "image": "busybox\n"}, "image", "image reference"),
        ({"name": "web", "image": "busybox", "labels": {"app": "web\n"}}, "labels", "invalid value"),
        ({"name": "web", "image": "busybox", "state": "Paused"}, "state", "Running"),
        ({"apiVersion": "dlxc.io/v1", "kind": "Pod", "metadata": {"name": "x"}}, "kind", "unknown kind"),
        ({"apiVersion": "v2", "kind": "Container", "metadata": {"name": "x"}}, "apiVersion", "dlxc.io/v1"),
        ({"apiVersion": "dlxc.io/v1", "kind": "Container", "metadata": {"name": "x"}, "spec": {"image": "busybox", "memroy": "1Gi"}}, "spec.memroy", "unknown field"),
    ],
    ids=["unknown-field", "bad-name", "bad-size", "memory-1Ki", "memory-bare-3", "cpu-type", "env-injection", "env-key", "mount-relative",
         "mount-space", "mount-dotdot", "bridge-injection", "image", "name-newline", "env-key-newline", "image-newline",
         "label-newline", "state", "unknown-kind", "api-version", "full-unknown"],
)
def test_bad_manifests_name_the_field(doc: dict, field: str, message: str) -> None:
    with pytest.raises(ManifestError) as info:
        parse_object(doc)
    fields = {e.field: e.message for e in info.value.errors}
    assert field in fields, fields
    assert message in fields[field]


@pytest.mark.parametrize(
    ("value", "size", "canonical"),
    [(512, 512 * 2**20, "512Mi"), ("512Mi", 512 * 2**20, "512Mi"), ("1Gi", 2**30, "1Gi"), ("1024Mi", 2**30, "1Gi"),
     ("1G", 10**9, "1000000000B"), ("64Ki", 65536, "64Ki"), ("0.5Gi", 2**29, "512Mi")],
    ids=["bare-mib", "mi", "gi", "mi-to-gi", "decimal", "ki", "fraction"],
)
def test_sizes(value: object, size: int, canonical: str) -> None:
    assert parse_bytes(value) == size
    assert format_bytes(size) == canonical


@pytest.mark.parametrize("value", [0, -1, "0Mi", "1Zi", "", True], ids=["zero", "negative", "zero-mi", "unit", "empty", "bool"])
def test_bad_sizes(value: object) -> None:
    with pytest.raises(ValueError):
        parse_bytes(value)


@pytest.mark.parametrize(("memory", "canonical"), [("4Mi", "4Mi"), (4, "4Mi"), ("4096Ki", "4Mi"), (None, None)], ids=["floor", "bare", "ki", "unset"])
def test_memory_at_the_floor_is_accepted(memory: object, canonical: str | None) -> None:
    assert ContainerSpec.model_validate({"image": "busybox", "memory": memory}).memory == canonical


@pytest.mark.parametrize(("command", "message"), [
    pytest.param([], "must not be empty; leave command out to run the image's init", id="empty"),
    pytest.param(["sh", "-c", "exit 3"], "the program (item 0) must be an absolute path inside the container, got 'sh'",
                 id="relative"),
    pytest.param(["/bin/sh", "-c", "a\nlxc.init.uid = 0"], "item 2: must not contain control characters", id="newline"),
    pytest.param(["/bin/sh", ""], "item 1 is empty", id="empty-item"),
    pytest.param(["/bin/sh", "x" * 4097], "item 1 is longer than 4096 characters", id="too-long"),
    pytest.param(["/bin/true"] * 257, "at most 256 items, got 257", id="too-many"),
])
def test_bad_command_names_the_problem(command: list[str], message: str) -> None:
    with pytest.raises(ValidationError, match="command") as info:
        ContainerSpec(image="busybox", command=command)
    assert message in str(info.value)


def test_command_and_args_are_kept_exactly() -> None:
    spec = ContainerSpec(image="busybox", command=["/bin/sh", "-c", "echo hi; exit 3"], args=["x y"])
    assert (spec.command, spec.args) == (["/bin/sh", "-c", "echo hi; exit 3"], ["x y"])
    with pytest.raises(ValidationError, match="args"):
        ContainerSpec(image="busybox", args=["ok", "bad\r"])


@pytest.mark.parametrize(
    ("network", "expected"),
    [
        ({}, ("cluster", None, None)),
        ({"ipv4": "10.88.5.10/16"}, ("cluster", None, "10.88.5.10/16")),
        ({"bridge": "lxcbr0"}, ("bridge", "lxcbr0", None)),
        ({"type": "bridge"}, ("bridge", None, None)),
        ({"type": "none"}, ("none", None, None)),
    ],
    ids=["default-cluster", "static", "bridge-implies-type", "node-bridge", "none"],
)
def test_network_forms(network: dict, expected: tuple) -> None:
    obj = parse_object({"name": "web", "image": "busybox", "network": network})
    assert obj.spec.network is not None
    assert (obj.spec.network.type, obj.spec.network.bridge, obj.spec.network.ipv4) == expected


@pytest.mark.parametrize(
    ("network", "message"),
    [
        ({"ipv4": "10.88.5.10"}, "needs the network's prefix length"),
        ({"ipv4": "10.88.5.300/16"}, "not an IPv4 address"),
        ({"type": "bridge", "bridge": "br0", "ipv4": "10.88.5.10/16"}, "ipv4 is only for type cluster"),
        ({"type": "cluster", "bridge": "br0"}, "bridge is only for type bridge"),
    ],
    ids=["no-prefix", "bad-address", "ipv4-on-bridge", "bridge-on-cluster"],
)
def test_bad_networks_name_the_field(network: dict, message: str) -> None:
    with pytest.raises(ManifestError) as info:
        parse_object({"name": "web", "image": "busybox", "network": network})
    fields = {e.field: e.message for e in info.value.errors}
    assert any(f.startswith("network") and message in m for f, m in fields.items()), fields
