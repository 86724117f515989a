"""Names on the cluster network: an /etc/hosts for each container, listing every Running container.

Why /etc/hosts and not a DNS responder: busybox (static) and every libc read /etc/hosts on each
lookup with no cache and no resolver configuration, so a name appears or disappears the moment
the file changes; a DNS server would be one more process per host to keep alive and to reach.

The kubelet is the one owner of the file: it lives outside the rootfs (LXCPATH/.hosts/NAME) and is
bind-mounted read-write at /etc/hosts. It holds two managed blocks, the names of every Running
container (`# BEGIN dlxc names`) and, for a ContainerCluster's member, the cluster's aliases
(`# BEGIN dlxc cluster`: `frontend`, `nodeK`, with the cluster's domain); every other line is the
container's own and is kept on each rewrite, so a user may edit /etc/hosts inside (in place: a
bind-mounted file cannot be renamed over, as with Docker's). The file is rewritten in place (a
bind mount holds the inode, so a rename would never be seen inside), padded with a comment line
so it never shrinks, which keeps a reader from ever meeting an empty file.
"""
from __future__ import annotations

import ipaddress
import os
import threading
from collections.abc import Iterable
from pathlib import Path

from schemas.base import Obj
from schemas.wire import HOSTS_ANNOTATION

__all__ = ["CLUSTER_BEGIN", "CLUSTER_END", "DOMAIN", "HostsFiles", "NAMES_BEGIN", "NAMES_END", "cluster_lines", "hosts_content", "merge_blocks"]

DOMAIN = "dlxc"
_HEADER = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
NAMES_BEGIN = "# BEGIN dlxc names (managed: edits inside this block are replaced)"
NAMES_END = "# END dlxc names"
CLUSTER_BEGIN = "# BEGIN dlxc cluster (managed: edits inside this block are replaced)"
CLUSTER_END = "# END dlxc cluster"
_BLOCKS = (("# BEGIN dlxc names", NAMES_END), ("# BEGIN dlxc cluster", CLUSTER_END))


def hosts_content(containers: Iterable[Obj]) -> str:
    """The names block's lines: `ADDR NAME NAME.dlxc` for each Running container on the cluster network."""
    lines = []
    for obj in containers:
        spec, status, meta = obj.get("spec") or {}, obj.get("status") or {}, obj["metadata"]
        network = spec.get("network") or {}
        ipv4 = network.get("ipv4")
        if network.get("type", "cluster") != "cluster" or not ipv4 or meta.get("deletionTimestamp"):
            continue
        if status.get("phase") != "Running":
            continue
        name = meta["name"]
        lines.append((name, f"{ipaddress.IPv4Interface(ipv4).ip}\t{name} {name}.{DOMAIN}\n"))
    return "".join(line for _, line in sorted(lines))


def cluster_lines(obj: Obj) -> list[str] | None:
    """A cluster member's alias lines, from the annotation its cluster's controller writes (None: not a member)."""
    value = (obj["metadata"].get("annotations") or {}).get(HOSTS_ANNOTATION)
    return None if value is None else [line for line in value.split(";") if line.strip()]


def _is_padding(line: str) -> bool:
    return line.startswith("#") and not line[1:].strip()


def merge_blocks(existing: str, names: str, cluster: list[str]) -> str:
    """`existing` (the container's own lines; the localhost lines if it has none) with dlxc's blocks
    replaced: the names block, then the cluster block when `cluster` has lines. Idempotent."""
    kept: list[str] = []
    inside: str | None = None
    for line in existing.splitlines():
        if inside is None:
            end = next((e for b, e in _BLOCKS if line.startswith(b)), None)
            if end is not None:
                inside = end
            elif not _is_padding(line):
                kept.append(line)
        elif line == inside:
            inside = None
    while kept and not kept[-1].strip():
        kept.pop()
    own = "\n".join(kept) + "\n" if kept else _HEADER
    out = own + NAMES_BEGIN + "\n" + names + NAMES_END + "\n"
    if cluster:
        out += CLUSTER_BEGIN + "\n" + "".join(line + "\n" for line in cluster) + CLUSTER_END + "\n"
    return out


class HostsFiles:
    """The hosts files of this node's containers, under DIR/NAME: the one writer of them.

    Two inputs, each may come first: the names of the cluster (`update`, from the cluster network's
    loop) and a member's cluster lines (`set_cluster`, from its reconcile); a lock keeps their
    read-merge-write passes apart."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.names = ""
        self.cluster: dict[str, list[str]] = {}
        self.lock = threading.Lock()

    def path(self, name: str) -> Path:
        return self.directory / name

    def ensure(self, name: str, *, owner: tuple[int, int] | None = None) -> Path:
        """The container's file, made now with the current content if missing (it must exist before start),
        owned by `owner` (uid, gid: the container's root as the host sees it), so its root can edit it."""
        path = self.path(name)
        with self.lock:
            if not path.exists():
                self.directory.mkdir(parents=True, exist_ok=True)
                self._write(path, self.cluster.get(name, []))
            if owner is not None:
                info = path.stat()
                if (info.st_uid, info.st_gid) != owner:
                    try:
                        os.chown(path, *owner)
                    except PermissionError:
                        pass  # a kubelet that is not root: the container's root can read the file, not edit it
        return path

    def update(self, names: str, local: Iterable[str], cluster: dict[str, list[str]] | None = None) -> None:
        """The names block `names` into the files of `local` (this node's containers); files of others go.
        `cluster` (members' lines as this loop's cache has them) only fills in lines not set yet (after
        a restart of the kubelet): `set_cluster`, called from the member's own reconcile, is newer."""
        keep = set(local)
        with self.lock:
            self.names = names
            self.cluster = {k: v for k, v in self.cluster.items() if k in keep}
            for name, lines in (cluster or {}).items():
                if name in keep:
                    self.cluster.setdefault(name, lines)
            if not self.directory.is_dir():
                return
            for path in self.directory.iterdir():
                if path.name not in keep:
                    path.unlink(missing_ok=True)
                else:
                    self._write(path, self.cluster.get(path.name, []))

    def set_cluster(self, name: str, lines: list[str]) -> bool:
        """A member's cluster block; written now (also when unchanged: a boot script may have cut the
        file). True when the file changed; False also when the container has no file here."""
        path = self.path(name)
        with self.lock:
            self.cluster[name] = list(lines)
            return path.exists() and self._write(path, self.cluster[name])

    def remove(self, name: str) -> None:
        with self.lock:
            self.cluster.pop(name, None)
            self.path(name).unlink(missing_ok=True)

    def _write(self, path: Path, cluster: list[str]) -> bool:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            old = os.fstat(fd).st_size
            existing = os.pread(fd, old + 1, 0) if old else b""
            data = merge_blocks(existing.decode(errors="replace"), self.names, cluster).encode()
            if existing.rstrip(b" \n#") == data.rstrip(b" \n#"):
                return False
            if len(data) < old:
                # A comment line of padding: the file keeps its length, and no reader sees it cut short.
                data = data + b"#" + b" " * (old - len(data) - 2) + b"\n" if old - len(data) >= 2 else data + b"\n" * (old - len(data))
            os.pwrite(fd, data, 0)
            return True
        finally:
            os.close(fd)
