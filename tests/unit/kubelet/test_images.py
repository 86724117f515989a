from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from kubelet.images import ImageCache, ImageRef, UnknownImage, host_arch, resolve


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("busybox", ImageRef("busybox", "busybox")),
        ("busybox:latest", ImageRef("busybox", "busybox")),
        ("ubuntu:20.04", ImageRef("download", f"download-ubuntu-focal-{host_arch()}", dist="ubuntu", release="focal", arch=host_arch())),
        ("ubuntu:jammy", ImageRef("download", f"download-ubuntu-jammy-{host_arch()}", dist="ubuntu", release="jammy", arch=host_arch())),
        ("download:alpine/3.19/arm64", ImageRef("download", "download-alpine-3.19-arm64", dist="alpine", release="3.19", arch="arm64")),
        ("debian:bookworm", ImageRef("debian", "debian-bookworm", release="bookworm", arch=host_arch())),
        ("debian:12", ImageRef("debian", "debian-bookworm", release="bookworm", arch=host_arch())),
    ],
    ids=["busybox", "busybox-latest", "ubuntu-version", "ubuntu-codename", "download", "debian", "debian-number"],
)
def test_resolve(ref: str, expected: ImageRef) -> None:
    assert resolve(ref) == expected


def test_seed_ubuntu_form_maps_to_the_download_template() -> None:
    assert resolve("ubuntu:20.04") == resolve(f"download:ubuntu/focal/{host_arch()}")
    if host_arch() == "amd64":
        assert resolve("ubuntu:20.04") == resolve("download:ubuntu/focal/amd64")


def test_file_images_are_keyed_by_path() -> None:
    first = resolve("file:///srv/images/rootfs.tar.gz")
    assert (first.kind, first.path, first.slug.startswith("file-")) == ("file", Path("/srv/images/rootfs.tar.gz"), True)
    assert resolve("file:///srv/other/rootfs.tar.gz").slug != first.slug


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("centos:7", "image 'centos:7' is not available on this node; supported images: busybox, debian:RELEASE, "
                     "ubuntu:VERSION, download:DIST/RELEASE/ARCH, file:///PATH/rootfs.tar.gz"),
        ("file://relative/r.tar.gz", "image 'file://relative/r.tar.gz': expected file:///ABSOLUTE/PATH/rootfs.tar.gz (or .tgz, .tar.xz, .tar)"),
        ("file:///srv/r.zip", "image 'file:///srv/r.zip': expected file:///ABSOLUTE/PATH/rootfs.tar.gz (or .tgz, .tar.xz, .tar)"),
        ("download:ubuntu/focal", "image 'download:ubuntu/focal': expected download:DIST/RELEASE/ARCH, e.g. download:ubuntu/focal/amd64"),
        ("download:Ubuntu/focal/amd64", "image 'download:Ubuntu/focal/amd64': expected download:DIST/RELEASE/ARCH, e.g. download:ubuntu/focal/amd64"),
        ("debian:", "image 'debian:': unknown Debian release ''"),
    ],
    ids=["unknown", "relative-file", "not-a-tarball", "short-download", "upper-case", "empty-release"],
)
def test_resolve_refuses(ref: str, message: str) -> None:
    with pytest.raises(UnknownImage) as info:
        resolve(ref)
    assert str(info.value) == message


def test_cache_lists_and_collects_unused_images(tmp_path: Path) -> None:
    cache = ImageCache(tmp_path / "images")
    path = cache.ensure("busybox", idmap=None)
    assert cache.is_cached("busybox", idmap=None)
    [listed] = cache.list()
    assert (listed["name"], listed["idMap"], listed["path"]) == ("busybox", "privileged", str(path))
    assert int(listed["size"]) > 0
    # In use, or used recently: kept.
    assert cache.collect_garbage({path}, unused_for=0) == []
    assert cache.collect_garbage(set(), unused_for=3600) == []
    # Unused for longer than asked: removed with its sidecar.
    old = time.time() - 7200
    os.utime(path.with_name(path.name + ".json"), (old, old))
    cache._touched.clear()
    assert cache.collect_garbage(set(), unused_for=3600) == ["busybox"]
    assert not path.exists() and cache.list() == []


def test_an_image_handed_out_while_gc_decides_is_kept(tmp_path: Path) -> None:
    """GC lists an image as unused, then ensure() hands it out before GC takes its lock: GC must
    re-check under the lock (ensure takes it too, also for a cached image) and keep it."""
    cache = ImageCache(tmp_path / "images")
    path = cache.ensure("busybox", idmap=None)
    old = time.time() - 7200
    os.utime(path.with_name(path.name + ".json"), (old, old))
    cache._touched.clear()
    listed = cache.list

    def list_then_use() -> list[dict[str, object]]:
        found = listed()
        assert cache.ensure("busybox", idmap=None) == path  # a container asks for it now
        return found

    cache.list = list_then_use  # type: ignore[method-assign]
    assert cache.collect_garbage(set(), unused_for=3600) == []
    assert path.is_dir()


def test_every_use_counts_though_the_disk_is_touched_once_a_minute(tmp_path: Path) -> None:
    cache = ImageCache(tmp_path / "images")
    path = cache.ensure("busybox", idmap=None)
    cache.ensure("busybox", idmap=None)  # a use: the sidecar is touched
    old = time.time() - 7200
    os.utime(path.with_name(path.name + ".json"), (old, old))  # as if that use were 2 h ago
    used = time.time()
    cache.ensure("busybox", idmap=None)  # within the minute: the sidecar is not touched again
    [listed] = cache.list()
    assert float(listed["lastUsed"]) >= used
    assert cache.collect_garbage(set(), unused_for=3600) == []
    assert path.is_dir()
