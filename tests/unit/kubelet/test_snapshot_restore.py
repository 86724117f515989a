"""SnapshotAgent.execute of a Restore on disk, with a runtime that records: a failed copy leaves the
rootfs as it was and the container running again, and neither a failed nor a good restore leaves
our stop looking like the container's own exit (or a later exit of its own looking like ours)."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from kubelet.snapshots import _META, DIR, Restore, SnapshotAgent
from kubelet.stops import StopRecords


class Runtime:
    def __init__(self) -> None:
        self.state = "RUNNING"
        self.calls: list[str] = []

    def inspect(self, name: str) -> SimpleNamespace:
        return SimpleNamespace(state=self.state)

    def stop(self, name: str, timeout: float) -> bool:
        self.calls.append("stop")
        self.state = "STOPPED"
        return False

    def start(self, name: str, timeout: float) -> None:
        self.calls.append("start")
        self.state = "RUNNING"


def agent(tmp_path: Path) -> tuple[SnapshotAgent, Runtime, StopRecords, Path]:
    runtime, stops = Runtime(), StopRecords(tmp_path / "lxc")
    kubelet = SimpleNamespace(runtime=runtime, stops=stops, settings=SimpleNamespace(lxc_path=tmp_path / "lxc", node_name="n1"))
    made = SnapshotAgent.__new__(SnapshotAgent)  # no informer: execute alone
    made.kubelet = kubelet
    data = tmp_path / "lxc" / "web" / "delta0"
    data.mkdir(parents=True)
    (data / "file").write_text("now\n")
    snap = tmp_path / "lxc" / "web" / DIR / "s1"
    (snap / "data").mkdir(parents=True)
    (snap / "data" / "file").write_text("then\n")
    (snap / _META).write_text(json.dumps({"name": "s1"}))
    return made, runtime, stops, data


def test_a_restore_puts_the_snapshot_in_place_and_clears_its_own_stop_mark(tmp_path: Path) -> None:
    made, runtime, stops, data = agent(tmp_path)
    made.execute("web", f"overlay:/img:{data}", Restore("s1", "s1@1"))
    assert (data / "file").read_text() == "then\n" and runtime.calls == ["stop", "start"]
    assert stops.reason("web") is None  # a later exit of its own is its own


def test_a_failed_restore_keeps_the_rootfs_and_starts_the_container_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The copy failed (a full disk): it stayed stopped, and its restart policy counted our stop as its own exit."""
    made, runtime, stops, data = agent(tmp_path)

    def full_disk(argv: list[str], **kw: object) -> None:
        (data.parent / ".delta0.restore").mkdir()  # what cp wrote before it stopped
        raise subprocess.CalledProcessError(1, argv, stderr="cp: error writing: No space left on device")

    monkeypatch.setattr(subprocess, "run", full_disk)
    with pytest.raises(subprocess.CalledProcessError):
        made.execute("web", f"overlay:/img:{data}", Restore("s1", "s1@1"))
    assert (data / "file").read_text() == "now\n" and runtime.calls == ["stop", "start"] and runtime.state == "RUNNING"
    assert not (data.parent / ".delta0.restore").exists() and stops.reason("web") is None
