"""What a restore (`dlxc backup restore`) and an import (`dlxc import`) create from a backed-up spec:
a copy under another name gets a fresh cluster address, since the original may still hold its own."""
from __future__ import annotations

import pytest

from dlxc.cli.backup import restore_body
from dlxc.cli.importer import imported_spec

SPEC = {"image": "debian", "network": {"type": "cluster", "ipv4": "10.88.0.5/16"}, "state": "Running"}
FRESH = {"image": "debian", "network": {"type": "cluster"}, "state": "Running"}


def completed(container: str, spec: dict) -> dict:
    return {"metadata": {"name": f"{container}-20260101-030000"}, "spec": {"container": container},
            "status": {"phase": "Completed", "node": "n1", "containerSpec": spec}}


@pytest.mark.parametrize(
    ("name", "spec", "expected"),
    [
        pytest.param("web", SPEC, SPEC, id="same-name-keeps-its-address"),
        pytest.param("web2", SPEC, FRESH, id="new-name-gets-a-fresh-address"),
        pytest.param("web2", {"image": "debian"}, {"image": "debian"}, id="new-name-default-network"),
        pytest.param("web2", {"image": "debian", "network": {"type": "bridge"}}, {"image": "debian", "network": {"type": "bridge"}},
                     id="new-name-node-bridge"),
    ],
)
def test_restore_body(name: str, spec: dict, expected: dict) -> None:
    backup = completed("web", spec)
    assert restore_body(backup, name=name, node=None) == {
        "metadata": {"name": name, "annotations": {"dlxc.io/restore-from": "web-20260101-030000"}},
        "spec": {**expected, "nodeName": "n1"},
    }
    assert backup["status"]["containerSpec"] == spec  # the backup itself is left as it was


@pytest.mark.parametrize(
    ("name", "expected"),
    [pytest.param("web", SPEC, id="same-name-keeps-its-address"), pytest.param("web2", FRESH, id="new-name-gets-a-fresh-address")],
)
def test_imported_spec(name: str, expected: dict) -> None:
    document = {"metadata": {"name": "web", "labels": {}, "annotations": {}}, "spec": SPEC}
    assert imported_spec(document, name=name) == expected
    assert document["spec"] == SPEC


def test_an_archive_spec_this_dlxc_refuses_is_refused_before_the_upload(capsys) -> None:
    import pytest
    import typer

    from dlxc.cli.importer import check_spec

    check_spec({"image": "busybox", "memory": "64Mi", "network": {"type": "cluster"}}, name="web", what="web.tar.zst")
    with pytest.raises(typer.Exit):
        check_spec({"image": "busybox", "gpus": 2}, name="web", what="web.tar.zst")
    assert capsys.readouterr().err == (
        "error: web.tar.zst: the archive's container spec is not valid here: spec.gpus: Extra inputs are not permitted "
        "(an archive of another dlxc version?); nothing was created\n")


KEPT = {"labels": {"app": "web", "tier": "front", "dlxc.io/set": "web", "dlxc.io/applyset": "a1b2", "dlxc.io/cluster": "mc"},
        "annotations": {"note": "keep me", "dlxc.io/last-applied": "{}", "dlxc.io/snapshot-restore": "s1",
                        "dlxc.io/drained-from": "n1", "dlxc.io/template-hash": "abc", "dlxc.io/snapshots": "daily"}}


@pytest.mark.parametrize(
    ("name", "labels", "annotations"),
    [
        pytest.param("web", {"app": "web", "tier": "front", "dlxc.io/applyset": "a1b2"},
                     {"note": "keep me", "dlxc.io/last-applied": "{}"}, id="same-name-stays-in-its-apply-set"),
        pytest.param("web2", {"app": "web", "tier": "front"}, {"note": "keep me"}, id="new-name-leaves-it"),
    ],
)
def test_a_restore_keeps_the_users_labels_and_annotations(name: str, labels: dict, annotations: dict) -> None:
    """Selectors, `get -l` and the dashboard's groups find the restored container as they found the original.
    It joins no set or cluster (which would delete it as a member they did not make), and carries none of
    the original's requests (a snapshot restore, a drain mark, snapshot schedules) or member bookkeeping."""
    backup = completed("web", SPEC)
    backup["status"]["containerMetadata"] = KEPT
    meta = restore_body(backup, name=name, node=None)["metadata"]
    assert meta["labels"] == labels
    assert meta["annotations"] == {**annotations, "dlxc.io/restore-from": "web-20260101-030000"}


def test_an_import_records_the_archives_labels_and_annotations() -> None:
    from dlxc.cli.importer import imported_metadata

    document = {"metadata": {"name": "web", **KEPT}, "spec": SPEC}
    assert imported_metadata(document, name="web") == {
        "labels": {"app": "web", "tier": "front", "dlxc.io/applyset": "a1b2"},
        "annotations": {"note": "keep me", "dlxc.io/last-applied": "{}"}}
    # Under another name it leaves the apply set: its record is made under the new name, so the restore cannot tell.
    assert imported_metadata(document, name="copy") == {"labels": {"app": "web", "tier": "front"}, "annotations": {"note": "keep me"}}
    assert imported_metadata({"spec": SPEC}, name="web") == {"labels": {}, "annotations": {}}
