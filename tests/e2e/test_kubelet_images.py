"""Images on a real node: a rootfs tarball, an image change that rebuilds, the offline download form,
garbage collection, and a debootstrapped Debian that boots systemd."""
from __future__ import annotations

import subprocess
import tarfile
import time
from pathlib import Path

import pytest

from conftest import Cluster
from kubelet import images
from kubelet_helpers import Api, init_pid, wait_for

pytestmark = [pytest.mark.lxc, pytest.mark.timeout(240)]


def node_images(api: Api, node) -> list[dict]:
    return api.get(node.name, "nodes")["status"].get("images", [])


def make_tarball(base: Path) -> Path:
    rootfs = base / "tarball-rootfs"
    rootfs.mkdir()
    images._build_busybox(rootfs, busybox=Path("/bin/busybox"))
    (rootfs / "etc/from-tarball").write_text("yes\n")
    tarball = base / "rootfs.tar.gz"
    with tarfile.open(tarball, "w:gz") as tar:
        tar.add(rootfs, arcname=".")
    return tarball


def test_tarball_image_change_offline_download_and_gc(cluster: Cluster) -> None:
    own_images = cluster.lxc_root / f"images-{time.monotonic_ns()}"
    node = cluster.add_node(args=["--image-dir", str(own_images), "--image-gc-after", "3"])
    api = Api(cluster)
    tarball = make_tarball(cluster.tmp)
    ref = f"file://{tarball}"
    try:
        api.create("fromtar", node, image=ref, network={"type": "none"})
        wait_for(lambda: api.phase("fromtar") == "Running", timeout=60, what="Running from the tarball")
        cond = api.condition("fromtar", "ImageReady")
        assert (cond["status"], cond["reason"]) == ("True", "Prepared")
        pid = init_pid(node.lxc_path, "fromtar")
        root = Path(f"/proc/{pid}/root")
        assert (root / "etc/from-tarball").read_text() == "yes\n"
        # Extracted once, shifted to the id map: container root owns the files, a host user on the host.
        assert (root / "etc/from-tarball").stat().st_uid > 0
        subprocess.run(["lxc-attach", "-P", str(node.lxc_path), "-n", "fromtar", "--", "/bin/touch", "/root/scratch"],
                       check=True, timeout=30)
        assert (root / "root/scratch").exists()
        listed = wait_for(lambda: [i for i in node_images(api, node) if i["name"] == ref], timeout=20, what="image listed")
        assert listed[0]["containers"] == 1 and listed[0]["size"] > 0

        # An image change is the one spec change that replaces the rootfs; it says so.
        api.patch("fromtar", {"spec": {"image": "busybox"}})
        wait_for(lambda: (c := api.condition("fromtar", "RootfsRebuilt")) and c["reason"] == "ImageChanged", timeout=30, what="rebuild recorded")
        wait_for(lambda: api.phase("fromtar") == "Running" and init_pid(node.lxc_path, "fromtar") not in (pid, -1), timeout=30, what="rebuilt")
        root = Path(f"/proc/{init_pid(node.lxc_path, 'fromtar')}/root")
        assert not (root / "etc/from-tarball").exists() and not (root / "root/scratch").exists()

        # The tarball image is unused now: collected after --image-gc-after.
        wait_for(lambda: not any(i["name"] == ref for i in node_images(api, node)), timeout=30, what="tarball image collected")
        assert [p.name for p in own_images.iterdir() if p.name.startswith("file-") and not p.name.endswith(".lock")] == []
        assert any(i["name"] == "busybox" for i in node_images(api, node))

        # The seed's ubuntu:20.04 is the download template's ubuntu/focal; without internet it fails and says why.
        api.create("focal", node, image="ubuntu:20.04", network={"type": "none"})
        wait_for(lambda: api.phase("focal") == "Failed", timeout=60, what="focal Failed")
        message = api.status("focal")["message"]
        assert message.startswith(f"image download:ubuntu/focal/{images.host_arch()} (the download template needs internet access")
        assert "images.linuxcontainers.org" in message
        cond = api.condition("focal", "ImageReady")
        assert (cond["status"], cond["reason"]) == ("False", "Failed")
        assert not (node.lxc_path / "focal").exists()
    finally:
        api.close()


@pytest.mark.slow
@pytest.mark.timeout(420)
def test_debian_bookworm_boots(cluster: Cluster) -> None:
    node = cluster.add_node()
    api = Api(cluster)
    try:
        api.create("deb", node, image="debian:bookworm", network={"type": "none"})
        cond = wait_for(lambda: api.condition("deb", "ImageReady"), timeout=60, what="ImageReady condition")
        began = time.monotonic()
        wait_for(lambda: api.phase("deb") == "Running", timeout=360, what="debian Running", interval=1)
        print(f"debian:bookworm prepared and running in {time.monotonic() - began:.0f}s (first condition {cond['reason']})")
        state = wait_for(lambda: subprocess.run(
            ["lxc-attach", "-P", str(node.lxc_path), "-n", "deb", "--", "systemctl", "is-system-running"],
            capture_output=True, text=True, timeout=30).stdout.strip() in ("running", "degraded"), timeout=60, what="systemd up")
        assert state
        release = subprocess.run(["lxc-attach", "-P", str(node.lxc_path), "-n", "deb", "--", "cat", "/etc/os-release"],
                                 capture_output=True, text=True, timeout=30, check=True).stdout
        assert 'VERSION_CODENAME=bookworm' in release
        wait_for(lambda: any(i["name"] == "debian:bookworm" for i in node_images(api, node)), timeout=20, what="debian listed")
    finally:
        api.close()
