"""ContainerSet and ContainerCluster validation: each bad field named as the apiserver reports it."""
from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from schemas.containercluster import ContainerCluster
from schemas.containerset import ContainerSet

TEMPLATE = {"spec": {"image": "busybox"}}


def errors(model: Any, body: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as info:
        model.model_validate(body)
    return [(".".join(map(str, e["loc"])), e["msg"].removeprefix("Value error, ")) for e in info.value.errors()]


@pytest.mark.parametrize(
    ("spec", "name", "expected"),
    [
        ({"replicas": -1, "template": TEMPLATE}, "web", [("spec.replicas", "Input should be greater than or equal to 0")]),
        ({"template": {"spec": {"image": "busybox", "memory": "1Mi"}}}, "web",
         [("spec.template.spec.memory", "1Mi is too small to start a container; the minimum is 4Mi")]),
        ({"template": {"spec": {"image": "busybox", "nodeName": "n1"}}}, "web",
         [("spec.template.spec", "nodeName must not be set in a template: the scheduler places each member")]),
        ({"selector": {"matchLabels": {"app": "db"}}, "template": {"metadata": {"labels": {"app": "web"}}, **TEMPLATE}}, "web",
         [("spec", "selector.matchLabels app=db must also be in template.metadata.labels, or no member would match")]),
        ({"autoscale": {"min": 5, "max": 2, "targetCPUPercent": 50}, "template": TEMPLATE}, "web",
         [("spec.autoscale", "min (5) must not exceed max (2)")]),
        ({"updateStrategy": {"maxUnavailable": 0}, "template": TEMPLATE}, "web",
         [("spec.updateStrategy.maxUnavailable", "Input should be greater than or equal to 1")]),
        ({"autoscale": {"max": 2, "targetCPUPercent": 50, "scaleDownStabilization": "soon"}, "template": TEMPLATE}, "web",
         [("spec.autoscale.scaleDownStabilization", "'soon' is not a duration (e.g. 300s, 5m, 1h)")]),
        ({"replicas": 100, "template": TEMPLATE}, "a" * 61, [("metadata.name", "member names (" + "a" * 61 + "-99) would be longer "
                                                             "than 63 characters; use a shorter name or spec.memberPrefix")]),
    ],
    ids=["negative-replicas", "template-field", "template-bound", "selector-mismatch", "min-over-max", "max-unavailable-0",
         "bad-duration", "names-too-long"],
)
def test_set_errors(spec: dict[str, Any], name: str, expected: list[tuple[str, str]]) -> None:
    assert errors(ContainerSet, {"metadata": {"name": name}, "spec": spec}) == expected


def test_set_durations_and_defaults() -> None:
    cset = ContainerSet.model_validate({"metadata": {"name": "web"}, "spec": {
        "template": TEMPLATE, "autoscale": {"max": 4, "targetCPUPercent": 50, "scaleDownStabilization": "5m", "period": "500ms"}}})
    wire = cset.to_wire()["spec"]
    assert wire["autoscale"] == {"min": 1, "max": 4, "targetCPUPercent": 50.0, "tolerance": 0.1, "scaleDownStabilization": 300.0,
                                 "period": 0.5}
    assert wire["updateStrategy"] == {"maxUnavailable": 1, "progressDeadline": 300.0}
    assert wire["replicas"] == 1


CLUSTER = {"frontEndImage": "busybox", "workingNodeImage": "busybox", "nodes": 2}


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({**CLUSTER, "nodes": 0}, [("spec.nodes", "Input should be greater than or equal to 1")]),
        ({**CLUSTER, "frontEndImage": "bad image"}, [("spec.frontEndImage", "'bad image' is not an image reference (e.g. busybox, debian:bookworm)")]),
        ({**CLUSTER, "home": {"hostPath": "srv/home"}}, [("spec.home.hostPath", "hostPath must be an absolute path")]),
        ({**CLUSTER, "context": [{"name": "a.sh", "script": "true"}, {"name": "a.sh", "script": "false"}]},
         [("spec", "context script names must be unique: a.sh")]),
        ({**CLUSTER, "context": [{"name": "../x", "script": "true"}]},
         [("spec.context.0.name", "must be 1-100 letters, digits, '.', '_' or '-', starting with a letter or digit")]),
        ({**CLUSTER, "domain": "Bad_Domain"}, [("spec.domain", "must be a DNS name: dot-separated lowercase labels")]),
    ],
    ids=["zero-nodes", "bad-image", "relative-home", "duplicate-scripts", "bad-script-name", "bad-domain"],
)
def test_cluster_errors(spec: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    assert errors(ContainerCluster, {"metadata": {"name": "mc"}, "spec": spec}) == expected
