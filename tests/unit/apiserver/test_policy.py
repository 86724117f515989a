from __future__ import annotations

import os
from pathlib import Path

import pytest

from apiserver.policy import check_container, host_path_allowed
from dlxc.client.errors import Invalid


@pytest.mark.parametrize(
    ("path", "allowed", "expected"),
    [
        ("/srv/data", ["/srv"], None),
        ("/srv", ["/srv"], None),
        ("/srv/", ["/srv/"], None),
        ("/srvx/data", ["/srv"], "/srvx/data is not under an allowed host path: /srv"),
        ("/etc", ["/srv", "/home"], "/etc is not under an allowed host path: /srv, /home"),
        ("/etc", [], "/etc is not under an allowed host path: nowhere (the apiserver allows no host paths; "
                     "start it with --allowed-host-paths)"),
        ("/srv//a/./b", ["/srv/a"], None),
    ],
    ids=["under", "equal", "trailing-slash", "prefix-is-not-parent", "outside", "nothing-allowed", "normalised"],
)
def test_host_path_allowed(path: str, allowed: list[str], expected: str | None) -> None:
    assert host_path_allowed(path, allowed) == expected


@pytest.mark.parametrize(
    ("path", "read_only", "allowed", "expected"),
    [
        ("/usr/share/doc", True, ["/var/lib/dlxc/volumes", "/usr/share:ro"], None),
        ("/usr/share/doc", False, ["/var/lib/dlxc/volumes", "/usr/share:ro"],
         "/usr/share/doc may only be mounted read-only (add :ro); allowed host paths: "
         "/var/lib/dlxc/volumes, /usr/share (read-only)"),
        ("/var/lib/dlxc/volumes/db", False, ["/var/lib/dlxc/volumes", "/usr/share:ro"], None),
        ("/home/alice", True, ["/var/lib/dlxc/volumes", "/usr/share:ro"],
         "/home/alice is not under an allowed host path: /var/lib/dlxc/volumes, /usr/share (read-only)"),
        ("/srv/a", False, ["/srv:ro", "/srv/a"], None),
    ],
    ids=["ro-root-ro-mount", "ro-root-rw-mount", "rw-root", "outside-names-list", "rw-inside-ro"],
)
def test_read_only_roots(path: str, read_only: bool, allowed: list[str], expected: str | None) -> None:
    assert host_path_allowed(path, allowed, read_only=read_only) == expected


def test_a_symlink_on_the_way_is_refused_not_followed(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    os.symlink(tmp_path / "real", tmp_path / "link")
    assert host_path_allowed(str(tmp_path / "real" / "x"), [str(tmp_path)]) is None
    assert host_path_allowed(str(tmp_path / "link" / "x"), [str(tmp_path)]) == (
        f"{tmp_path / 'link'} is a symlink; host paths are not resolved through symlinks"
    )


def test_check_container_names_every_refused_field() -> None:
    obj = {
        "metadata": {"name": "web"},
        "spec": {"privileged": True, "mounts": [{"hostPath": "/srv/ok", "path": "/a"}, {"hostPath": "/etc", "path": "/b"}]},
    }
    with pytest.raises(Invalid) as err:
        check_container(obj, allow_privileged=False, allowed_host_paths=["/srv"])
    assert [d["field"] for d in err.value.details] == ["spec.privileged", "spec.mounts.1.hostPath"]
    check_container({**obj, "spec": {**obj["spec"], "mounts": obj["spec"]["mounts"][:1]}}, allow_privileged=True, allowed_host_paths=["/srv"])
