from __future__ import annotations

from dlxc.cli.describe import describe_lines
from schemas.wire import LAST_APPLIED_ANNOTATION

CONTAINER = {
    "kind": "Container",
    "metadata": {"name": "web", "labels": {"app": "web", "tier": "front"}, "annotations": {}},
    "spec": {"image": "busybox", "memory": "256Mi"},
    "status": {
        "phase": "Running",
        "nodeName": "n1",
        "conditions": [{"type": "Scheduled", "status": "True", "reason": "Bound", "message": "to n1"}],
        "placement": {
            "node": "n1", "total": 81.0, "scores": {"AvailableCPU": 90.0, "AvailableMemory": 72.0},
            "weights": {"AvailableCPU": 30, "AvailableMemory": 30},
            "runnersUp": [{"node": "n2", "total": 40.0, "scores": {"AvailableCPU": 50.0, "AvailableMemory": 30.0}}],
            "nodes": 2, "feasible": 2, "message": "node n1 scored 81.0",
        },
    },
}
EVENTS = [
    {"metadata": {"name": "web.scheduled"}, "spec": {"type": "Normal", "reason": "Scheduled", "message": "bound to n1",
     "involvedObject": {"kind": "Container", "name": "web"}}, "status": {"count": 1}},
    {"metadata": {"name": "web.backoff"}, "spec": {"type": "Warning", "reason": "BackOff", "message": "restarting",
     "involvedObject": {"kind": "Container", "name": "web"}}, "status": {"count": 3}},
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
        "  node n1 scored 81.0",
        "  NODE          TOTAL   AvailableCPU(30)   AvailableMemory(30)",
        "  n1 (chosen)   81.0    90.0               72.0",
        "  n2            40.0    50.0               30.0",
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


def test_describe_hides_the_last_applied_record_and_keeps_other_annotations() -> None:
    record = '{"apiVersion":"dlxc.io/v1","kind":"Container","metadata":{"name":"web"},"spec":{"image":"busybox"}}'
    only_record = {"kind": "Container", "metadata": {"name": "web", "annotations": {LAST_APPLIED_ANNOTATION: record}}}
    assert describe_lines(only_record, [])[3] == "Annotations:  <none>"
    both = {"kind": "Container", "metadata": {"name": "web", "annotations": {LAST_APPLIED_ANNOTATION: record, "owner": "ops"}}}
    assert describe_lines(both, [])[3] == "Annotations:  owner=ops"
