"""The node's image cache: each image's root filesystem built once, owned by the id map, shared read-only as overlay lower dir."""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import platform
import re
import shutil
import stat
import struct
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kubelet.idmap import IdMap, unreachable_dirs

__all__ = ["SUPPORTED_IMAGES", "ImageCache", "ImageError", "ImageRef", "UnknownImage", "host_arch", "resolve"]

SUPPORTED_IMAGES = ("busybox", "debian:RELEASE", "ubuntu:VERSION", "download:DIST/RELEASE/ARCH", "file:///PATH/rootfs.tar.gz")
_ALIASES = {"busybox": "busybox", "busybox:latest": "busybox"}
_DEFAULT_BUSYBOX = Path("/bin/busybox")


class ImageError(RuntimeError):
    """An image could not be prepared on this node; the message says what to install or fix."""


class UnknownImage(ImageError, ValueError):
    """The reference names an image this node cannot build."""


# busybox init runs rcS once at boot and then only reaps children: with no respawn line it has
# nothing to fail and keeps running until lxc stop sends SIGUSR1 (halt), which runs ::shutdown.
_INITTAB = """\
::sysinit:/etc/init.d/rcS
::shutdown:/bin/sync
"""

# liblxc has set the UTS name from lxc.uts.name; mirror it where tools look for it. The files land
# in the container's own overlay upper dir, never in this shared image. An /etc/hosts with dlxc's
# blocks is the kubelet's bind-mounted file (kubelet.names): left alone, or the names would go.
_RCS = """\
#!/bin/sh
host=$(hostname)
echo "$host" > /etc/hostname
grep -q '^# BEGIN dlxc' /etc/hosts 2>/dev/null || printf '127.0.0.1\\tlocalhost\\n127.0.1.1\\t%s\\n' "$host" > /etc/hosts
ip link set lo up 2>/dev/null
exit 0
"""

_FILES: dict[str, tuple[str, int]] = {
    "etc/passwd": ("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n", 0o644),
    "etc/group": ("root:x:0:\nnogroup:x:65534:\n", 0o644),
    "etc/shadow": ("root:*:19000:0:99999:7:::\nnobody:*:19000:0:99999:7:::\n", 0o600),
    "etc/inittab": (_INITTAB, 0o644),
    "etc/init.d/rcS": (_RCS, 0o755),
    "etc/fstab": ("", 0o644),
    "etc/hostname": ("localhost\n", 0o644),
    "etc/hosts": ("127.0.0.1\tlocalhost\n", 0o644),
    "etc/resolv.conf": ("", 0o644),
    "etc/profile": ("export PATH=/bin:/sbin:/usr/bin:/usr/sbin\nexport HOME=/root\n", 0o644),
}
_DIRS = {
    "bin": 0o755, "sbin": 0o755, "usr": 0o755, "usr/bin": 0o755, "usr/sbin": 0o755,
    "etc": 0o755, "etc/init.d": 0o755, "dev": 0o755, "proc": 0o555, "sys": 0o555,
    "root": 0o700, "home": 0o755, "mnt": 0o755, "run": 0o755, "var": 0o755,
    "var/log": 0o755, "var/tmp": 0o1777, "tmp": 0o1777,
}


def _is_static_elf(path: Path) -> bool:
    # A dynamically linked busybox would need the host's libc inside the container; look for PT_INTERP.
    with open(path, "rb") as handle:
        header = handle.read(64)
        if header[:4] != b"\x7fELF" or header[4] != 2:
            return False
        order = "<" if header[5] == 1 else ">"
        phoff, = struct.unpack_from(order + "Q", header, 32)
        phentsize, phnum = struct.unpack_from(order + "HH", header, 54)
        handle.seek(phoff)
        table = handle.read(phentsize * phnum)
    return all(struct.unpack_from(order + "I", table, i * phentsize)[0] != 3 for i in range(phnum))


def _build_busybox(rootfs: Path, *, busybox: Path) -> None:
    if not busybox.is_file():
        raise ImageError(f"{busybox} is missing; install busybox-static (apt-get install busybox-static)")
    if not _is_static_elf(busybox):
        raise ImageError(f"{busybox} is not a static binary; install busybox-static (apt-get install busybox-static)")
    for rel, mode in _DIRS.items():
        path = rootfs / rel
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(mode)
    shutil.copy2(busybox, rootfs / "bin/busybox")
    (rootfs / "bin/busybox").chmod(0o755)
    listing = subprocess.run([str(busybox), "--list-full"], capture_output=True, text=True, check=True).stdout
    for rel in listing.split():
        # linuxrc is for initramfs boots; everything else becomes a symlink to the one binary.
        if rel in ("bin/busybox", "linuxrc") or rel.startswith("/") or ".." in rel.split("/"):
            continue
        link = rootfs / rel
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.exists() and not link.is_symlink():
            link.symlink_to("/bin/busybox")
    for rel, (text, mode) in _FILES.items():
        path = rootfs / rel
        path.write_text(text)
        path.chmod(mode)
    (rootfs / "etc/mtab").symlink_to("/proc/self/mounts")


def _chown_tree(root: Path, idmap: IdMap) -> None:
    # Shift every owner into the map so container root owns its files; lchown leaves symlink targets alone.
    # chown clears set-id bits, so modes are put back afterwards.
    seen: set[tuple[int, int]] = set()

    def shift(entry: str) -> None:
        info = os.lstat(entry)
        if info.st_nlink > 1 and not stat.S_ISDIR(info.st_mode):
            # A hard link shares its inode (and owner) with a name already shifted.
            if (info.st_dev, info.st_ino) in seen:
                return
            seen.add((info.st_dev, info.st_ino))
        os.lchown(entry, idmap.host_uid(info.st_uid), idmap.host_gid(info.st_gid))
        if not stat.S_ISLNK(info.st_mode):
            os.chmod(entry, stat.S_IMODE(info.st_mode))

    shift(str(root))
    for directory, dirnames, filenames in os.walk(root):
        for entry in dirnames + filenames:
            shift(os.path.join(directory, entry))


_UBUNTU_CODENAMES = {"18.04": "bionic", "20.04": "focal", "22.04": "jammy", "24.04": "noble"}
_DEBIAN_NUMBERS = {"11": "bullseye", "12": "bookworm", "13": "trixie"}
_DEBIAN_MIRROR = "http://deb.debian.org/debian"
_WORD = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}\Z")
_ARCHES = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "armhf", "i686": "i386", "ppc64le": "ppc64el", "s390x": "s390x"}
_DOWNLOAD_TEMPLATE = Path("/usr/share/lxc/templates/lxc-download")


@dataclass(frozen=True)
class ImageRef:
    """A parsed image reference: what to build and under which name it is cached."""

    kind: str  # busybox, file, download, debian
    slug: str  # the cache directory's name stem
    path: Path | None = None  # file: the tarball
    dist: str = ""
    release: str = ""
    arch: str = ""

    @property
    def init(self) -> str:
        """The image's init: busybox's halts on SIGUSR1, systemd's on SIGRTMIN+3."""
        return "busybox" if self.kind == "busybox" else "systemd"


def host_arch() -> str:
    machine = platform.machine()
    return _ARCHES.get(machine, machine)


def resolve(ref: str) -> ImageRef:
    """Parse an image reference; UnknownImage names the supported forms."""
    if ref in _ALIASES:
        return ImageRef("busybox", "busybox")
    if ref.startswith("file://"):
        path = Path(ref[len("file://"):])
        if not path.is_absolute() or ".." in path.parts or not path.name.endswith((".tar.gz", ".tgz", ".tar.xz", ".tar")):
            raise UnknownImage(f"image {ref!r}: expected file:///ABSOLUTE/PATH/rootfs.tar.gz (or .tgz, .tar.xz, .tar)")
        digest = hashlib.sha256(str(path).encode()).hexdigest()[:12]
        return ImageRef("file", f"file-{digest}", path=path)
    if ref.startswith("download:"):
        parts = ref[len("download:"):].split("/")
        if len(parts) != 3 or not all(_WORD.match(p) for p in parts):
            raise UnknownImage(f"image {ref!r}: expected download:DIST/RELEASE/ARCH, e.g. download:ubuntu/focal/amd64")
        dist, release, arch = parts
        return ImageRef("download", f"download-{dist}-{release}-{arch}", dist=dist, release=release, arch=arch)
    name, sep, tag = ref.partition(":")
    if name == "ubuntu" and sep:
        release = _UBUNTU_CODENAMES.get(tag, tag)
        if not _WORD.match(release):
            raise UnknownImage(f"image {ref!r}: unknown Ubuntu release {tag!r}")
        return resolve(f"download:ubuntu/{release}/{host_arch()}")
    if name == "debian" and sep:
        release = _DEBIAN_NUMBERS.get(tag, tag)
        if not _WORD.match(release):
            raise UnknownImage(f"image {ref!r}: unknown Debian release {tag!r}")
        return ImageRef("debian", f"debian-{release}", release=release, arch=host_arch())
    raise UnknownImage(
        f"image {ref!r} is not available on this node; supported images: {', '.join(SUPPORTED_IMAGES)}"
    )


def _run(command: list[str], *, what: str, timeout: float, env: dict[str, str] | None = None) -> None:
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
                                check=False, env=env)
    except FileNotFoundError as exc:
        raise ImageError(f"{what}: {command[0]} is not installed") from exc
    except subprocess.TimeoutExpired as exc:
        raise ImageError(f"{what}: {command[0]} did not finish in {timeout:g}s") from exc
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-5:])
        raise ImageError(f"{what}: {command[0]} failed (exit {result.returncode}): {tail}")


def _build_file(rootfs: Path, image: ImageRef, **_: object) -> None:
    assert image.path is not None
    if not image.path.is_file():
        raise ImageError(f"image file://{image.path}: no such file on this node")
    # Numeric owners as stored, so the id shift afterwards maps the tarball's root to container root.
    _run(["tar", "--extract", "--file", str(image.path), "--directory", str(rootfs), "--numeric-owner",
          "--preserve-permissions", "--xattrs", "--xattrs-include=*"], what=f"image file://{image.path}", timeout=600)


def _build_download(rootfs: Path, image: ImageRef, *, cache: Path, **_: object) -> None:
    # The lxc download template fetches a prebuilt rootfs from images.linuxcontainers.org.
    what = f"image download:{image.dist}/{image.release}/{image.arch}"
    if not _DOWNLOAD_TEMPLATE.is_file():
        raise ImageError(f"{what}: {_DOWNLOAD_TEMPLATE} is missing; install the lxc package")
    work = Path(tempfile.mkdtemp(prefix=".download-", dir=rootfs.parent))
    try:
        _run([str(_DOWNLOAD_TEMPLATE), "--path", str(work), "--name", "image", "--rootfs", str(rootfs),
              "--dist", image.dist, "--release", image.release, "--arch", image.arch],
             what=f"{what} (the download template needs internet access to images.linuxcontainers.org)",
             timeout=900, env={**os.environ, "LXC_CACHE_PATH": str(cache / ".download-cache")})
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _build_debian(rootfs: Path, image: ImageRef, *, mirror: str = _DEBIAN_MIRROR, **_: object) -> None:
    # minbase plus an init: the smallest Debian that boots as a system container.
    _run(["debootstrap", "--variant=minbase", "--include=systemd-sysv", f"--arch={image.arch}", image.release,
          str(rootfs), mirror], what=f"image debian:{image.release} (debootstrap from {mirror})", timeout=1800)
    (rootfs / "etc/hostname").write_text("localhost\n")


_BUILDERS: dict[str, Callable[..., None]] = {
    "busybox": lambda rootfs, image, busybox, **_: _build_busybox(rootfs, busybox=busybox),
    "file": _build_file,
    "download": _build_download,
    "debian": _build_debian,
}


class ImageCache:
    """Prepared root filesystems under `root`, one directory per (image, id map), each with a JSON sidecar."""

    def __init__(self, root: Path, *, busybox: Path = _DEFAULT_BUSYBOX, debian_mirror: str = _DEBIAN_MIRROR) -> None:
        self.root = Path(root)
        self._busybox = Path(busybox)
        self._mirror = debian_mirror
        self._touched: dict[Path, float] = {}
        self._written: dict[Path, float] = {}  # when the sidecar's mtime was last set

    def path_for(self, ref: str, *, idmap: IdMap | None) -> Path:
        """Where the rootfs of `ref` for `idmap` lives (whether or not it is built yet)."""
        return self.root / f"{resolve(ref).slug}.{_map_suffix(idmap)}"

    def is_cached(self, ref: str, *, idmap: IdMap | None) -> bool:
        return self.path_for(ref, idmap=idmap).is_dir()

    def ensure(self, ref: str, *, idmap: IdMap | None) -> Path:
        """The rootfs directory of `ref`, built on first use; safe to call from many threads and processes."""
        image = resolve(ref)
        final = self.path_for(ref, idmap=idmap)
        self._ensure_root(idmap)
        # Under the image's lock even when it is cached: garbage collection takes the same lock and
        # re-checks the last use, so it never removes an image in the instant it is handed out.
        with open(self.root / f".{final.name}.lock", "w") as lock:
            # flock conflicts between separate open()s even in one process, so threads wait here too.
            fcntl.flock(lock, fcntl.LOCK_EX)
            if final.is_dir():
                self._touch(final, ref)
                return final
            for stale in self.root.glob(f".{final.name}.tmp-*"):
                # Left by a build that died; we hold the lock, so no one else is writing it.
                shutil.rmtree(stale, ignore_errors=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=self.root))
            try:
                tmp.chmod(0o755)
                _BUILDERS[image.kind](tmp, image, busybox=self._busybox, cache=self.root, mirror=self._mirror)
                if idmap is not None:
                    _chown_tree(tmp, idmap)
                tmp.chmod(0o755)
                os.rename(tmp, final)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            self._write_meta(final, ref, size=_du(final))
        return final

    def _meta_path(self, final: Path) -> Path:
        return final.with_name(final.name + ".json")

    def _write_meta(self, final: Path, ref: str, *, size: int) -> None:
        meta = {"ref": ref, "size": size, "builtAt": time.time()}
        tmp = self._meta_path(final).with_suffix(".tmp")
        tmp.write_text(json.dumps(meta))
        os.replace(tmp, self._meta_path(final))

    def _touch(self, final: Path, ref: str) -> None:
        # Last use: in memory at every use; on disk (the sidecar's mtime, which outlives the
        # kubelet) at most once a minute per image.
        now = time.time()
        last_written = self._written.get(final, 0)
        self._touched[final] = now
        if now - last_written < 60:
            return
        self._written[final] = now
        meta = self._meta_path(final)
        if not meta.exists():
            self._write_meta(final, ref, size=_du(final))
        os.utime(meta)

    def list(self) -> list[dict[str, object]]:
        """The cached images: ref, id map, size and when last used."""
        found = []
        if not self.root.is_dir():
            return found
        for meta in sorted(self.root.glob("*.json")):
            final = meta.with_name(meta.name[: -len(".json")])
            if not final.is_dir():
                continue
            try:
                data = json.loads(meta.read_text())
            except (OSError, ValueError):
                continue
            found.append({"name": data.get("ref", final.name), "idMap": final.name.rsplit(".", 1)[-1],
                          "size": int(data.get("size", 0)), "lastUsed": max(meta.stat().st_mtime, self._touched.get(final, 0)),
                          "path": str(final)})
        return found

    def collect_garbage(self, in_use: set[Path], *, unused_for: float) -> list[str]:
        """Remove images no container uses and none has asked for in `unused_for` seconds; their refs."""
        removed = []
        cutoff = time.time() - unused_for
        for image in self.list():
            path = Path(str(image["path"]))
            if path in in_use or float(image["lastUsed"]) > cutoff:  # type: ignore[arg-type]
                continue
            with open(self.root / f".{path.name}.lock", "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                if self._touched.get(path, 0) > cutoff:
                    continue  # handed out since the list was read
                shutil.rmtree(path, ignore_errors=True)
                self._meta_path(path).unlink(missing_ok=True)
            self._touched.pop(path, None)
            self._written.pop(path, None)
            removed.append(str(image["name"]))
        return removed

    def remove(self, ref: str, *, idmap: IdMap | None) -> None:
        """Drop a cached image; containers still using it as lower dir must be gone first."""
        final = self.path_for(ref, idmap=idmap)
        shutil.rmtree(final, ignore_errors=True)
        self._meta_path(final).unlink(missing_ok=True)

    def _ensure_root(self, idmap: IdMap | None) -> None:
        if not self.root.exists():
            self.root.mkdir(parents=True, exist_ok=True)
            # o+x only: container root must reach its image (the overlay lower dir), not list the cache.
            self.root.chmod(0o711)
        if idmap is not None:
            blocked = unreachable_dirs(self.root)
            if blocked:
                raise ImageError(
                    f"the image cache {self.root} is not reachable by unprivileged container root: "
                    f"{', '.join(map(str, blocked))} lack o+x (chmod o+x them or move the cache)"
                )


def _map_suffix(idmap: IdMap | None) -> str:
    return "privileged" if idmap is None else f"u{idmap.host_uid_start}-g{idmap.host_gid_start}-n{idmap.count}"


def _du(path: Path) -> int:
    total = 0
    for directory, dirnames, filenames in os.walk(path):
        for entry in dirnames + filenames:
            try:
                total += os.lstat(os.path.join(directory, entry)).st_blocks * 512
            except OSError:
                continue
    return total
