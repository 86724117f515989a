from __future__ import annotations

from pathlib import Path

import pytest

from dlxc.apply.inventory import (
    APPLYSET_LABEL,
    Inventory,
    Member,
    applyset_id,
    prune_candidates,
    prune_skip_reason,
    source_key,
    validate_applyset,
)


def live(name: str, *, uid: str = "u-", label: str | None = "demo") -> tuple[str, dict]:
    labels = {APPLYSET_LABEL: label} if label else {}
    return ("Container", {"metadata": {"name": name, "uid": uid + name, "labels": labels}})


INVENTORY = Inventory(
    "demo",
    {
        ("Container", "old"): Member("Container", "old", "u-old", "repo/old.yaml"),
        ("Container", "kept"): Member("Container", "kept", "u-kept", "repo/kept.yaml"),
        ("Container", "broken"): Member("Container", "broken", "u-broken", "repo/broken.yaml"),
    },
)


@pytest.mark.parametrize(
    ("objects", "doomed"),
    [
        ([live("old")], ["old"]),
        ([live("kept")], []),
        ([live("stranger")], []),
        ([live("old", label=None)], []),
        ([live("old", label="other")], []),
        ([live("old", uid="recreated-")], []),
        ([live("broken")], []),
        ([live("old"), live("kept"), live("stranger"), live("broken")], ["old"]),
    ],
    ids=["removed-member", "still-in-folder", "not-in-record", "label-taken-off", "other-set", "recreated", "source-broken", "mixed"],
)
def test_prune_only_what_the_record_proves_is_ours(objects: list, doomed: list[str]) -> None:
    found = prune_candidates(INVENTORY, objects, keep={("Container", "kept")}, protected_sources={"repo/broken.yaml"})
    assert [obj["metadata"]["name"] for _, obj in found] == doomed


def test_record_round_trips_and_missing_record_is_empty(tmp_path: Path) -> None:
    assert Inventory.load(tmp_path, "demo").members == {}
    path = INVENTORY.save(tmp_path)
    assert path == tmp_path / "demo.json"
    assert Inventory.load(tmp_path, "demo") == INVENTORY


def test_applyset_id_is_stable_and_names_the_folder(tmp_path: Path) -> None:
    folder = tmp_path / "My_Apps"
    folder.mkdir()
    first = applyset_id([str(folder)])
    assert first == applyset_id([str(folder) + "/"]) == applyset_id([str(tmp_path / "." / "My_Apps")])
    assert first.startswith("my-apps-") and len(first) == len("my-apps-") + 10
    assert validate_applyset(first) == first


@pytest.mark.parametrize("bad", ["Demo", "-x", "a" * 64, "a_b"], ids=["upper", "dash", "long", "underscore"])
def test_bad_applyset_names(bad: str) -> None:
    with pytest.raises(ValueError, match="must be a DNS-1123 label"):
        validate_applyset(bad)


@pytest.mark.parametrize(
    ("given", "reason"),
    [
        ({}, ""),
        ({"missing_roots": ["gitops"], "unreadable": ["gitops"], "loaded": 0}, "prune skipped: gitops is missing"),
        ({"unreadable": ["g/b.yaml"]}, "prune skipped: 1 file could not be read: g/b.yaml"),
        ({"unreadable": ["g/a.yaml", "g/b.yaml"]}, "prune skipped: 2 files could not be read: g/a.yaml, g/b.yaml"),
        ({"failed": ["container/web2"]}, "prune skipped: 1 object(s) failed to apply: container/web2"),
        (
            {"loaded": 0},
            (
                "prune skipped: no objects were read, and pruning would delete all 3 member(s) of the set; "
                "sync with --allow-empty-prune to do that"
            ),
        ),
        ({"loaded": 0, "allow_empty": True}, ""),
        ({"loaded": 0, "recorded": 0}, ""),
    ],
    ids=["clean", "missing-root", "broken-file", "broken-files", "failed-apply", "empty", "empty-allowed", "empty-set"],
)
def test_prune_is_skipped_whenever_the_run_cannot_see_clearly(given: dict, reason: str) -> None:
    assert prune_skip_reason(**{"loaded": 2, "recorded": 3, **given}) == reason


def test_sources_are_recorded_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert source_key("gitops/a.yaml") == source_key(str(tmp_path / "gitops" / "a.yaml")) == str(tmp_path.resolve() / "gitops/a.yaml")
    assert source_key("<stdin>") == "<stdin>"
