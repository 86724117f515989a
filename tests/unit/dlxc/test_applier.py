from __future__ import annotations

import pytest

from dlxc.apply.applier import _message, _mode, desired_wire
from dlxc.apply.manifests import Manifest
from dlxc.client.errors import Forbidden, Invalid
from schemas.manifest import parse_object
from schemas.wire import APPLYSET_LABEL


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (Forbidden("node n1 may not change containers/web"), "node n1 may not change containers/web"),
        (
            Invalid("Container is invalid: spec.cpu: too big", details=[{"field": "spec.cpu", "message": "too big"}]),
            "Container is invalid: spec.cpu: too big",
        ),
        (Invalid("binding refused", details=[{"field": "nodeName", "message": "required"}]), "binding refused; nodeName: required"),
    ],
    ids=["plain", "fields-already-in-message", "fields-added"],
)
def test_failure_messages_name_the_fields(error: Exception, message: str) -> None:
    assert _message(error) == message  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("given", "mode"),
    [(False, "none"), (None, "none"), ("none", "none"), (True, "server"), ("server", "server"), ("client", "client")],
    ids=["false", "none-value", "none", "true-is-server", "server", "client"],
)
def test_dry_run_modes(given: object, mode: str) -> None:
    assert _mode(given) == mode  # type: ignore[arg-type]


def test_unknown_dry_run_mode() -> None:
    with pytest.raises(ValueError, match="dry run must be none, client or server, not 'all'"):
        _mode("all")


def test_desired_wire_owns_metadata_and_spec_and_labels_the_set() -> None:
    manifest = Manifest("web.yaml", 1, parse_object({"name": "web", "image": "busybox", "labels": {"app": "web"}}))
    wire = desired_wire(manifest, applyset="demo")
    assert set(wire) == {"apiVersion", "kind", "metadata", "spec"}
    assert wire["metadata"] == {"name": "web", "labels": {"app": "web", APPLYSET_LABEL: "demo"}, "annotations": {}}
    assert desired_wire(manifest)["metadata"]["labels"] == {"app": "web"}
