"""Names on the cluster network: an /etc/hosts for each container, listing every Running container.

Why /etc/hosts and not a DNS responder: busybox (static) and every libc read /etc/hosts on each
lookup with no cache and no resolver configuration, so a name appears or disappears the moment
the file changes; a DNS server would be one more process per host to keep alive and to reach.
The file lives outside the rootfs and is bind-mounted read-only at /etc/hosts; it is rewritten in
place (a bind mount holds the inode, so a rename would never be seen inside), padded so it never
shrinks, which keeps a reader from ever meeting an empty file.
"""
from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterable
from pathlib import Path

from schemas.base import Obj

__all__ = ["DOMAIN", "HostsFiles", "hosts_content"]

DOMAIN = "dlxc"
_HEADER = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"


def hosts_content(containers: Iterable[Obj]) -> str:
    """/etc/hosts for any container: `ADDR NAME NAME.dlxc` for each Running container on the cluster network."""
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
    return _HEADER + "".join(line for _, line in sorted(lines))


class HostsFiles:
    """The hosts files of this node's containers, under DIR/NAME."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.content = _HEADER

    def path(self, name: str) -> Path:
        return self.directory / name

    def ensure(self, name: str) -> Path:
        """The container's file, made now with the current content if missing (it must exist before start)."""
        path = self.path(name)
        if not path.exists():
            self.directory.mkdir(parents=True, exist_ok=True)
            self._write(path, self.content)
        return path

    def update(self, content: str, names: Iterable[str]) -> None:
        """Write `content` into the files of `names` (this node's containers) and drop files of others."""
        self.content = content
        keep = set(names)
        if not self.directory.is_dir():
            return
        for path in self.directory.iterdir():
            if path.name not in keep:
                path.unlink(missing_ok=True)
            else:
                self._write(path, content)

    def remove(self, name: str) -> None:
        self.path(name).unlink(missing_ok=True)

    @staticmethod
    def _write(path: Path, content: str) -> None:
        data = content.encode()
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            old = os.fstat(fd).st_size
            if old and os.pread(fd, old + 1, 0).rstrip(b" \n#") == data.rstrip(b" \n#"):
                return
            if len(data) < old:
                # A comment line of padding: the file keeps its length, and no reader sees it cut short.
                data = data + b"#" + b" " * (old - len(data) - 2) + b"\n" if old - len(data) >= 2 else data + b"\n" * (old - len(data))
            os.pwrite(fd, data, 0)
        finally:
            os.close(fd)
