"""The image GC's view of which images are in use: the lower dirs of the containers' overlay rootfs."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from fakes.runtime import FakeRuntime

from kubelet.imagegc import ImageGC


def test_images_in_use_are_read_from_the_configs_without_inspecting(tmp_path: Path) -> None:
    rt = FakeRuntime()
    rt.create("a", [("lxc.rootfs.path", "overlay:/images/busybox:/lxc/a/delta0")])
    rt.create("b", [("lxc.rootfs.path", "overlay:/images/alpine:/lxc/b/delta0")])
    rt.create("c", [("lxc.rootfs.path", "overlay:/images/busybox:/lxc/c/delta0")])
    rt.create("plain", [("lxc.rootfs.path", "dir:/srv/plain")])
    rt.start("a")

    def no_inspect(name: str) -> Any:
        raise AssertionError(f"inspect({name}) asks liblxc and /proc; the config file says all the GC needs")

    rt.inspect = no_inspect  # type: ignore[method-assign]
    gc = ImageGC(rt, images=None, unused_for=3600.0)
    assert gc.images_in_use() == {Path("/images/busybox"), Path("/images/alpine")}


def test_the_real_runtime_reads_a_config_without_liblxc(tmp_path: Path) -> None:
    from kubelet.runtime import LxcRuntime

    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "config").write_text("# header\nlxc.uts.name = web\nlxc.rootfs.path = overlay:/images/x:/lxc/web/delta0\n")
    rt = LxcRuntime(tmp_path)
    assert dict(rt.config_items("web") or [])["lxc.rootfs.path"] == "overlay:/images/x:/lxc/web/delta0"
    assert rt.config_items("gone") is None
