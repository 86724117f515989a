"""Real unprivileged busybox containers through LxcRuntime: create, boot, limits, live changes, teardown."""
from __future__ import annotations

import ipaddress
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

pytest.importorskip("lxc")

from kubelet import idmap, images, lxcconfig, network, runtime  # noqa: E402
from schemas.container import ContainerSpec, Network  # noqa: E402

pytestmark = [
    pytest.mark.lxc,
    pytest.mark.skipif(os.geteuid() != 0, reason="real LXC containers need root"),
    pytest.mark.skipif(shutil.which("lxc-start") is None, reason="needs the lxc package"),
]

MiB = 1024 * 1024


@dataclass
class Node:
    """One throwaway node: its lxcpath, image cache, bridge and id map."""

    base: Path
    runtime: runtime.LxcRuntime
    images: images.ImageCache
    bridge: str
    gateway: ipaddress.IPv4Interface
    idmap: idmap.IdMap

    def items(self, name: str, spec: ContainerSpec, *, host: int | None = None) -> list[tuple[str, str]]:
        lower = self.images.ensure(spec.image, idmap=self.idmap)
        ip = None if host is None else ipaddress.IPv4Interface(f"{self.gateway.network[host]}/{self.gateway.network.prefixlen}")
        return lxcconfig.render_config(
            spec, name=name, rootfs=self.runtime.rootfs_for(name, lower), cgroup_version=1,
            default_bridge=self.bridge, ip=ip, gateway=self.gateway.ip, idmap=self.idmap,
        )


def _free_subnet() -> ipaddress.IPv4Interface:
    # A random /24 in 10.200-250.x.x that no host interface already sits in.
    used = subprocess.run(["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True, check=True).stdout
    nets = [ipaddress.IPv4Interface(word).network for line in used.splitlines()
            for word in line.split() if "/" in word and word[0].isdigit()]
    for _ in range(100):
        candidate = ipaddress.IPv4Network(f"10.{secrets.choice(range(200, 251))}.{secrets.randbelow(256)}.0/24")
        if not any(candidate.overlaps(net) for net in nets):
            return ipaddress.IPv4Interface(f"{candidate[1]}/24")
    raise RuntimeError("no free 10.x subnet for the test bridge")


@pytest.fixture(scope="module")
def node(lxc_root: Path) -> Iterator[Node]:
    base = Path(tempfile.mkdtemp(prefix="runtime-", dir=lxc_root))
    base.chmod(0o711)
    bridge = "dlxt" + secrets.token_hex(3)
    gateway = _free_subnet()
    rt = runtime.LxcRuntime(base / "lxcpath")
    node = Node(base=base, runtime=rt, images=images.ImageCache(base / "images"), bridge=bridge,
                gateway=gateway, idmap=idmap.ensure_subids())
    try:
        network.ensure_bridge(bridge, gateway)
        yield node
    finally:
        # Whatever happened above: no container, monitor, bridge or rootfs outlives the test.
        for name in rt.names():
            rt.destroy(name)
        network.delete_bridge(bridge)
        shutil.rmtree(base, ignore_errors=True)


def _eventually(check: Callable[[], bool], *, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


def _status_ids(pid: int, field: str) -> list[int]:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return [int(x) for x in line.split()[1:]]
    raise AssertionError(f"no {field} line for pid {pid}")


def _monitors(lxc_path: Path) -> list[str]:
    out = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if line.startswith("[lxc monitor]") and str(lxc_path) in line]


def test_unprivileged_busybox_lifecycle(node: Node) -> None:
    rt = node.runtime
    name = "e2e-" + secrets.token_hex(3)
    shared = node.base / "shared"
    shared.mkdir()
    (shared / "hello.txt").write_text("from the host\n")
    spec = ContainerSpec.model_validate({
        "image": "busybox", "memory": "64Mi", "cpu": 0.5,
        "env": {"DLXC_GREETING": "hello world", "DLXC_TRICKY": ' "quoted" = #not-a-comment '},
        "mounts": [{"hostPath": str(shared), "path": "/mnt/shared", "readOnly": True}],
    })
    items = node.items(name, spec, host=5)

    started = time.monotonic()
    rt.create(name, items)
    assert time.monotonic() - started < 1.0
    upper = rt.container_dir(name) / "delta0"
    assert list(upper.iterdir()) == []  # nothing copied: the image is the overlay's lower dir
    assert upper.stat().st_uid == node.idmap.host_uid_start
    rt.create(name, items)  # idempotent

    rt.start(name, timeout=30)
    rt.start(name, timeout=30)  # idempotent
    observed = rt.inspect(name)
    assert observed is not None and observed.state == "RUNNING" and observed.init_pid
    assert observed.items == tuple(items)
    pid = observed.init_pid
    # The address is on the container's interface: its network namespace's local routes list it.
    assert f"|-- {node.gateway.network[5]}\n" in Path(f"/proc/{pid}/net/fib_trie").read_text()

    # Limits from the config are on the container's cgroups.
    assert rt.get_cgroup(name, "memory.limit_in_bytes") == str(64 * MiB)
    assert rt.get_cgroup(name, "cpu.cfs_quota_us") == "50000"
    assert rt.get_cgroup(name, "pids.max") == str(lxcconfig.DEFAULT_PIDS_MAX)

    # Container root is an unprivileged host user.
    assert _status_ids(pid, "Uid") == [node.idmap.host_uid_start] * 4
    assert _status_ids(pid, "Gid") == [node.idmap.host_gid_start] * 4

    # The environment reaches init exactly, blanks and quotes included.
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    assert b"DLXC_GREETING=hello world" in environ
    assert b'DLXC_TRICKY= "quoted" = #not-a-comment ' in environ

    # The image booted: rcS ran and wrote the hostname; the bind mount is there and read-only.
    root = Path(f"/proc/{pid}/root")
    assert _eventually(lambda: (root / "etc/hostname").read_text() == f"{name}\n")
    assert (root / "mnt/shared/hello.txt").read_text() == "from the host\n"
    with pytest.raises(OSError):
        (root / "mnt/shared/written-inside.txt").write_text("x")

    # A memory change is live: the cgroup changes, init does not.
    bigger = spec.model_copy(update={"memory": "128Mi"})
    new_items = node.items(name, bigger, host=5)
    diff = lxcconfig.diff_config(items, new_items)
    # Growing: memory+swap first, so the kernel never sees a limit above it.
    assert diff == lxcconfig.ConfigDiff(live=(("memory.memsw.limit_in_bytes", str(128 * MiB)),
                                              ("memory.limit_in_bytes", str(128 * MiB))))
    rt.write_config(name, new_items)
    for key, value in diff.live:
        rt.set_cgroup(name, key, value)
    assert rt.get_cgroup(name, "memory.limit_in_bytes") == str(128 * MiB)
    again = rt.inspect(name)
    assert again is not None and again.init_pid == pid and again.items == tuple(new_items)

    # Frozen behind our back (lxc-freeze): seen, and thawed without a restart.
    subprocess.run(["lxc-freeze", "--name", name, "--lxcpath", str(rt.lxc_path)], check=True)
    assert rt.states() == {name: "FROZEN"}
    rt.unfreeze(name)
    rt.unfreeze(name)  # idempotent
    assert rt.states() == {name: "RUNNING"}
    assert rt.inspect(name).init_pid == pid  # type: ignore[union-attr]

    assert rt.stop(name, timeout=15) is False  # busybox init halts: not killed
    assert rt.stop(name, timeout=15) is False  # idempotent
    stopped = rt.inspect(name)
    assert stopped is not None and stopped.state == "STOPPED" and stopped.init_pid is None

    # The written config boots again, with the new limit.
    rt.start(name, timeout=30)
    assert rt.get_cgroup(name, "memory.limit_in_bytes") == str(128 * MiB)

    # An init that ignores the halt signal (init ignores what it has no handler for) is killed after
    # the timeout, and stop() says so: the kubelet's Killing event.
    rt.write_config(name, [*new_items, ("lxc.signal.halt", "SIGWINCH")])
    started = time.monotonic()
    assert rt.stop(name, timeout=1) is True
    assert time.monotonic() - started >= 1.0
    assert rt.inspect(name).state == "STOPPED"  # type: ignore[union-attr]

    rt.destroy(name)
    rt.destroy(name)  # idempotent
    assert rt.inspect(name) is None
    assert rt.names() == []
    assert list(rt.lxc_path.iterdir()) == []
    assert _monitors(rt.lxc_path) == []
    assert (shared / "hello.txt").read_text() == "from the host\n"  # destroy left the host dir alone


def test_network_none_has_only_loopback(node: Node) -> None:
    rt = node.runtime
    name = "e2e-" + secrets.token_hex(3)
    rt.create(name, node.items(name, ContainerSpec(image="busybox", network=Network(type="none"))))
    rt.start(name, timeout=30)
    observed = rt.inspect(name)
    assert observed is not None and observed.state == "RUNNING" and observed.init_pid
    # /proc/<pid>/net/dev lists the interfaces of that process's network namespace.
    lines = Path(f"/proc/{observed.init_pid}/net/dev").read_text().splitlines()[2:]
    assert [line.split(":")[0].strip() for line in lines] == ["lo"]
    rt.destroy(name)
    assert rt.inspect(name) is None
    assert list(rt.lxc_path.iterdir()) == []


def test_unknown_image_names_the_supported_ones(node: Node) -> None:
    with pytest.raises(images.UnknownImage, match="supported images: busybox, debian:RELEASE, ubuntu:VERSION"):
        node.images.ensure("centos:7", idmap=node.idmap)


def test_image_is_built_once_under_concurrency(node: Node) -> None:
    cache = images.ImageCache(node.base / "fresh-images")
    with ThreadPoolExecutor(max_workers=8) as pool:
        paths = list(pool.map(lambda _: cache.ensure("busybox", idmap=node.idmap), range(8)))
    assert len(set(paths)) == 1
    rootfs = paths[0]
    # One finished image, no half-built temp dirs; owned by the mapped root, as the overlay lower dir needs.
    assert sorted(p.name for p in cache.root.iterdir() if not p.name.endswith(".lock")) == [rootfs.name, rootfs.name + ".json"]
    for rel in ("", "bin/busybox", "etc/passwd", "etc/inittab"):
        info = (rootfs / rel).lstat()
        assert (info.st_uid, info.st_gid) == (node.idmap.host_uid_start, node.idmap.host_gid_start)
    assert os.readlink(rootfs / "sbin/init") == "/bin/busybox"
    assert (rootfs / "tmp").stat().st_mode & 0o7777 == 0o1777
    assert cache.ensure("busybox", idmap=node.idmap) == rootfs


def test_actions_on_a_missing_container(node: Node) -> None:
    rt = node.runtime
    assert rt.inspect("never-created") is None
    rt.stop("never-created", timeout=1)
    rt.destroy("never-created")
    with pytest.raises(runtime.LxcError, match="create it first"):
        rt.start("never-created", timeout=5)
