"""A moved container's directory kept aside on its old node: parked on delete, reinstated by a failed move, discarded after a good one."""
from __future__ import annotations

from pathlib import Path

import pytest

from kubelet import keep


def make(lxc: Path, name: str, *, lower: Path) -> Path:
    directory = lxc / name
    (directory / "delta0" / "home").mkdir(parents=True)
    (directory / "delta0" / "home" / "f").write_text("data\n")
    (directory / "config").write_text(f"lxc.uts.name = {name}\nlxc.rootfs.path = overlay:{lower}:{directory / 'delta0'}\n")
    return directory


def test_park_then_reinstate_gives_back_the_same_directory_and_rootfs(tmp_path: Path) -> None:
    lxc, image = tmp_path / "lxc", tmp_path / "images" / "busybox"
    image.mkdir(parents=True)
    make(lxc, "web", lower=image)
    kept = keep.park(lxc, "web", "web-20260101-030000")
    assert kept == lxc / ".kept" / "web-20260101-030000" and not (lxc / "web").exists()
    assert not (lxc / ".kept" / "config").exists()  # liblxc lists <lxcpath>/*/config: the kept one is not a container
    assert keep.park(lxc, "web", "web-20260101-030000") == kept  # a repeated pass changes nothing

    rootfs = keep.reinstate(lxc, "web", "web-20260101-030000")
    assert rootfs == f"overlay:{image}:{lxc / 'web' / 'delta0'}"
    assert (lxc / "web" / "delta0" / "home" / "f").read_text() == "data\n"
    assert sorted(p.name for p in (lxc / "web").iterdir()) == ["config", "delta0"]
    assert not kept.exists()


def test_a_restored_containers_own_lower_dir_moves_with_it(tmp_path: Path) -> None:
    lxc = tmp_path / "lxc"
    directory = make(lxc, "copy", lower=tmp_path / "lxc" / "copy" / "lower")
    (directory / "lower").mkdir()
    keep.park(lxc, "copy", "b1")
    assert keep.reinstate(lxc, "copy", "b1") == f"overlay:{directory / 'lower'}:{directory / 'delta0'}"


@pytest.mark.parametrize(
    ("setup", "why"),
    [
        pytest.param("never-parked", "nothing kept", id="never-parked"),
        pytest.param("image-gone", "the image under it was collected", id="image-gone"),
        pytest.param("dir-taken", "a non-empty directory of that name exists", id="dir-taken"),
    ],
)
def test_nothing_usable_kept_means_the_archive_is_unpacked_instead(tmp_path: Path, setup: str, why: str) -> None:
    lxc, image = tmp_path / "lxc", tmp_path / "image"
    image.mkdir()
    if setup != "never-parked":
        make(lxc, "web", lower=image)
        keep.park(lxc, "web", "b1")
    if setup == "image-gone":
        image.rmdir()
    if setup == "dir-taken":
        (lxc / "web" / "delta0").mkdir(parents=True)
    assert keep.reinstate(lxc, "web", "b1") is None, why


def test_discard_removes_the_kept_directory_once(tmp_path: Path) -> None:
    lxc, image = tmp_path / "lxc", tmp_path / "image"
    image.mkdir()
    make(lxc, "web", lower=image)
    assert keep.park(lxc, "gone", "b1") is None  # no directory: nothing to keep
    keep.park(lxc, "web", "b1")
    assert keep.discard(lxc, "b1") is True and not (lxc / ".kept" / "b1").exists()
    assert keep.discard(lxc, "b1") is False
