"""Component logs: rotated by size, by the component itself (dlxc) or by the supervisor at start (etcd)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dlxc.cluster.supervisor import LOG_BACKUPS, LOG_MAX_BYTES, Recorded, Supervisor, alive, boot_id, rotate, start_time


def test_rotate_shifts_old_files_and_keeps_at_most_the_backups(tmp_path: Path) -> None:
    log = tmp_path / "etcd.log"
    for generation in range(LOG_BACKUPS + 2):
        log.write_text(f"gen {generation}\n" + "x" * 20)
        assert rotate(log, max_bytes=10) is True
    assert not log.exists()
    kept = sorted(p.name for p in tmp_path.iterdir())
    assert kept == [f"etcd.log.{i}" for i in range(1, LOG_BACKUPS + 1)]
    assert (tmp_path / "etcd.log.1").read_text().startswith(f"gen {LOG_BACKUPS + 1}\n")
    small = tmp_path / "small.log"
    small.write_text("short")
    assert rotate(small, max_bytes=10) is False and small.read_text() == "short"
    assert rotate(tmp_path / "missing.log") is False


def test_a_component_rotates_its_own_log_at_the_size_limit(tmp_path: Path) -> None:
    log = tmp_path / "kubelet.log"
    script = (
        "import logging\n"
        "from dlxc.cli.components import _logging\n"
        "_logging('info')\n"
        f"for i in range({LOG_MAX_BYTES // 1000 + 100}):\n"
        "    logging.getLogger('dlxc.test').info('%04d %s', i, 'y' * 950)\n"
    )
    subprocess.run([sys.executable, "-c", script], env={**os.environ, "DLXC_LOG_FILE": str(log)}, check=True, timeout=60)
    assert log.stat().st_size < LOG_MAX_BYTES
    assert LOG_MAX_BYTES - 2000 < (tmp_path / "kubelet.log.1").stat().st_size <= LOG_MAX_BYTES


# Detached on purpose: the Popen object goes away while the child may still run.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_spawn_gives_a_dlxc_component_its_log_file_and_keeps_etcds_output_as_its_log(tmp_path: Path) -> None:
    sup = Supervisor(tmp_path / "pids.json", tmp_path / "log", tmp_path)
    show = [sys.executable, "-c", "import os; print(os.environ.get('DLXC_LOG_FILE'))"]
    pids = [sup.spawn("controller", show, {}), sup.spawn("etcd", show, {}, self_logging=False)]
    for pid in pids:
        os.waitpid(pid, 0)
    assert (tmp_path / "log" / "controller.out").read_text() == f"{tmp_path / 'log' / 'controller.log'}\n"
    assert (tmp_path / "log" / "etcd.log").read_text() == "None\n"
    assert set(sup.pids()) == {"controller", "etcd"} and sup.running() == {}


def test_a_process_just_spawned_is_alive_and_a_zombie_is_not() -> None:
    """Mid-exec a process has no command line for a moment: `dlxc up` took an apiserver it had just started for dead."""
    for _ in range(10):
        proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(5)"], start_new_session=True)
        try:
            spawned = all(alive(proc.pid) for _ in range(50))
            proc.kill()
            while Path(f"/proc/{proc.pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z":
                pass  # killed, not yet waited for: a zombie
            zombie = alive(proc.pid)
        finally:
            proc.kill()
            proc.wait()
        assert (spawned, zombie) == (True, False)
    assert not alive(2) or Path("/proc/2/comm").read_text().strip() != "kthreadd"  # a kernel thread is no component


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_recorded_pid_given_to_another_process_is_not_that_component(tmp_path: Path) -> None:
    """pids.json outlives a crash or a reboot, and pids wrap (32,768 here): a later process with the
    recorded pid was taken for the component, so `up` did not start it and `down` killed that
    process's whole group."""
    sup = Supervisor(tmp_path / "pids.json", tmp_path / "log", tmp_path)
    pid = sup.spawn("apiserver", [sys.executable, "-c", "import time; time.sleep(30)"], {})
    try:
        record = sup.records()["apiserver"]
        assert (record.pid, record.boot) == (pid, boot_id()) and record.start == start_time(pid) is not None
        assert sup.running() == {"apiserver": pid}
        # The same pid started at another time, or in another boot, is another process.
        for other in (Recorded(pid, record.start + 1, record.boot), Recorded(pid, record.start, "another-boot")):
            (tmp_path / "pids.json").write_text(json.dumps({"apiserver": other.to_json()}))
            assert sup.running() == {}
            assert sup.stop() == [] and alive(pid)  # not signalled
        # A pid file written before start times were kept: the pid alone.
        (tmp_path / "pids.json").write_text(json.dumps({"apiserver": pid}))
        assert sup.pids() == sup.running() == {"apiserver": pid}
        assert sup.stop() == ["apiserver"] and not alive(pid)
    finally:
        try:
            os.killpg(pid, 9)
        except ProcessLookupError:
            pass
        os.waitpid(pid, 0)
