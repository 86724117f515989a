from __future__ import annotations

import os
from pathlib import Path

from kubelet.drift import DriftPoller


def poller(lxc_path: Path) -> DriftPoller:
    return DriftPoller(lxc_path, interval=1.0, enqueue=lambda name: None)


def test_config_edits_are_noticed_after_the_first_look(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "config").write_text("x\n")
    (tmp_path / "b").mkdir()  # no config: not listed
    drift = poller(tmp_path)
    changed, mtimes = drift.poll_once({})
    assert (changed, set(mtimes)) == (set(), {"a"})
    os.utime(tmp_path / "a" / "config", (0, mtimes["a"] + 5))
    changed, _ = drift.poll_once(mtimes)
    assert changed == {"a"}


def test_a_watched_init_that_is_gone_or_frozen_is_noticed(tmp_path: Path) -> None:
    drift = poller(tmp_path / "missing")
    thawed, frozen = tmp_path / "thawed", tmp_path / "frozen"
    thawed.write_text("THAWED\n")
    frozen.write_text("1\n")
    drift.watch("self", os.getpid())
    assert "self" in drift.watched
    pid, start, _ = drift.watched["self"]
    drift.watched = {
        "alive": (pid, start, thawed),
        "frozen": (pid, start, frozen),
        "restarted": (pid, "0", thawed),
        "gone": (2**22 + 1, start, thawed),
    }
    changed, mtimes = drift.poll_once({})
    assert (changed, mtimes) == ({"frozen", "restarted", "gone"}, {})
    drift.forget("gone")
    assert "gone" not in drift.watched


def test_watching_an_init_that_already_exited_queues_the_container(tmp_path: Path) -> None:
    # The reconcile saw it running, then init exited before the watch: without a queued look the exit
    # would go unnoticed until the slow resync (a minute), and no exit would be recorded.
    queued: list[str] = []
    drift = DriftPoller(tmp_path, interval=1.0, enqueue=queued.append)
    drift.watch("quick", 2**22 + 1)
    assert queued == ["quick"] and "quick" not in drift.watched


def test_watching_the_same_init_again_reads_nothing(tmp_path: Path) -> None:
    # Every resync watches every running container again: the same init (pid) is not read again,
    # a new one is.
    drift = poller(tmp_path)
    drift.watch("self", os.getpid())
    drift.watched["self"] = (os.getpid(), "marker", tmp_path / "freeze")
    drift.watch("self", os.getpid())
    assert drift.watched["self"][1] == "marker"
    drift.watch("self", os.getppid())
    assert drift.watched["self"][0] == os.getppid() and drift.watched["self"][1] != "marker"
