from __future__ import annotations

import pytest

from dlxc.apply.diff import drifted_fields, unified_diff, user_view


def obj(**spec: object) -> dict:
    return {"metadata": {"name": "web", "labels": {"app": "web"}}, "spec": {"image": "busybox", **spec}}


@pytest.mark.parametrize(
    ("desired", "live", "fields"),
    [
        (obj(), obj(), []),
        (obj(), obj(nodeName="n1"), []),
        (obj(memory="512Mi"), obj(memory="1Gi"), ["spec.memory"]),
        (obj(env={"A": "1"}), obj(env={"A": "2", "B": "3"}), ["spec.env.A", "spec.env.B"]),
        (obj(), {**obj(), "metadata": {"name": "web", "labels": {}}}, ["metadata.labels.app"]),
        (obj(), {**obj(), "status": {"phase": "Running"}, "metadata": {"name": "web", "labels": {"app": "web"}, "uid": "u"}}, []),
        (obj(), obj(network={"type": "cluster", "ipv4": "10.88.3.4/16"}), []),
        (obj(network={"ipv4": "10.88.3.4/16"}), obj(network={"type": "cluster", "ipv4": "10.88.3.4/16"}), []),
        (obj(network={"type": "bridge", "bridge": "br0"}), obj(network={"type": "cluster", "ipv4": "10.88.3.4/16"}),
         ["spec.network"]),
        # A manifest that names an address other than the live one: drift (apply fails on it; diff said nothing).
        (obj(network={"ipv4": "10.88.0.6/16"}), obj(network={"type": "cluster", "ipv4": "10.88.0.5/16"}),
         ["spec.network.ipv4"]),
    ],
    ids=["same", "scheduler-field-ignored", "changed", "nested", "label-removed", "server-fields-ignored",
         "allocated-address-ignored", "static-address-as-stored", "bridge-vs-cluster", "static-address-changed"],
)
def test_drifted_fields(desired: dict, live: dict, fields: list[str]) -> None:
    assert drifted_fields(desired, live) == fields


def test_user_view_keeps_only_what_a_manifest_owns() -> None:
    live = {**obj(nodeName="n1"), "status": {"phase": "Running"}}
    assert user_view(live) == {
        "metadata": {"name": "web", "labels": {"app": "web"}, "annotations": {}},
        "spec": {"image": "busybox"},
    }


def test_unified_diff_of_a_change_a_new_and_a_pruned_object() -> None:
    assert unified_diff(obj(), obj(), ref="container/web") == ""
    assert unified_diff(obj(cpu=2), obj(cpu=1), ref="container/web") == (
        "--- live/container/web\n+++ desired/container/web\n@@ -4,5 +4,5 @@\n"
        "     app: web\n   name: web\n spec:\n-  cpu: 1\n+  cpu: 2\n   image: busybox\n"
    )
    assert unified_diff(obj(), None, ref="container/web").splitlines()[:2] == ["--- /dev/null", "+++ desired/container/web"]
    assert unified_diff(None, obj(), ref="container/web").splitlines()[:2] == ["--- live/container/web", "+++ /dev/null"]


RESTART = {"dlxc.io/restartedAt": "2026-01-01T00:00:00Z"}


@pytest.mark.parametrize(
    ("desired_annotations", "live_annotations", "fields"),
    [
        ({}, RESTART, []),
        ({}, {**RESTART, "dlxc.io/adopted-rootfs": "/r"}, []),
        ({}, {**RESTART, "note": "x"}, ["metadata.annotations.note"]),
        ({"dlxc.io/restartedAt": "2020-01-01T00:00:00Z"}, RESTART, ["metadata.annotations.dlxc.io/restartedAt"]),
    ],
    ids=["restart-request", "adopted-rootfs", "other-annotation-drifts", "manifest-owns-it"],
)
def test_imperative_annotations_are_not_drift(desired_annotations: dict, live_annotations: dict, fields: list[str]) -> None:
    desired = {**obj(), "metadata": {**obj()["metadata"], "annotations": desired_annotations}}
    live = {**obj(), "metadata": {**obj()["metadata"], "annotations": live_annotations}}
    assert drifted_fields(desired, live) == fields
    assert (unified_diff(desired, live, ref="container/web") == "") == (fields == [])


def test_a_merged_object_shows_every_difference_and_never_the_record() -> None:
    # the manifest had set the restart request and dropped it: the merge removes it, and diff says so
    merged = {**obj(), "metadata": {**obj()["metadata"], "annotations": {"dlxc.io/last-applied": "{}"}}}
    live = {**obj(), "metadata": {**obj()["metadata"], "annotations": {**RESTART, "dlxc.io/last-applied": '{"a":1}'}}}
    assert unified_diff(merged, live, ref="container/web") == ""
    assert [line for line in unified_diff(merged, live, ref="container/web", merged=True).splitlines() if line[:1] in "+-"] == [
        "--- live/container/web", "+++ desired/container/web", "-  annotations:", "-    dlxc.io/restartedAt: '2026-01-01T00:00:00Z'",
        "+  annotations: {}",
    ]
