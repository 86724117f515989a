"""A container's archive: one zstd-compressed tar of its rootfs, its spec and an index, written and read as streams.

Layout (PAX tar, in this order): `dlxc/container.json` (the container's metadata and spec),
`rootfs/...` (the merged rootfs: ownership as seen *inside* the container, so an archive made
on one node's id map restores onto another's; xattrs as `SCHILY.xattr.*` records), then
`dlxc/index.json` last: format, counts and sizes. A stream without the index at its end is a
truncated one. The compressed bytes carry zstd's own frame checksum, and the whole file's
sha256 is recorded in the Backup, so corruption is caught before anything is renamed into place.

Python's tarfile is used rather than GNU tar: it keeps uid/gid numerically, lets ids be shifted
per entry on the way in and out, and writes straight into a multi-threaded zstd stream with no
staging copy.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import zstandard

__all__ = [
    "ArchiveError",
    "CAPABILITY_XATTR",
    "FORMAT",
    "IdShift",
    "Unpacked",
    "Written",
    "caps_host",
    "caps_inside",
    "merged_tree",
    "read_archive",
    "read_header",
    "verify_archive",
    "write_archive",
]

FORMAT = 1
SPEC_MEMBER = "dlxc/container.json"
INDEX_MEMBER = "dlxc/index.json"
ROOT = "rootfs"
_COPY_BUFFER = 1 << 20
_XATTR = "SCHILY.xattr."
# overlayfs' own bookkeeping (opaque dirs, redirects, origins) describes the layers, not the files.
_OVERLAY_XATTRS = ("trusted.overlay.", "user.overlay.")
_NOBODY = 65534


class ArchiveError(Exception):
    """The archive is not one dlxc can restore: truncated, corrupt, or of another format."""


@dataclass(frozen=True)
class IdShift:
    """How ids on this host's disk map to ids inside the container: host = inside + start (0: privileged)."""

    uid_start: int = 0
    gid_start: int = 0
    count: int = 65536

    @staticmethod
    def _inside(host_id: int, start: int, count: int) -> int:
        if start == 0:
            return host_id
        inside = host_id - start
        return inside if 0 <= inside < count else _NOBODY

    @staticmethod
    def _host(inside_id: int, start: int, count: int) -> int:
        if start == 0:
            return inside_id
        if not 0 <= inside_id < count:
            raise ArchiveError(f"id {inside_id} in the archive is outside this node's map of {count} ids")
        return inside_id + start

    def inside(self, uid: int, gid: int) -> tuple[int, int]:
        return self._inside(uid, self.uid_start, self.count), self._inside(gid, self.gid_start, self.count)

    def host(self, uid: int, gid: int) -> tuple[int, int]:
        return self._host(uid, self.uid_start, self.count), self._host(gid, self.gid_start, self.count)


@dataclass
class Written:
    size: int = 0
    checksum: str = ""
    files: int = 0
    data_bytes: int = 0


@dataclass
class Unpacked:
    spec: dict[str, Any] = field(default_factory=dict)
    index: dict[str, Any] = field(default_factory=dict)
    checksum: str = ""


# ---------------------------------------------------------------- the overlay's merged view


def _opaque(path: Path) -> bool:
    for name in ("trusted.overlay.opaque", "user.overlay.opaque"):
        try:
            if os.getxattr(path, name, follow_symlinks=False) == b"y":
                return True
        except OSError:
            pass
    return False


def _whiteout(entry: os.DirEntry[str]) -> bool:
    try:
        st = entry.stat(follow_symlinks=False)
    except OSError:
        return False
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _overlay_xattr(path: str | Path, key: str) -> bytes | None:
    for name in (f"trusted.overlay.{key}", f"user.overlay.{key}"):
        try:
            return os.getxattr(path, name, follow_symlinks=False)
        except OSError:
            pass
    return None


def merged_tree(layers: list[Path]) -> Iterator[tuple[str, Path]]:
    """(path relative to the root, host path of the entry that shows) of every entry an overlay of
    `layers` (upper first) shows, parents before children: what the container sees, read from the
    host without mounting anything. Whiteouts hide lower entries; an opaque directory hides the
    lower directories of the same path; a renamed directory (redirect_dir=on: the
    `overlay.redirect` xattr) shows the lower directory it names. A metacopy file (metacopy=on:
    only its metadata is in the upper layer) is refused with ArchiveError: its data would be read
    from the wrong place."""
    yield "", layers[0]
    yield from _merged_dir("", [(layer, depth) for depth, layer in enumerate(layers)], layers)


def _merged_dir(rel: str, layers: list[tuple[Path, int]], roots: list[Path]) -> Iterator[tuple[str, Path]]:
    shown: dict[str, tuple[int, os.DirEntry[str] | None]] = {}
    for position, (layer, _depth) in enumerate(layers):
        try:
            entries = list(os.scandir(layer))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for entry in entries:
            if entry.name not in shown:
                shown[entry.name] = (position, None if _whiteout(entry) else entry)
        if _opaque(layer):
            break
    for name in sorted(shown):
        position, entry = shown[name]
        if entry is None:
            continue
        child_rel = f"{rel}/{name}" if rel else name
        upper_of_some = layers[position][1] < len(roots) - 1  # only a layer with one below holds metacopy files
        if upper_of_some and entry.is_file(follow_symlinks=False) and _overlay_xattr(entry.path, "metacopy") is not None:
            raise ArchiveError(f"{entry.path} is an overlay metacopy file (its data is in a lower layer): the rootfs was "
                               "mounted with metacopy=on, which dlxc archives do not read; mount without it")
        yield child_rel, Path(entry.path)
        if entry.is_dir(follow_symlinks=False):
            depth = layers[position][1]
            below = [(Path(entry.path), depth)]
            if not _opaque(Path(entry.path)):
                redirect = (_overlay_xattr(entry.path, "redirect") or b"").decode("utf-8", "surrogateescape")
                if redirect.startswith("/"):  # renamed across directories: from each lower layer's root
                    lowers = [(roots[d] / redirect.lstrip("/"), d) for d in range(depth + 1, len(roots))]
                else:  # same directory: the old name (or, not renamed, this one) in the lower parents
                    lowers = [(parent / (redirect or name), d) for parent, d in layers[position + 1:]]
                for candidate, d in lowers:
                    if not candidate.is_dir() or candidate.is_symlink():
                        break
                    below.append((candidate, d))
                    if _opaque(candidate):
                        break
            yield from _merged_dir(child_rel, below, roots)


# ---------------------------------------------------------------- writing


class _HashingWriter:
    """A file object that hashes and counts what passes through to `out`, in a thread of its own:
    sha256 and the file write (both release the GIL) overlap with reading files and compressing."""

    def __init__(self, out: IO[bytes]) -> None:
        import queue
        import threading

        self.out = out
        self.sha = hashlib.sha256()
        self.size = 0
        self.queue: queue.Queue[bytes | None] = queue.Queue(maxsize=64)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._drain, name="archive-writer", daemon=True)
        self.thread.start()

    def _drain(self) -> None:
        while (data := self.queue.get()) is not None:
            if self.error is not None:
                continue
            try:
                self.sha.update(data)
                self.out.write(data)
            except BaseException as exc:  # handed to the caller at the next write or at close
                self.error = exc

    def write(self, data: bytes) -> int:
        if self.error is not None:
            raise self.error
        chunk = bytes(data)
        self.size += len(chunk)
        self.queue.put(chunk)
        return len(chunk)

    def flush(self) -> None:
        pass  # close() waits for every byte

    def close(self) -> None:
        self.queue.put(None)
        self.thread.join()
        if self.error is not None:
            raise self.error
        self.out.flush()


# File capabilities (VFS_CAP_REVISION_*): v2 applies in whatever user namespace reads it; v3, which
# the kernel writes for a setcap inside an unprivileged container, adds the host uid of the root it
# belongs to. Archives keep them in the container's view (v2 for its own root, v3 with an inside
# uid otherwise) and restores write them for the new node's map, so `ping`'s cap_net_raw works
# after a restore onto another id map instead of being silently ignored by the kernel.
CAPABILITY_XATTR = "security.capability"
_CAP_REVISION, _CAP_V2, _CAP_V3 = 0xFF000000, 0x02000000, 0x03000000


def caps_inside(value: bytes, shift: IdShift, *, where: str) -> bytes:
    """A security.capability value as read on the host, in the container's view (see above)."""
    magic = int.from_bytes(value[:4], "little") if len(value) >= 4 else 0
    if magic & _CAP_REVISION != _CAP_V3:
        return value
    if len(value) != 24:
        raise ArchiveError(f"{where}: a v3 file capability of {len(value)} bytes, not 24")
    rootid = int.from_bytes(value[20:24], "little")
    inside = IdShift._inside(rootid, shift.uid_start, shift.count)  # noqa: SLF001
    if shift.uid_start and inside == _NOBODY:
        raise ArchiveError(f"{where}: its file capability belongs to host uid {rootid}, outside the container's id map")
    if inside == 0:
        return ((magic & ~_CAP_REVISION) | _CAP_V2).to_bytes(4, "little") + value[4:20]
    return value[:20] + inside.to_bytes(4, "little")


def caps_host(value: bytes, shift: IdShift) -> bytes:
    """A security.capability value from an archive, to write on this host for the container's id map."""
    magic = int.from_bytes(value[:4], "little") if len(value) >= 4 else 0
    revision = magic & _CAP_REVISION
    if revision == _CAP_V2 and len(value) == 20 and shift.uid_start:
        return ((magic & ~_CAP_REVISION) | _CAP_V3).to_bytes(4, "little") + value[4:20] + shift.uid_start.to_bytes(4, "little")
    if revision == _CAP_V3 and len(value) == 24:
        rootid = IdShift._host(int.from_bytes(value[20:24], "little"), shift.uid_start, shift.count)  # noqa: SLF001
        return value[:20] + rootid.to_bytes(4, "little")
    return value


def _xattrs(path: Path, shift: IdShift) -> dict[str, str]:
    found: dict[str, str] = {}
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return found
    for name in names:
        if name.startswith(_OVERLAY_XATTRS):
            continue
        try:
            value = os.getxattr(path, name, follow_symlinks=False)
        except OSError:
            continue
        if name == CAPABILITY_XATTR:
            value = caps_inside(value, shift, where=str(path))
        # PAX records are text; surrogateescape carries arbitrary bytes through (tarfile marks them BINARY).
        found[_XATTR + name] = value.decode("utf-8", "surrogateescape")
    return found


def _json_member(tar: tarfile.TarFile, name: str, doc: Any, mtime: float) -> None:
    data = json.dumps(doc, indent=1, sort_keys=True).encode()
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o600, int(mtime)
    import io

    tar.addfile(info, io.BytesIO(data))


def write_archive(
    out: IO[bytes],
    entries: Iterator[tuple[str, Path]],
    *,
    spec: dict[str, Any],
    index: dict[str, Any],
    shift: IdShift,
    level: int = 3,
    threads: int = -1,
) -> Written:
    """Stream `entries` (from merged_tree) with `spec` and `index` into `out` as one zstd tar.

    threads=-1: zstd compresses on every core while this thread reads files and builds the tar."""
    import time

    now = time.time()
    written = Written()
    hashing = _HashingWriter(out)
    compressor = zstandard.ZstdCompressor(level=level, threads=threads, write_checksum=True)
    seen: dict[tuple[int, int], str] = {}
    try:
        _write_members(compressor, hashing, entries, spec=spec, index=index, shift=shift, seen=seen, written=written, now=now)
    finally:
        hashing.close()
    written.size = hashing.size
    written.checksum = "sha256:" + hashing.sha.hexdigest()
    return written


def _write_members(compressor: Any, hashing: _HashingWriter, entries: Iterator[tuple[str, Path]], *, spec: dict[str, Any],
                   index: dict[str, Any], shift: IdShift, seen: dict[tuple[int, int], str], written: Written, now: float) -> None:
    with compressor.stream_writer(hashing, closefd=False, write_size=_COPY_BUFFER) as zout:
        # "w", not the stream mode "w|": its 10 KiB re-buffering copied every byte many times over.
        with tarfile.open(fileobj=zout, mode="w", format=tarfile.PAX_FORMAT, copybufsize=_COPY_BUFFER) as tar:
            _json_member(tar, SPEC_MEMBER, spec, now)
            for rel, source in entries:
                st = os.lstat(source)
                info = tarfile.TarInfo(f"{ROOT}/{rel}" if rel else ROOT)
                info.mode = stat.S_IMODE(st.st_mode)
                info.uid, info.gid = shift.inside(st.st_uid, st.st_gid)
                info.mtime = int(st.st_mtime)
                info.pax_headers = _xattrs(source, shift)
                handle = None
                if stat.S_ISREG(st.st_mode):
                    key = (st.st_dev, st.st_ino)
                    if st.st_nlink > 1 and key in seen:
                        info.type, info.linkname = tarfile.LNKTYPE, seen[key]
                    else:
                        if st.st_nlink > 1:
                            seen[key] = info.name
                        info.size = st.st_size
                        handle = open(source, "rb")
                        written.data_bytes += st.st_size
                elif stat.S_ISDIR(st.st_mode):
                    info.type = tarfile.DIRTYPE
                elif stat.S_ISLNK(st.st_mode):
                    info.type, info.linkname = tarfile.SYMTYPE, os.readlink(source)
                elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                    info.type = tarfile.CHRTYPE if stat.S_ISCHR(st.st_mode) else tarfile.BLKTYPE
                    info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
                elif stat.S_ISFIFO(st.st_mode):
                    info.type = tarfile.FIFOTYPE
                else:
                    continue  # sockets belong to a running process, not to the data
                try:
                    tar.addfile(info, handle)
                finally:
                    if handle is not None:
                        handle.close()
                written.files += 1
            _json_member(tar, INDEX_MEMBER, {**index, "format": FORMAT, "files": written.files,
                                             "dataBytes": written.data_bytes}, now)


# ---------------------------------------------------------------- reading


class _HashingReader:
    def __init__(self, src: IO[bytes]) -> None:
        self.src = src
        self.sha = hashlib.sha256()
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        data = self.src.read(size)
        self.sha.update(data)
        self.size += len(data)
        return data


class _Decompressing:
    """The decompressed stream, made by a thread of its own that reads, hashes and decompresses the
    whole source (zstd and sha256 release the GIL) while the caller unpacks what came before."""

    def __init__(self, src: IO[bytes]) -> None:
        import queue
        import threading

        self.hashing = _HashingReader(src)
        self.queue: queue.Queue[bytes | None] = queue.Queue(maxsize=32)
        self.error: BaseException | None = None
        self.buf = b""
        self.pos = 0
        self.done = False
        self.thread = threading.Thread(target=self._produce, name="archive-reader", daemon=True)
        self.thread.start()

    def _produce(self) -> None:
        try:
            zin = zstandard.ZstdDecompressor().stream_reader(self.hashing, read_across_frames=True, closefd=False)
            while chunk := zin.read(_COPY_BUFFER):
                self.queue.put(chunk)
            while self.hashing.read(_COPY_BUFFER):  # anything after the last frame still counts for the sha256
                pass
        except BaseException as exc:  # handed to the reader at its next read
            self.error = exc
        finally:
            self.queue.put(None)

    def read(self, size: int = -1) -> bytes:
        parts = []
        want = size if size >= 0 else 1 << 62
        while want > 0:
            if self.pos >= len(self.buf):
                if self.done:
                    break
                chunk = self.queue.get()
                if chunk is None:
                    self.done = True
                    if self.error is not None:
                        raise self.error
                    break
                self.buf, self.pos = chunk, 0
            piece = self.buf[self.pos:self.pos + want]
            self.pos += len(piece)
            want -= len(piece)
            parts.append(piece)
        return b"".join(parts)

    def finish(self) -> str:
        """Read to the end (zstd checks its frame checksum there); the sha256 of every byte of the source."""
        while self.read(_COPY_BUFFER):
            pass
        self.thread.join()
        return "sha256:" + self.hashing.sha.hexdigest()

    def abandon(self) -> None:
        """Stop the producer early (an error on our side): let it run out without blocking on a full queue."""
        self.done = True
        while self.thread.is_alive():
            try:
                self.queue.get(timeout=0.1)
            except Exception:  # noqa: BLE001 - queue.Empty: the producer may be between puts
                continue


def _reader(src: IO[bytes]) -> tuple[_HashingReader, Any]:
    hashing = _HashingReader(src)
    return hashing, zstandard.ZstdDecompressor().stream_reader(hashing, read_across_frames=True, closefd=False)


def _problem(what: str, exc: BaseException) -> ArchiveError:
    detail = str(exc) or type(exc).__name__
    return ArchiveError(f"{what}: {detail} (truncated or corrupt)")


def read_header(src: IO[bytes], *, what: str = "archive") -> dict[str, Any]:
    """The container spec document at the start of an archive, without reading the rest."""
    _hashing, zin = _reader(src)
    try:
        with tarfile.open(fileobj=zin, mode="r|") as tar:
            first = tar.next()
            if first is None or first.name != SPEC_MEMBER:
                raise ArchiveError(f"{what} is not a dlxc archive: it does not start with {SPEC_MEMBER}")
            handle = tar.extractfile(first)
            assert handle is not None
            return json.loads(handle.read())  # type: ignore[no-any-return]
    except (tarfile.TarError, zstandard.ZstdError, EOFError, OSError, ValueError) as exc:
        raise _problem(f"{what} cannot be read", exc) from None


def read_archive(src: IO[bytes], dest: Path, *, shift: IdShift, checksum: str | None = None, what: str = "archive") -> Unpacked:
    """Unpack the rootfs into `dest` (which must not exist) with ids shifted onto this host; the
    whole stream is read and checked (index present, zstd checksum, sha256 if given) before
    returning. On any problem `dest` is removed again and ArchiveError says why."""
    if dest.exists():
        raise ArchiveError(f"{dest} already exists; not unpacking over it")
    dest.mkdir(mode=0o700, parents=True)
    try:
        return _unpack(src, dest, shift=shift, checksum=checksum, what=what)
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise


def _unpack(src: IO[bytes], dest: Path, *, shift: IdShift, checksum: str | None, what: str) -> Unpacked:
    result = Unpacked()
    zin = _Decompressing(src)
    directories: list[tarfile.TarInfo] = []
    root_prefix = ROOT + "/"

    def owned(member: tarfile.TarInfo, path: str) -> tarfile.TarInfo:
        # The 'tar' filter's checks (no absolute names, nothing written outside dest, also through
        # symlinks) but not its changes: a rootfs needs its setuid bits and exact modes.
        tarfile.tar_filter(member, path)
        uid, gid = shift.host(member.uid, member.gid)
        return member.replace(uid=uid, gid=gid, uname="", gname="", deep=False)

    try:
        with tarfile.open(fileobj=zin, mode="r|", copybufsize=_COPY_BUFFER) as tar:
            for member in tar:
                if member.name == SPEC_MEMBER:
                    result.spec = json.loads(tar.extractfile(member).read())  # type: ignore[union-attr]
                    continue
                if member.name == INDEX_MEMBER:
                    result.index = json.loads(tar.extractfile(member).read())  # type: ignore[union-attr]
                    continue
                if result.index:
                    raise ArchiveError(f"{what}: {member.name} comes after the index")
                if member.name != ROOT and not member.name.startswith(root_prefix):
                    raise ArchiveError(f"{what}: unexpected member {member.name!r} (not under {ROOT}/)")
                if member.islnk() and not member.linkname.startswith(root_prefix):
                    raise ArchiveError(f"{what}: hard link {member.name!r} points outside {ROOT}/")
                tar.extract(member, dest, set_attrs=not member.isdir(), numeric_owner=True, filter=owned)
                target = dest / member.name
                if member.isdir():
                    directories.append(member)
                for key, value in member.pax_headers.items():
                    if key.startswith(_XATTR):
                        raw = value.encode("utf-8", "surrogateescape")
                        if key == _XATTR + CAPABILITY_XATTR:
                            raw = caps_host(raw, shift)
                        os.setxattr(target, key[len(_XATTR):], raw, follow_symlinks=False)
            # Read to the end: zstd checks its frame checksum there, and the sha256 needs every byte.
            digest = zin.finish()
    except ArchiveError:
        zin.abandon()
        raise
    except (tarfile.TarError, zstandard.ZstdError, EOFError, ValueError) as exc:
        zin.abandon()
        raise _problem(f"{what} cannot be unpacked", exc) from None
    except BaseException:
        zin.abandon()
        raise
    if not result.spec:
        raise ArchiveError(f"{what} is not a dlxc archive: it has no {SPEC_MEMBER}")
    if not result.index:
        raise ArchiveError(f"{what} is truncated: it ends before its index ({INDEX_MEMBER})")
    if result.index.get("format") != FORMAT:
        raise ArchiveError(f"{what} has format {result.index.get('format')!r}; this kubelet reads format {FORMAT}")
    result.checksum = digest
    if checksum and checksum != result.checksum:
        raise ArchiveError(f"{what} has checksum {result.checksum}, not the recorded {checksum}: it changed since it was written")
    # Directories last, deepest first: writing their children would have moved their mtimes.
    for member in sorted(directories, key=lambda m: m.name.count("/"), reverse=True):
        path = dest / member.name
        os.lchown(path, *shift.host(member.uid, member.gid))
        os.chmod(path, member.mode)
        os.utime(path, (member.mtime, member.mtime))
    return result


def verify_archive(src: IO[bytes], *, what: str = "archive") -> Unpacked:
    """Read a whole archive without unpacking it: its spec, its index and the sha256 of the file, or
    ArchiveError when it is truncated, corrupt or not a dlxc archive (checked before anything is made)."""
    result = Unpacked()
    hashing, zin = _reader(src)
    try:
        with tarfile.open(fileobj=zin, mode="r|") as tar:
            for member in tar:
                if member.name in (SPEC_MEMBER, INDEX_MEMBER):
                    doc = json.loads(tar.extractfile(member).read())  # type: ignore[union-attr]
                    setattr(result, "spec" if member.name == SPEC_MEMBER else "index", doc)
                elif member.isreg():
                    handle = tar.extractfile(member)
                    assert handle is not None
                    while handle.read(_COPY_BUFFER):
                        pass
            while zin.read(_COPY_BUFFER):
                pass
            while hashing.read(_COPY_BUFFER):
                pass
    except (tarfile.TarError, zstandard.ZstdError, EOFError, OSError, ValueError) as exc:
        raise _problem(f"{what} cannot be read", exc) from None
    if not result.spec:
        raise ArchiveError(f"{what} is not a dlxc archive: it has no {SPEC_MEMBER}")
    if not result.index:
        raise ArchiveError(f"{what} is truncated: it ends before its index ({INDEX_MEMBER})")
    if result.index.get("format") != FORMAT:
        raise ArchiveError(f"{what} has format {result.index.get('format')!r}; this dlxc reads format {FORMAT}")
    result.checksum = "sha256:" + hashing.sha.hexdigest()
    return result
