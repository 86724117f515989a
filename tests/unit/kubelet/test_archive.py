"""Archives: the overlay's merged view, ownership shifted between id maps, xattrs, hard links, and refusal of damaged streams."""
from __future__ import annotations

import io
import os
import stat
from pathlib import Path

import pytest

from kubelet.archive import (
    ArchiveError, IdShift, caps_host, caps_inside, merged_tree, read_archive, read_header, write_archive,
)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="chown, mknod and trusted xattrs need root")


def _layers(tmp: Path) -> tuple[Path, Path]:
    lower, upper = tmp / "lower", tmp / "upper"
    for d in (lower / "etc", lower / "gone", lower / "opaque" / "old", upper / "etc", upper / "opaque" / "new"):
        d.mkdir(parents=True, exist_ok=True)
    (lower / "etc" / "image.conf").write_text("from the image\n")
    (lower / "etc" / "deleted").write_text("whited out\n")
    (lower / "gone" / "x").write_text("x\n")
    (upper / "etc" / "hostname").write_text("web\n")
    os.mknod(upper / "etc" / "deleted", stat.S_IFCHR | 0o600, os.makedev(0, 0))
    os.mknod(upper / "gone", stat.S_IFCHR | 0o600, os.makedev(0, 0))
    os.setxattr(upper / "opaque", "trusted.overlay.opaque", b"y")
    return upper, lower


def test_merged_tree_honours_whiteouts_and_opaque_dirs(tmp_path: Path) -> None:
    upper, lower = _layers(tmp_path)
    assert [rel for rel, _ in merged_tree([upper, lower])] == [
        "", "etc", "etc/hostname", "etc/image.conf", "opaque", "opaque/new",
    ]


def test_merged_tree_follows_renamed_dirs_and_refuses_metacopy_files(tmp_path: Path) -> None:
    lower, upper = tmp_path / "lower", tmp_path / "upper"
    for d in (lower / "srv" / "old" / "deep", lower / "opt" / "moved", upper / "srv" / "new", upper / "var" / "app"):
        d.mkdir(parents=True)
    (lower / "srv" / "old" / "deep" / "f").write_text("renamed in place\n")
    (lower / "opt" / "moved" / "g").write_text("renamed across\n")
    (upper / "srv" / "new" / "added").write_text("+\n")
    # redirect_dir=on: `mv /srv/old /srv/new` and `mv /opt/moved /var/app`, each leaving a whiteout behind.
    os.setxattr(upper / "srv" / "new", "trusted.overlay.redirect", b"old")
    os.mknod(upper / "srv" / "old", stat.S_IFCHR | 0o600, os.makedev(0, 0))
    os.setxattr(upper / "var" / "app", "trusted.overlay.redirect", b"/opt/moved")
    (upper / "opt").mkdir()
    os.mknod(upper / "opt" / "moved", stat.S_IFCHR | 0o600, os.makedev(0, 0))
    assert [rel for rel, _ in merged_tree([upper, lower])] == [
        "", "opt", "srv", "srv/new", "srv/new/added", "srv/new/deep", "srv/new/deep/f", "var", "var/app", "var/app/g",
    ]
    assert dict(merged_tree([upper, lower]))["var/app/g"] == lower / "opt" / "moved" / "g"

    (upper / "srv" / "new" / "added").unlink()
    (upper / "srv" / "new" / "meta").write_bytes(b"")
    os.setxattr(upper / "srv" / "new" / "meta", "trusted.overlay.metacopy", b"")
    with pytest.raises(ArchiveError, match=r"/upper/srv/new/meta is an overlay metacopy file .*mount without it$"):
        list(merged_tree([upper, lower]))


def _cap(revision: int, permitted: int, rootid: int | None = None) -> bytes:
    value = (revision | 1).to_bytes(4, "little") + permitted.to_bytes(4, "little") + bytes(12)
    return value if rootid is None else value + rootid.to_bytes(4, "little")


@pytest.mark.parametrize(
    ("on_disk", "shift", "kept"),
    [
        pytest.param(_cap(0x03000000, 1 << 13, 100000), IdShift(100000, 100000), _cap(0x02000000, 1 << 13), id="v3-of-its-root-to-v2"),
        pytest.param(_cap(0x03000000, 1 << 13, 101000), IdShift(100000, 100000), _cap(0x03000000, 1 << 13, 1000), id="v3-nested-root-inside-uid"),
        pytest.param(_cap(0x02000000, 1 << 13), IdShift(), _cap(0x02000000, 1 << 13), id="v2-privileged-as-is"),
        pytest.param(_cap(0x03000000, 1 << 13, 0), IdShift(), _cap(0x02000000, 1 << 13), id="v3-of-host-root-privileged"),
    ],
)
def test_file_capabilities_are_kept_in_the_containers_view(on_disk: bytes, shift: IdShift, kept: bytes) -> None:
    assert caps_inside(on_disk, shift, where="f") == kept


@pytest.mark.parametrize(
    ("kept", "shift", "written"),
    [
        pytest.param(_cap(0x02000000, 1 << 13), IdShift(200000, 200000), _cap(0x03000000, 1 << 13, 200000), id="v2-to-v3-of-new-root"),
        pytest.param(_cap(0x03000000, 1 << 13, 1000), IdShift(200000, 200000), _cap(0x03000000, 1 << 13, 201000), id="v3-inside-uid"),
        pytest.param(_cap(0x02000000, 1 << 13), IdShift(), _cap(0x02000000, 1 << 13), id="v2-privileged"),
    ],
)
def test_file_capabilities_are_written_for_the_new_id_map(kept: bytes, shift: IdShift, written: bytes) -> None:
    assert caps_host(kept, shift) == written


def test_a_capability_of_a_uid_outside_the_map_is_refused() -> None:
    with pytest.raises(ArchiveError, match="^f: its file capability belongs to host uid 5, outside the container's id map$"):
        caps_inside(_cap(0x03000000, 1, 5), IdShift(100000, 100000), where="f")


def test_round_trip_shifts_ids_and_keeps_modes_links_and_xattrs(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "home" / "u").mkdir(parents=True)
    data = root / "home" / "u" / "data.bin"
    data.write_bytes(os.urandom(300_000))
    os.lchown(root / "home" / "u", 101000, 101000)
    os.lchown(data, 101000, 101001)
    suid = root / "passwd"
    suid.write_text("#!/bin/sh\n")
    os.chmod(suid, 0o4755)
    os.link(data, root / "hard")
    os.symlink("/etc/localtime-elsewhere", root / "link")
    os.setxattr(data, "user.note", b"\xffbinary")
    os.setxattr(suid, "security.capability", _cap(0x03000000, 1 << 13, 100000))  # setcap cap_net_raw+ep inside
    os.mkfifo(root / "fifo")
    out = io.BytesIO()
    written = write_archive(out, merged_tree([root]), spec={"spec": {"image": "busybox"}}, index={"container": "c"},
                            shift=IdShift(100000, 100000))
    assert written.files == 8 and written.data_bytes == 300_000 + 10
    assert written.size == len(out.getvalue()) and written.checksum.startswith("sha256:")

    assert read_header(io.BytesIO(out.getvalue())) == {"spec": {"image": "busybox"}}
    dest = tmp_path / "restored"
    got = read_archive(io.BytesIO(out.getvalue()), dest, shift=IdShift(200000, 200000), checksum=written.checksum)
    back = dest / "rootfs"
    assert got.index["container"] == "c" and got.index["files"] == 8
    assert (back / "home" / "u" / "data.bin").read_bytes() == data.read_bytes()
    st = os.lstat(back / "home" / "u" / "data.bin")
    assert (st.st_uid, st.st_gid, st.st_nlink) == (201000, 201001, 2)
    assert os.lstat(back / "home" / "u").st_uid == 201000
    assert os.getxattr(back / "home" / "u" / "data.bin", "user.note") == b"\xffbinary"
    assert stat.S_IMODE(os.lstat(back / "passwd").st_mode) == 0o4755
    assert os.getxattr(back / "passwd", "security.capability") == _cap(0x03000000, 1 << 13, 200000)  # the new map's root
    assert os.readlink(back / "link") == "/etc/localtime-elsewhere"
    assert stat.S_ISFIFO(os.lstat(back / "fifo").st_mode)


def test_truncated_and_tampered_archives_are_refused_and_leave_nothing(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "f").write_bytes(os.urandom(100_000))
    out = io.BytesIO()
    written = write_archive(out, merged_tree([root]), spec={"spec": {}}, index={}, shift=IdShift())
    blob = out.getvalue()
    dest = tmp_path / "dest"
    with pytest.raises(ArchiveError, match="truncated or corrupt|truncated"):
        read_archive(io.BytesIO(blob[: len(blob) // 2]), dest, shift=IdShift())
    assert not dest.exists()
    with pytest.raises(ArchiveError, match="not the recorded sha256:0+"):
        read_archive(io.BytesIO(blob), dest, shift=IdShift(), checksum="sha256:" + "0" * 64)
    assert not dest.exists()
    with pytest.raises(ArchiveError, match="truncated or corrupt"):
        read_archive(io.BytesIO(b"not an archive at all"), dest, shift=IdShift())
    assert not dest.exists()
    assert written.files == 2


@pytest.mark.parametrize(
    ("wanted", "have", "request_", "observed", "actions"),
    [
        (["a"], [], None, None, ["Take a"]),
        (["a"], ["a", "b"], None, None, ["Drop b"]),
        (["a"], ["a"], "a@t1", "a@t1", []),
        (["a", "c"], ["a"], "a@t2", "a@t1", ["Restore a", "Take c"]),
    ],
    ids=["take", "drop", "restore-done", "restore-first-then-take"],
)
def test_plan_snapshots(wanted, have, request_, observed, actions) -> None:
    from kubelet.snapshots import plan_snapshots

    planned = plan_snapshots(wanted, have, request=request_, observed=observed)
    assert [f"{type(a).__name__} {a.snap}" for a in planned] == actions


def test_verify_reads_everything_and_refuses_a_truncated_file(tmp_path: Path) -> None:
    from kubelet.archive import verify_archive

    root = tmp_path / "root"
    root.mkdir()
    (root / "f").write_bytes(os.urandom(200_000))
    out = io.BytesIO()
    written = write_archive(out, merged_tree([root]), spec={"metadata": {"name": "c"}}, index={"container": "c"}, shift=IdShift())
    got = verify_archive(io.BytesIO(out.getvalue()))
    assert (got.spec, got.index["container"], got.checksum) == ({"metadata": {"name": "c"}}, "c", written.checksum)
    for cut in (len(out.getvalue()) - 20, len(out.getvalue()) // 3, 10):
        with pytest.raises(ArchiveError, match="truncated"):
            verify_archive(io.BytesIO(out.getvalue()[:cut]), what="x.tar.zst")
