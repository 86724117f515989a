from __future__ import annotations

from dlxc.cli.describe import describe_lines

CONTAINER = {
    "kind": "Container",
    "metadata": {"name": "web", "labels": {"app": "web", "tier": "front"}, "annotations": {}},
    "spec": {"image": "busybox", "memory": "256Mi"},
    "status": {
        "phase": "Running",
        "nodeName": "n1",
        "conditions": [{"type": "Scheduled", "status": "True", "reason": "Bound", "message": "to n1"}],
        "placement": {"node": "n1", "scores": {"n1": 81, "n2": 40}},
    },
}
EVENTS = [
    {"type": "Normal", "reason": "Scheduled", "message": "bound to n1", "count": 1, "involvedObject": {"kind": "Container", "name": "web"}},
    {"type": "Warning", "reason": "BackOff", "message": "restarting", "count": 3, "involvedObject": {"kind": "Container", "name": "web"}},
]


def test_describe_prints_spec_status_conditions_events_placement_in_order() -> None:
    assert describe_lines(CONTAINER, EVENTS) == [
        "Name:         web",
        "Kind:         Container",
        "Labels:       app=web,tier=front",
        "Annotations:  <none>",
        "Created:      <unknown>",
        "Spec:",
        "  image: busybox",
        "  memory: 256Mi",
        "Status:",
        "  phase: Running",
        "  nodeName: n1",
        "Conditions:",
        "  TYPE        STATUS   REASON   AGE         MESSAGE",
        "  Scheduled   True     Bound    <unknown>   to n1",
        "Events:",
        "  TYPE      REASON      AGE         COUNT   MESSAGE",
        "  Normal    Scheduled   <unknown>   1       bound to n1",
        "  Warning   BackOff     <unknown>   3       restarting",
        "Placement:",
        "  node: n1",
        "  scores:",
        "    n1: 81",
        "    n2: 40",
    ]


def test_describe_without_conditions_events_or_placement() -> None:
    node = {"kind": "Node", "metadata": {"name": "n1"}, "spec": {}, "status": {}}
    assert describe_lines(node, []) == [
        "Name:         n1",
        "Kind:         Node",
        "Labels:       <none>",
        "Annotations:  <none>",
        "Created:      <unknown>",
        "Spec:",
        "  <none>",
        "Status:",
        "  <none>",
        "Conditions:   <none>",
        "Events:       <none>",
    ]
