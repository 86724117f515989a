"""What this node's kernel and packages let containers have (idmapped mounts, LXCFS), found once at kubelet start."""
from __future__ import annotations

import ctypes
import fcntl
import logging
import os
import platform
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "LXCFS_DIR",
    "LXCFS_PIDFILE",
    "HostFeatures",
    "LxcfsBaseline",
    "detect",
    "ensure_lxcfs",
    "idmapped_mounts_supported",
    "lxcfs_mounted",
    "private_mount_namespace",
    "remove_stale_pidfiles",
    "stop_lxcfs",
]

log = logging.getLogger("dlxc.kubelet")

# Where Debian's lxcfs unit mounts it, and where LXC's lxcfs hooks look for it.
LXCFS_DIR = Path("/var/lib/lxcfs")
# Our own pidfile, apart from the package unit's /run/lxcfs.pid, so whoever started lxcfs is known.
LXCFS_PIDFILE = Path("/run/dlxc-lxcfs.pid")
# Idmapped mounts came with Linux 5.12 (mount_setattr with MOUNT_ATTR_IDMAP).
_IDMAP_KERNEL = (5, 12)
_RELEASE = re.compile(r"^(\d+)\.(\d+)")


@dataclass(frozen=True)
class HostFeatures:
    """What the kubelet renders into each container's config; all off is what any LXC host can run."""

    idmapped_mounts: bool = False
    lxcfs: bool = False
    lxcfs_problem: str = ""  # why lxcfs is off, for the log and the Node condition
    # The pid file of an lxcfs this kubelet started in a mount namespace of its own: it stops that
    # lxcfs when it exits (see `detect`). Empty when lxcfs, if any, belongs to the machine.
    lxcfs_pidfile: str = ""


def idmapped_mounts_supported(release: str | None = None) -> bool:
    """Whether the kernel (`uname -r`) can make idmapped bind mounts (LXC's idmap=container mount option)."""
    match = _RELEASE.match(release if release is not None else platform.release())
    return match is not None and (int(match.group(1)), int(match.group(2))) >= _IDMAP_KERNEL


def lxcfs_mounted(mountpoint: Path = LXCFS_DIR, *, mountinfo: str | None = None) -> bool:
    """Whether a live lxcfs is mounted at `mountpoint` (a fuse.lxcfs entry in /proc/self/mountinfo)."""
    if mountinfo is None:
        with open("/proc/self/mountinfo") as handle:
            mountinfo = handle.read()
    for line in mountinfo.splitlines():
        fields = line.split()
        if len(fields) < 5 or fields[4].replace("\\040", " ") != str(mountpoint):
            continue
        _, sep, rest = line.partition(" - ")
        if sep and rest.split()[0] == "fuse.lxcfs":
            # A dead lxcfs leaves its mount behind; reads then fail with ENOTCONN.
            try:
                os.stat(mountpoint / "proc")
            except OSError:
                return False
            return True
    return False


def _listed(mountpoint: Path) -> bool:
    # Not os.path.ismount: it stats the path, which fails on a dead FUSE mount.
    with open("/proc/self/mountinfo") as handle:
        return any(line.split()[4].replace("\\040", " ") == str(mountpoint) for line in handle if line.strip())


def private_mount_namespace(proc: Path = Path("/proc")) -> bool | None:
    """Whether this process runs in a mount namespace of its own rather than the machine's; None when
    it cannot tell."""
    return private_namespace("mnt", proc)


def private_namespace(kind: str, proc: Path = Path("/proc")) -> bool | None:
    """Whether this process runs in a namespace of `kind` (mnt, net, ...) of its own rather than the
    machine's; None when it cannot tell.

    The machine's is pid 1's. Some sandboxes refuse /proc/1/ns/* even to root; kthreadd's (pid 2,
    a kernel thread, always in the kernel's initial namespaces) is the fallback.
    """
    try:
        own = os.stat(proc / "self" / "ns" / kind)
    except OSError:
        return None
    for pid in ("1", "2"):
        try:
            if pid == "2" and (proc / pid / "comm").read_text().strip() != "kthreadd":
                continue
            machine = os.stat(proc / pid / "ns" / kind)
        except OSError:
            continue
        return (machine.st_dev, machine.st_ino) != (own.st_dev, own.st_ino)
    return None


def ensure_lxcfs(mountpoint: Path = LXCFS_DIR, *, pidfile: Path = LXCFS_PIDFILE, wait: float = 5.0, tied: bool = False) -> str:
    """Make sure lxcfs serves `mountpoint`, starting `lxcfs` as a daemon when it does not; '' or why it cannot.

    On a systemd host the package's lxcfs.service mounts it at boot and this finds it running.
    `tied`: an lxcfs started here ends when this process does (see `detect`).
    """
    if lxcfs_mounted(mountpoint):
        return ""
    # Several kubelets on one host (dlxc up --nodes 3) start at once: one of them starts lxcfs.
    with open(LXCFS_PIDFILE.with_suffix(".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        # Under the lock: every lxcfs we start writes its pid file while holding it, so none found is half-written.
        remove_stale_pidfiles(LXCFS_PIDFILE.parent)
        return _start_lxcfs(mountpoint, pidfile=pidfile, wait=wait, tied=tied)


def _die_with_parent() -> None:
    # In the child between fork and exec: SIGKILL when the process that started it dies, even by SIGKILL.
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG


# How a tied lxcfs is started: `sh` (SIGKILLed when the kubelet dies) starts lxcfs with SIGTERM as its
# own parent-death signal, so lxcfs gets exactly one SIGTERM when the kubelet dies. The kernel sends
# the parent-death signal each time the thread a process is the child of exits and it is handed to
# another thread of that process, and the kubelet has many threads: lxcfs, stopping on the first
# SIGTERM, puts the default action back, and a second one kills it before it removes its pid file.
# sh has one thread.
_TIED = 'setpriv --pdeathsig TERM -- "$@" & wait $!'


def _start_lxcfs(mountpoint: Path, *, pidfile: Path, wait: float, tied: bool = False) -> str:
    if lxcfs_mounted(mountpoint):
        return ""
    # Another lxcfs with this pid file would fail ("already locked") and, on its way out, remove the
    # pid file of the one running, which then nothing could find to stop.
    running = _serving(pidfile)
    if running is not None:
        return f"lxcfs (pid {running}, {pidfile}) runs but {mountpoint} is not mounted here; containers see the host's memory and cpus in /proc"
    binary = shutil.which("lxcfs")
    if binary is None:
        return "lxcfs is not installed (apt-get install lxcfs); containers see the host's memory and cpus in /proc"
    if not Path("/dev/fuse").exists():
        return "/dev/fuse is missing, so lxcfs cannot run; containers see the host's memory and cpus in /proc"
    # A dead lxcfs leaves "Transport endpoint is not connected" behind; a new one cannot mount over it.
    if _listed(mountpoint):
        subprocess.run(["umount", "--lazy", str(mountpoint)], capture_output=True, check=False)
    mountpoint.mkdir(parents=True, exist_ok=True)
    # lxcfs runs in the foreground until it is stopped: a new session keeps it out of our process
    # group (so stopping the kubelet leaves it serving the containers, unless `tied`), and its log
    # goes beside the (machine's) pid file.
    errors = LXCFS_PIDFILE.with_suffix(".log")
    argv = [binary, f"--pidfile={pidfile}", str(mountpoint)]
    with open(errors, "ab") as err:
        proc = subprocess.Popen(
            ["sh", "-c", _TIED, "sh", *argv] if tied else argv,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True,
            preexec_fn=_die_with_parent if tied else None,
        )
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline and proc.poll() is None:
        if lxcfs_mounted(mountpoint):
            log.info("started lxcfs (pid %s) on %s; its log: %s", _pid_in(pidfile), mountpoint, errors)
            return ""
        time.sleep(0.1)
    if proc.poll() is None:
        proc.terminate()
    code = proc.wait()
    _remove_if_stale(pidfile)  # stopped before it set up its signal handlers, lxcfs leaves it behind
    return f"lxcfs did not mount {mountpoint} in {wait:g}s (exit code {code}); see {errors}"


def _pid_in(pidfile: Path) -> int | None:
    try:
        return int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None


def _serving(pidfile: Path) -> int | None:
    """The pid of the live lxcfs started with this pid file, if any: the pid file may be stale and its pid reused."""
    pid = _pid_in(pidfile)
    if pid is None:
        return None
    try:
        # Empty for a zombie: an lxcfs that has exited but is not reaped yet serves nothing.
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    if not cmdline or Path(cmdline[0].decode(errors="replace")).name != "lxcfs" or f"--pidfile={pidfile}".encode() not in cmdline:
        return None
    return pid


def _remove_if_stale(pidfile: Path, *, empty: bool = False) -> bool:
    """Remove `pidfile` if no lxcfs serves it (with `empty`, also when no pid is written in it: lxcfs creates
    it, then writes its pid, so only a caller that no lxcfs can be starting beside may)."""
    if _serving(pidfile) is not None or not (empty or _pid_in(pidfile) is not None):
        return False
    try:
        pidfile.unlink()
    except FileNotFoundError:
        return False
    return True


def remove_stale_pidfiles(directory: Path) -> list[Path]:
    """Remove the pid files (dlxc-lxcfs-KUBELETPID.pid) of the lxcfs of namespace kubelets that no lxcfs
    serves any more; the ones removed.

    Such an lxcfs ends with its kubelet (see `detect`) and removes its pid file as it exits, but not when
    it is killed on its way out (as a second SIGTERM did before `_TIED`) or crashes: the next kubelet to
    start lxcfs removes what was left.
    """
    removed = [pidfile for pidfile in sorted(directory.glob(f"{LXCFS_PIDFILE.stem}-*.pid")) if _remove_if_stale(pidfile, empty=True)]
    if removed:
        log.info("removed the pid files of lxcfs that are gone: %s", ", ".join(map(str, removed)))
    return removed


def _alive(pid: int) -> bool:
    # A zombie (its parent, a kubelet, has not reaped it yet) has exited already.
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def stop_lxcfs(mountpoint: Path = LXCFS_DIR, *, pidfile: Path = LXCFS_PIDFILE, wait: float = 10.0) -> bool:
    """Stop the lxcfs that `ensure_lxcfs` started (found by its pid file) and unmount it; False if there was none.

    Running containers then read ENOTCONN from their lxcfs files until restarted: for tests and teardown only.
    """
    pid = _serving(pidfile)
    if pid is None:
        _remove_if_stale(pidfile)  # its lxcfs died without removing it
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.1)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)
    if _listed(mountpoint):
        subprocess.run(["umount", "--lazy", str(mountpoint)], capture_output=True, check=False)
    pidfile.unlink(missing_ok=True)
    return True


@dataclass(frozen=True)
class LxcfsBaseline:
    """Whether lxcfs served this machine when a test session or benchmark began, so that at its end the
    lxcfs its kubelets started (on the machine's mount namespace, meant to outlive a kubelet) is stopped
    and one the machine ran before is left alone."""

    running: bool
    mountpoint: Path = LXCFS_DIR
    pidfile: Path = LXCFS_PIDFILE  # of the lxcfs a kubelet on the machine's mount namespace starts

    @classmethod
    def now(cls) -> LxcfsBaseline:
        return cls(running=lxcfs_mounted())

    def restore(self, *pidfiles: Path) -> list[Path]:
        """Stop what was started since (a kubelet's lxcfs, and the ones `pidfiles` name); the pid files
        of the ones stopped."""
        if self.running:
            return []
        return [pidfile for pidfile in (*pidfiles, self.pidfile) if stop_lxcfs(self.mountpoint, pidfile=pidfile)]


def detect(*, start_lxcfs: bool = True) -> HostFeatures:
    """The node's features; starts lxcfs when it is installed but not running (and `start_lxcfs`).

    A kubelet in a mount namespace of its own (a namespace host of the tests and benchmarks, made
    with `unshare --mount`) does not see the machine's lxcfs, and an lxcfs it started would be seen
    by nothing but its own containers and outlive it unseen, one more with every restart: there the
    lxcfs it starts is its own (its own pid file, SIGTERM when the kubelet dies, stopped when the
    kubelet exits; containers it leaves running lose their lxcfs files until restarted). On the
    machine's mount namespace lxcfs stays a machine daemon that outlives the kubelet, serving the
    containers across kubelet restarts.
    """
    if not start_lxcfs:
        problem, pidfile = "lxcfs disabled by --no-lxcfs", ""
    elif private_mount_namespace():
        own = LXCFS_PIDFILE.with_name(f"dlxc-lxcfs-{os.getpid()}.pid")
        problem = ensure_lxcfs(pidfile=own, tied=True)
        pidfile = "" if problem else str(own)  # stop_lxcfs finds none there if the one seen is not ours
    else:
        problem, pidfile = ensure_lxcfs(), ""
    if problem:
        log.warning("%s", problem)
    return HostFeatures(idmapped_mounts=idmapped_mounts_supported(), lxcfs=not problem, lxcfs_problem=problem, lxcfs_pidfile=pidfile)
