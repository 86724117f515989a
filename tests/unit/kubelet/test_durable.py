"""The durability helpers really sync (the calls succeed on this filesystem) and write whole files."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from kubelet import durable


def test_write_durably_replaces_whole_and_leaves_no_temporary(tmp_path: Path) -> None:
    marker = tmp_path / "restored-from"
    marker.write_text("old\n")
    durable.write_durably(marker, '{"backup": "b"}\n')
    assert marker.read_text() == '{"backup": "b"}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["restored-from"]


def test_a_failed_write_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    marker = tmp_path / "restored-from"
    marker.write_text("old\n")

    def full_disk(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(durable.os, "fsync", full_disk)
    with pytest.raises(OSError):
        durable.write_durably(marker, "new\n")
    assert marker.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["restored-from"]


def test_directory_and_filesystem_syncs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []
    real = os.fsync
    monkeypatch.setattr(durable.os, "fsync", lambda fd: (synced.append(fd), real(fd)))
    durable.fsync_dir(tmp_path)
    assert len(synced) == 1
    durable.sync_filesystem(tmp_path)
    with pytest.raises(OSError):
        durable.sync_filesystem(tmp_path / "missing")
