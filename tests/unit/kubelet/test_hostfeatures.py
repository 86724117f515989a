"""Reading what the node offers: idmapped mounts by kernel release, a live lxcfs by mountinfo, a private mount namespace."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubelet.hostfeatures import (
    LxcfsBaseline,
    _start_lxcfs,
    idmapped_mounts_supported,
    lxcfs_mounted,
    private_mount_namespace,
    remove_stale_pidfiles,
    stop_lxcfs,
)


@pytest.mark.parametrize(("release", "supported"), [
    ("6.18.44-fc-v657", True),
    ("5.12.0", True),
    ("5.11.22-generic", False),
    ("4.19.0-25-amd64", False),
    ("weird", False),
])
def test_idmapped_mounts_by_kernel_release(release: str, supported: bool) -> None:
    assert idmapped_mounts_supported(release) is supported


def test_lxcfs_mount_is_found_by_fs_type(tmp_path: Path) -> None:
    (tmp_path / "proc").mkdir()
    line = f"812 29 0:77 / {tmp_path} rw,nosuid,nodev,relatime shared:400 - fuse.lxcfs lxcfs rw,user_id=0\n"
    assert lxcfs_mounted(tmp_path, mountinfo=line)
    # Some other filesystem at that path is not lxcfs.
    assert not lxcfs_mounted(tmp_path, mountinfo=line.replace("fuse.lxcfs", "tmpfs"))
    assert not lxcfs_mounted(tmp_path / "other", mountinfo=line)


def fake_proc(root: Path, *, own: str, pid1: str | None, pid2: str | None, comm2: str = "kthreadd") -> Path:
    """A /proc whose ns/mnt entries are files: the same name means the same namespace (a hard link)."""
    spaces = root / "spaces"
    spaces.mkdir()
    for pid, space in (("self", own), ("1", pid1), ("2", pid2)):
        (root / "proc" / pid / "ns").mkdir(parents=True)
        if space is not None:
            (spaces / space).touch(exist_ok=True)
            os.link(spaces / space, root / "proc" / pid / "ns" / "mnt")
    (root / "proc" / "2" / "comm").write_text(comm2 + "\n")
    return root / "proc"


@pytest.mark.parametrize(("own", "pid1", "pid2", "comm2", "private"), [
    ("host", "host", "host", "kthreadd", False),
    ("mine", "host", "host", "kthreadd", True),
    # /proc/1/ns/mnt refused (a sandbox): kthreadd's, the kernel's initial namespace, decides.
    ("mine", None, "host", "kthreadd", True),
    ("host", None, "host", "kthreadd", False),
    # In a pid namespace pid 2 is no kernel thread: it says nothing about the machine.
    ("mine", None, "host", "sh", None),
    ("mine", None, None, "kthreadd", None),
], ids=["host", "own", "pid1-refused-own", "pid1-refused-host", "pid2-not-kthreadd", "nothing-readable"])
def test_a_private_mount_namespace_is_told_from_the_machines(tmp_path: Path, own: str, pid1: str | None, pid2: str | None,
                                                             comm2: str, private: bool | None) -> None:
    proc = fake_proc(tmp_path, own=own, pid1=pid1, pid2=pid2, comm2=comm2)
    assert private_mount_namespace(proc) is private


def test_this_process_is_in_the_machines_mount_namespace() -> None:
    assert private_mount_namespace() is False


# ---- pid files of lxcfs that are gone

def fake_lxcfs(pidfile: Path, *, seconds: float = 60) -> subprocess.Popen:
    """A process whose command line is an lxcfs started with `pidfile` (argv[0] is all /proc shows), which,
    like lxcfs, writes its pid there once it runs; returned when it has.

    (A pid file written by the parent as Popen returns can name a child still in its exec, whose command
    line the kernel does not show yet: nearly always, measured.)"""
    writes = f"import os, sys, time; open(sys.argv[1].split('=', 1)[1], 'w').write('%d\\n' % os.getpid()); time.sleep({seconds})"
    proc = subprocess.Popen(["lxcfs", "-c", writes, f"--pidfile={pidfile}"], executable=sys.executable)
    deadline = time.monotonic() + 10
    while not pidfile.exists() or pidfile.read_text() != f"{proc.pid}\n":
        assert time.monotonic() < deadline, "the fake lxcfs wrote no pid file"
        time.sleep(0.01)
    return proc


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen]]:
    started: list[subprocess.Popen] = []
    yield started
    for proc in started:
        proc.kill()
        proc.wait()


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_stale_pid_files_of_namespace_lxcfs_are_removed_and_live_ones_kept(tmp_path: Path, procs: list[subprocess.Popen]) -> None:
    def pidfile(name: str, content: object) -> Path:
        path = tmp_path / f"dlxc-lxcfs-{name}.pid"
        path.write_text(f"{content}\n" if content != "" else "")
        return path

    live = pidfile("101", "")
    procs.append(fake_lxcfs(live))
    exited = pidfile("102", "")
    zombie = fake_lxcfs(exited, seconds=0)
    procs.append(zombie)
    # Not reaped yet: an lxcfs that exited is a zombie of the kubelet that started it until it is reaped.
    deadline = time.monotonic() + 10
    while Path(f"/proc/{zombie.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
        assert time.monotonic() < deadline, "the fake lxcfs did not exit"
        time.sleep(0.02)
    stale = {
        "dead": pidfile("103", dead_pid()),
        "reused by another program": pidfile("104", os.getpid()),
        "reused by the lxcfs of another pid file": pidfile("105", procs[0].pid),
        "never written": pidfile("106", ""),
        "zombie": exited,
    }
    # The machine's lxcfs (dlxc-lxcfs.pid) and its lock and log are not a namespace kubelet's.
    others = [tmp_path / "dlxc-lxcfs.pid", tmp_path / "dlxc-lxcfs.lock", tmp_path / "dlxc-lxcfs.log"]
    for path in others:
        path.write_text(f"{dead_pid()}\n")

    assert remove_stale_pidfiles(tmp_path) == sorted(stale.values())
    assert {name for name, path in stale.items() if path.exists()} == set()
    assert live.exists() and all(path.exists() for path in others)


def test_stop_lxcfs_removes_a_stale_pid_file_and_leaves_one_being_written(tmp_path: Path) -> None:
    stale = tmp_path / "stale.pid"
    stale.write_text(f"{dead_pid()}\n")
    assert stop_lxcfs(tmp_path / "mnt", pidfile=stale) is False
    assert not stale.exists()
    # lxcfs creates its pid file, then writes its pid: an empty one may belong to an lxcfs starting now.
    empty = tmp_path / "empty.pid"
    empty.touch()
    assert stop_lxcfs(tmp_path / "mnt", pidfile=empty) is False
    assert empty.exists()


def test_no_second_lxcfs_starts_on_the_pid_file_of_a_running_one(tmp_path: Path, procs: list[subprocess.Popen]) -> None:
    """It would fail on the pid file's lock and remove the pid file as it exits: the running one then
    could not be found to be stopped."""
    pidfile = tmp_path / "dlxc-lxcfs.pid"
    # Like lxcfs, it holds a lock on its pid file while it runs.
    # (Only built-in modules: with "lxcfs" as argv[0] Python finds no extension modules.)
    locks = "import os, sys, time; fd = os.open(sys.argv[1].split('=', 1)[1], os.O_RDWR | os.O_CREAT); " \
            "os.lockf(fd, os.F_LOCK, 0); os.ftruncate(fd, 0); os.write(fd, b'%d\\n' % os.getpid()); time.sleep(60)"
    procs.append(subprocess.Popen(["lxcfs", "-c", locks, f"--pidfile={pidfile}"], executable=sys.executable))
    deadline = time.monotonic() + 10
    while not pidfile.exists() or not pidfile.read_text():
        assert time.monotonic() < deadline, "the stand-in lxcfs wrote no pid file"
        time.sleep(0.02)
    problem = _start_lxcfs(tmp_path / "mnt", pidfile=pidfile, wait=1.0)
    assert problem == (f"lxcfs (pid {procs[-1].pid}, {pidfile}) runs but {tmp_path / 'mnt'} is not mounted here; "
                       "containers see the host's memory and cpus in /proc")
    assert pidfile.read_text() == f"{procs[-1].pid}\n" and not (tmp_path / "mnt").exists()


@pytest.mark.parametrize("running", [False, True], ids=["started-since", "ran-before"])
def test_an_lxcfs_baseline_stops_only_what_was_started_since(tmp_path: Path, procs: list[subprocess.Popen], running: bool) -> None:
    session, kubelet = tmp_path / "session.pid", tmp_path / "kubelet.pid"
    for pidfile in (session, kubelet):
        procs.append(fake_lxcfs(pidfile))
    baseline = LxcfsBaseline(running=running, mountpoint=tmp_path / "mnt", pidfile=kubelet)
    if running:
        assert baseline.restore(session) == []
        assert all(proc.poll() is None for proc in procs) and session.exists() and kubelet.exists()
    else:
        assert baseline.restore(session) == [session, kubelet]
        assert all(proc.poll() is not None for proc in procs) and not session.exists() and not kubelet.exists()


# ---- one SIGTERM for a tied lxcfs when its kubelet dies

# Stands for lxcfs: counts the SIGTERMs it gets in the second after the first (lxcfs stops on the first).
# With none in 30 s it gives up (the test has failed by then): it never outlives the test run.
COUNTER = """
import signal, sys, time
got = []
signal.signal(signal.SIGTERM, lambda *_: got.append(time.monotonic()))
open(sys.argv[1] + ".ready", "w").close()
give_up = time.monotonic() + 30
while (got and time.monotonic() - got[0] < 1) or (not got and time.monotonic() < give_up):
    time.sleep(0.01)
open(sys.argv[1], "w").write(str(len(got)))
"""

# Stands for the kubelet: its lxcfs started as `_start_lxcfs` starts a tied one, by a thread that then
# ends, so that the kernel hands the child to another thread of the process, which ends 0.3 s later.
# (A SIGKILLed kubelet's threads end so, in some order, within milliseconds.)
KUBELET = """
import os, subprocess, sys, threading, time
from kubelet import hostfeatures
def start():
    subprocess.Popen(["sh", "-c", hostfeatures._TIED, "sh", sys.executable, "-c", sys.argv[1], sys.argv[2]],
                     start_new_session=True, preexec_fn=hostfeatures._die_with_parent)
    while not os.path.exists(sys.argv[2] + ".ready"):
        time.sleep(0.01)
thread = threading.Thread(target=start)
thread.start()
thread.join()
time.sleep(0.3)
"""


def test_a_tied_lxcfs_gets_one_sigterm_however_many_threads_its_kubelet_ends_with(tmp_path: Path) -> None:
    count = tmp_path / "sigterms"
    kubelet = subprocess.run([sys.executable, "-c", KUBELET, COUNTER, str(count)], cwd=Path(__file__).resolve().parents[3],
                             timeout=20, check=True)
    assert kubelet.returncode == 0
    deadline = time.monotonic() + 10
    while not count.exists():
        assert time.monotonic() < deadline, "the stand-in lxcfs got no SIGTERM when its kubelet ended"
        time.sleep(0.05)
    # The kernel sends a parent-death signal for every thread of the parent that the child is handed
    # to and that ends: lxcfs started by the kubelet itself got several, and the second killed it
    # while it stopped on the first, before it removed its pid file.
    assert count.read_text() == "1"
