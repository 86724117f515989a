"""The node's image cache: each image's root filesystem built once, owned by the id map, shared read-only as overlay lower dir."""
from __future__ import annotations

import fcntl
import os
import shutil
import stat
import struct
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from kubelet.idmap import IdMap, unreachable_dirs

__all__ = ["SUPPORTED_IMAGES", "ImageCache", "ImageError", "UnknownImage"]

SUPPORTED_IMAGES = ("busybox",)
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
# in the container's own overlay upper dir, never in this shared image.
_RCS = """\
#!/bin/sh
host=$(hostname)
echo "$host" > /etc/hostname
printf '127.0.0.1\\tlocalhost\\n127.0.1.1\\t%s\\n' "$host" > /etc/hosts
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
    def shift(entry: str) -> None:
        info = os.lstat(entry)
        os.lchown(entry, idmap.host_uid(info.st_uid), idmap.host_gid(info.st_gid))
        if not stat.S_ISLNK(info.st_mode):
            os.chmod(entry, stat.S_IMODE(info.st_mode))

    shift(str(root))
    for directory, dirnames, filenames in os.walk(root):
        for entry in dirnames + filenames:
            shift(os.path.join(directory, entry))


_BUILDERS: dict[str, Callable[..., None]] = {"busybox": _build_busybox}


def _resolve(ref: str) -> str:
    image = _ALIASES.get(ref)
    if image is None:
        raise UnknownImage(
            f"image {ref!r} is not available on this node; supported images: {', '.join(SUPPORTED_IMAGES)}"
        )
    return image


class ImageCache:
    """Prepared root filesystems under `root`, one directory per (image, id map)."""

    def __init__(self, root: Path, *, busybox: Path = _DEFAULT_BUSYBOX) -> None:
        self.root = Path(root)
        self._busybox = Path(busybox)

    def path_for(self, ref: str, *, idmap: IdMap | None) -> Path:
        """Where the rootfs of `ref` for `idmap` lives (whether or not it is built yet)."""
        image = _resolve(ref)
        suffix = "privileged" if idmap is None else f"u{idmap.host_uid_start}-g{idmap.host_gid_start}-n{idmap.count}"
        return self.root / f"{image}.{suffix}"

    def ensure(self, ref: str, *, idmap: IdMap | None) -> Path:
        """The rootfs directory of `ref`, built on first use; safe to call from many threads and processes."""
        final = self.path_for(ref, idmap=idmap)
        if final.is_dir():
            return final
        self._ensure_root(idmap)
        with open(self.root / f".{final.name}.lock", "w") as lock:
            # flock conflicts between separate open()s even in one process, so threads wait here too.
            fcntl.flock(lock, fcntl.LOCK_EX)
            if final.is_dir():
                return final
            for stale in self.root.glob(f".{final.name}.tmp-*"):
                # Left by a build that died; we hold the lock, so no one else is writing it.
                shutil.rmtree(stale, ignore_errors=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=self.root))
            try:
                tmp.chmod(0o755)
                _BUILDERS[_resolve(ref)](tmp, busybox=self._busybox)
                if idmap is not None:
                    _chown_tree(tmp, idmap)
                os.rename(tmp, final)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
        return final

    def remove(self, ref: str, *, idmap: IdMap | None) -> None:
        """Drop a cached image; containers still using it as lower dir must be gone first."""
        shutil.rmtree(self.path_for(ref, idmap=idmap), ignore_errors=True)

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
