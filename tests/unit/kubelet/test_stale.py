from __future__ import annotations

import pytest

from kubelet.stale import stale_copies


def bound(uid: str) -> dict:
    return {"metadata": {"uid": uid}, "spec": {"nodeName": "n1"}}


@pytest.mark.parametrize(
    ("local", "objects", "recorded", "stale"),
    [
        (["a"], {"a": bound("u1")}, {"a": "u1"}, []),
        (["a"], {}, {"a": "u1"}, ["a"]),
        (["a"], {"a": bound("u2")}, {"a": "u1"}, ["a"]),
        (["a"], {"a": bound("u1")}, {}, []),
        (["a", "b", "c"], {"b": bound("u2")}, {"b": "u2"}, ["a", "c"]),
    ],
    ids=["still-bound", "moved-away", "recreated-other-uid", "unknown-uid-kept", "mixed"],
)
def test_stale_copies(local: list[str], objects: dict, recorded: dict, stale: list[str]) -> None:
    assert stale_copies(local, objects, recorded) == stale
