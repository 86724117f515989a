from __future__ import annotations

import json

import pytest

from dlxc.apply.threeway import (
    LAST_APPLIED_MAX,
    applied_fields,
    merge,
    plan_merge,
    read_record,
    record_text,
    shape_of,
)
from schemas.manifest import parse_object
from schemas.wire import APPLYSET_LABEL, LAST_APPLIED_ANNOTATION, RESTART_ANNOTATION

CONTAINER = shape_of("Container")
SET = shape_of("ContainerSet")


def part(labels: dict | None = None, annotations: dict | None = None, **spec: object) -> dict:
    """The merged part of a Container: metadata maps and spec."""
    meta: dict = {}
    if labels is not None:
        meta["labels"] = labels
    if annotations is not None:
        meta["annotations"] = annotations
    return {"metadata": meta, "spec": spec}


@pytest.mark.parametrize(
    ("manifest", "last", "live", "result"),
    [
        # maps (labels, annotations, env, nodeSelector) merge by key
        (part({"app": "web"}), part({"app": "web"}), part({"app": "web", "tier": "x"}), part({"app": "web", "tier": "x"})),
        (part({"app": "web"}), part({"app": "web", "tier": "x"}), part({"app": "web", "tier": "x"}), part({"app": "web"})),
        (part({"app": "web", "tier": "y"}), part({"app": "web"}), part({"app": "web", "tier": "x"}),
         part({"app": "web", "tier": "y"})),
        (part(), part({"app": "web"}), part({"app": "web", "tier": "x"}), part({"tier": "x"})),
        (part(annotations={}), part(annotations={"note": "a"}), part(annotations={"note": "a", RESTART_ANNOTATION: "t"}),
         part(annotations={RESTART_ANNOTATION: "t"})),
        (part(env={"A": "1"}), part(env={"A": "1", "B": "2"}), part(env={"A": "0", "B": "2", "C": "3"}),
         part(env={"A": "1", "C": "3"})),
        (part(env={"A": "1"}), part(), part(env={"C": "3"}), part(env={"A": "1", "C": "3"})),
        # scalars: set, removed (the server's default then), or kept when nobody's manifest had them
        (part(image="b", memory="1Gi"), part(image="a", memory="1Gi"), part(image="a", memory="1Gi", cpu=2),
         part(image="b", memory="1Gi", cpu=2)),
        (part(image="b"), part(image="b", memory="1Gi"), part(image="b", memory="1Gi", cpu=2), part(image="b", cpu=2)),
        (part(image="b"), part(image="b"), part(image="b", state="Stopped"), part(image="b", state="Stopped")),
        (part(image="b", state="Running"), part(image="b"), part(image="b", state="Stopped"), part(image="b", state="Running")),
        # lists replace as a whole
        (part(mounts=[{"hostPath": "/a", "path": "/a"}]), part(mounts=[{"hostPath": "/a", "path": "/a"}]),
         part(mounts=[{"hostPath": "/a", "path": "/a"}, {"hostPath": "/b", "path": "/b"}]),
         part(mounts=[{"hostPath": "/a", "path": "/a"}])),
        (part(command=["sh"]), part(), part(command=["init"]), part(command=["sh"])),
        # structs merge by field, and go as a whole when the manifest drops them
        (part(network={"type": "bridge"}), part(network={"type": "bridge"}),
         part(network={"type": "bridge", "bridge": "br1"}), part(network={"type": "bridge", "bridge": "br1"})),
        (part(), part(network={"type": "bridge"}), part(network={"type": "bridge", "bridge": "br1"}), part()),
        (part(), part(), part(nodeName="n1", network={"type": "cluster", "ipv4": "10.88.0.5/16"}),
         part(nodeName="n1", network={"type": "cluster", "ipv4": "10.88.0.5/16"})),
    ],
    ids=[
        "hand-set-label-kept", "label-dropped-from-manifest-removed", "label-taken-over", "labels-map-dropped-keys-only",
        "annotation-removed-restart-kept", "env-by-key", "env-first-apply-keeps-others",
        "scalar-set-others-kept", "scalar-dropped-removed", "imperative-state-kept", "manifest-owns-state",
        "list-replaced", "list-set", "struct-by-field", "struct-dropped", "server-and-scheduler-fields-kept",
    ],
)
def test_merge(manifest: dict, last: dict, live: dict, result: dict) -> None:
    assert merge(live, manifest, last, CONTAINER) == result


def _live(doc: dict, **meta: object) -> dict:
    obj = parse_object(doc).to_wire()
    obj["metadata"] = {**obj["metadata"], "resourceVersion": "7", "uid": "u1", **meta}
    return obj


def _plan(doc: dict, live: dict, *, applyset: str | None = None):
    obj = parse_object(doc)
    desired = obj.to_wire()
    desired.pop("status")
    desired["metadata"] = {k: desired["metadata"][k] for k in ("name", "labels", "annotations")}
    applied = applied_fields(obj)
    if applyset:
        desired["metadata"]["labels"][APPLYSET_LABEL] = applyset
        applied["metadata"].setdefault("labels", {})[APPLYSET_LABEL] = applyset
    return plan_merge(desired=desired, applied=applied, live=live)


WEB = {"name": "web", "image": "busybox", "labels": {"app": "web"}}


def test_applied_fields_are_what_the_manifest_wrote_with_lists_whole() -> None:
    obj = parse_object({**WEB, "memory_limit": 256, "mounts": ["/a:/b"], "network": {"type": "bridge"}})
    assert applied_fields(obj) == {
        "apiVersion": "dlxc.io/v1", "kind": "Container",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {
            "image": "busybox", "memory": "256Mi", "network": {"type": "bridge"},
            "mounts": [{"hostPath": "/a", "path": "/b", "readOnly": False}],
        },
    }


def test_record_is_canonical_ascii_json_on_one_line() -> None:
    applied = {"spec": {"env": {"B": "é\n", "A": "1"}}, "kind": "Container"}
    text = record_text(applied)
    assert text == '{"kind":"Container","spec":{"env":{"A":"1","B":"\\u00e9\\n"}}}'
    assert read_record({"metadata": {"annotations": {LAST_APPLIED_ANNOTATION: text}}}) == applied
    assert read_record({"metadata": {"annotations": {LAST_APPLIED_ANNOTATION: "{not json"}}}) is None
    assert read_record({"metadata": {"annotations": {LAST_APPLIED_ANNOTATION: "[1]"}}}) is None
    assert read_record({"metadata": {}}) is None


def test_a_first_apply_without_a_record_is_two_way_and_writes_one() -> None:
    live = _live({**WEB, "labels": {"app": "web", "tier": "x"}, "cpu": 2, "annotations": {RESTART_ANNOTATION: "t"}})
    plan = _plan(WEB, live)
    assert plan.two_way
    assert plan.changed == ("metadata.labels.tier", "spec.cpu")
    assert plan.obj["metadata"]["labels"] == {"app": "web"}
    assert plan.obj["metadata"]["annotations"] == {RESTART_ANNOTATION: "t", LAST_APPLIED_ANNOTATION: record_text(applied_fields(parse_object(WEB)))}
    assert "cpu" not in plan.obj["spec"]
    assert plan.record_changed


def test_with_a_record_hand_set_fields_stay_and_only_the_record_is_new() -> None:
    record = record_text(applied_fields(parse_object(WEB)))
    live = _live({**WEB, "labels": {"app": "web", "tier": "x"}, "cpu": 2, "state": "Stopped"},
                 annotations={LAST_APPLIED_ANNOTATION: record})
    plan = _plan(WEB, live)
    assert (plan.two_way, plan.changed, plan.record_changed) == (False, (), False)
    assert plan.obj["metadata"]["labels"] == {"app": "web", "tier": "x"}
    assert (plan.obj["spec"]["cpu"], plan.obj["spec"]["state"]) == (2, "Stopped")
    # the manifest now sets the label the user had set by hand: no change, but the record learns it
    plan = _plan({**WEB, "labels": {"app": "web", "tier": "x"}}, live)
    assert (plan.changed, plan.record_changed) == ((), True)
    live["metadata"]["annotations"][LAST_APPLIED_ANNOTATION] = plan.obj["metadata"]["annotations"][LAST_APPLIED_ANNOTATION]
    # ... so dropping it from the manifest later removes it
    plan = _plan(WEB, live)
    assert plan.changed == ("metadata.labels.tier",)
    assert plan.obj["metadata"]["labels"] == {"app": "web"}


def test_the_applyset_label_is_not_recorded_and_a_manifests_own_record_is_ignored() -> None:
    live = _live(WEB)
    plan = _plan({**WEB, "annotations": {LAST_APPLIED_ANNOTATION: '{"spec":{}}'}}, live, applyset="demo")
    assert plan.changed == ("metadata.labels.dlxc.io/applyset",)
    recorded = json.loads(plan.obj["metadata"]["annotations"][LAST_APPLIED_ANNOTATION])
    assert recorded["metadata"] == {"name": "web", "labels": {"app": "web"}, "annotations": {}}


def test_a_record_over_the_limit_is_not_kept_and_apply_stays_two_way() -> None:
    big = {**WEB, "env": {"BIG": "x" * LAST_APPLIED_MAX}}
    live = _live(WEB, annotations={LAST_APPLIED_ANNOTATION: record_text(applied_fields(parse_object(WEB)))})
    plan = _plan(big, live)
    assert plan.record is None and plan.record_changed
    assert LAST_APPLIED_ANNOTATION not in plan.obj["metadata"]["annotations"]
    assert plan.warnings == (
        f"the manifest is {len(record_text(applied_fields(parse_object(big))))} bytes as JSON, over the "
        f"{LAST_APPLIED_MAX}-byte limit of the {LAST_APPLIED_ANNOTATION} annotation: it is not recorded, "
        "so apply compares this object two-way (fields set by others are reverted)",
    )


SET_DOC = {
    "apiVersion": "dlxc.io/v1", "kind": "ContainerSet", "metadata": {"name": "web"},
    "spec": {"template": {"metadata": {"labels": {"app": "web"}}, "spec": {"image": "busybox"}},
             "autoscale": {"max": 5, "targetCPUPercent": 50}},
}


@pytest.mark.parametrize("recorded", [False, True], ids=["no-record", "record"])
@pytest.mark.parametrize("replicas", [None, 2], ids=["replicas-left-out", "replicas-in-manifest"])
def test_autoscaled_replicas_belong_to_the_autoscaler(recorded: bool, replicas: int | None) -> None:
    doc = json.loads(json.dumps(SET_DOC))
    if replicas is not None:
        doc["spec"]["replicas"] = replicas
    live = _live(doc)
    live["spec"]["replicas"] = 4  # the autoscaler's choice
    if recorded:
        live["metadata"]["annotations"] = {LAST_APPLIED_ANNOTATION: record_text(applied_fields(parse_object(doc)))}
    plan = _plan(doc, live)
    assert plan.changed == ()
    assert plan.obj["spec"]["replicas"] == 4


def test_an_autoscale_set_by_hand_owns_replicas_too() -> None:
    doc = json.loads(json.dumps(SET_DOC))
    del doc["spec"]["autoscale"]
    doc["spec"]["replicas"] = 2
    live = _live(doc, annotations={LAST_APPLIED_ANNOTATION: record_text(applied_fields(parse_object(doc)))})
    live["spec"]["autoscale"] = {"min": 1, "max": 5, "targetCPUPercent": 50.0}  # dlxc patch: not the manifest's
    live["spec"]["replicas"] = 4
    plan = _plan(doc, live)
    assert (plan.changed, plan.obj["spec"]["replicas"], plan.obj["spec"]["autoscale"]["max"]) == ((), 4, 5)
    # the manifest drops the replicas it had set: the autoscaler's value still stays
    del doc["spec"]["replicas"]
    assert _plan(doc, live).obj["spec"]["replicas"] == 4


def test_without_autoscale_the_manifests_replicas_win_and_left_out_ones_stay() -> None:
    doc = json.loads(json.dumps(SET_DOC))
    del doc["spec"]["autoscale"]
    record = record_text(applied_fields(parse_object(doc)))
    live = _live(doc, annotations={LAST_APPLIED_ANNOTATION: record})
    live["spec"]["replicas"] = 4  # dlxc scale
    assert _plan(doc, live).changed == ()
    doc["spec"]["replicas"] = 2
    plan = _plan(doc, live)
    assert (plan.changed, plan.obj["spec"]["replicas"]) == (("spec.replicas",), 2)


def test_shapes_tell_maps_from_structs() -> None:
    live = part({"app": "web"}, env={"A": "1"}, network={"type": "bridge", "bridge": "br0"})
    # a map the manifest no longer has loses only the recorded keys; a struct goes whole
    last = part(env={"A": "1"}, network={"type": "bridge"})
    last["metadata"]["labels"] = {}
    assert merge(live, part(), last, CONTAINER) == part({"app": "web"}, env={})
    # a set's template is a struct of structs: its labels are a map again
    live_set = {"metadata": {}, "spec": {"template": {"metadata": {"labels": {"app": "web", "x": "1"}}, "spec": {"image": "a"}}}}
    manifest = {"metadata": {}, "spec": {"template": {"metadata": {"labels": {"app": "web"}}, "spec": {"image": "b"}}}}
    assert merge(live_set, manifest, {"metadata": {}, "spec": {}}, SET) == {
        "metadata": {}, "spec": {"template": {"metadata": {"labels": {"app": "web", "x": "1"}}, "spec": {"image": "b"}}},
    }
