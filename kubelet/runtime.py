"""The node's LXC containers through liblxc: the only module that imports `lxc`; every action is safe to repeat."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import lxc

from kubelet.idmap import unreachable_dirs
from kubelet.lxcconfig import (
    CONFIG_HEADER,
    Item,
    command_of,
    format_config,
    overlay_rootfs,
    parse_config,
    split_overlay_rootfs,
)
from kubelet.startlog import start_failure
from kubelet.statusfields import init_started

__all__ = ["LxcError", "LxcRuntime", "Observed", "StartError"]

_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\Z")
_UPPER = "delta0"
# liblxc derives the overlay workdir from the upper dir: <dirname(upper)>/work in liblxc 5 (older
# releases used "olwork"); it must exist beforehand, since liblxc mkdirs it from inside the userns.
_WORK = "work"
_LOG = "lxc.log"
_LOG_TAIL_LINES = 15
# ---- console log (dlxc logs): what init and its children write to the console, per run ----
CONSOLE_LOG = "console.log"  # this run; liblxc moves it to console.log.1 when it reaches the cap
PREVIOUS_LOG = "console.previous.log"  # the run before: moved aside by start()
CONSOLE_LOG_SIZE = "1MB"  # lxc.console.size: the cap of each file (a power of two)
# The environment of exec sessions: nothing of the kubelet's own (its token!), only what a login needs.
ATTACH_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class LxcError(RuntimeError):
    """liblxc refused or failed an action; the message carries the tail of the container's lxc.log."""


class StartError(LxcError):
    """A container did not start: the message is one line saying why, ending with where the full log is."""


@dataclass(frozen=True)
class Observed:
    """What one container looks like on this node right now."""

    name: str
    state: str
    init_pid: int | None
    items: tuple[Item, ...]  # the container's config file, parsed (includes not expanded)
    started: datetime | None = None  # when the running init started (from /proc), to about 10 ms

    @property
    def running(self) -> bool:
        return self.state == "RUNNING"


def _mapped_root(items: list[Item]) -> tuple[int, int]:
    # The host ids container root runs as: from "u 0 HOST N" / "g 0 HOST N"; 0 when privileged.
    uid = gid = 0
    for key, value in items:
        if key != "lxc.idmap":
            continue
        kind, inside, host, _count = value.split()
        if inside == "0" and kind == "u":
            uid = int(host)
        elif inside == "0" and kind == "g":
            gid = int(host)
    return uid, gid


def _write_atomic(path: Path, text: str) -> None:
    # The config may carry secrets from env, so only root reads it (liblxc parses it before the userns).
    fd, tmp = tempfile.mkstemp(prefix=".config.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class LxcRuntime:
    """The containers under one lxcpath. Calls block; run them in a worker thread."""

    def __init__(self, lxc_path: Path, *, log_level: str = "WARN") -> None:
        self.lxc_path = Path(lxc_path)
        # Priority of each container's lxc.log (TRACE, DEBUG, INFO, WARN, ERROR); kept out of the config.
        self.log_level = log_level
        # A handle per name for state(), inspect() and init_pids(): asking the state, init pid or
        # running reads nothing the handle parsed (liblxc asks the container's monitor, and stats the
        # config file), so the config is not parsed again for every ask (0.3 ms of each exec's check;
        # on an idle node, the resync's look and the usage sweep's init pids of every container).
        # python-lxc keeps the GIL in these calls: no races. Dropped when the container is gone.
        self._state_handles: dict[str, lxc.Container] = {}

    def container_dir(self, name: str) -> Path:
        return self.lxc_path / _check_name(name)

    def rootfs_for(self, name: str, lower: Path) -> str:
        """The lxc.rootfs.path for `name` on the image dir `lower`: an overlay whose upper dir is the container's own."""
        return overlay_rootfs(str(lower), str(self.container_dir(name) / _UPPER))

    def _container(self, name: str) -> lxc.Container:
        return lxc.Container(_check_name(name), str(self.lxc_path))

    def _handle(self, name: str) -> lxc.Container:
        """The kept handle of `name`, for state, init pid and running only (see _state_handles): making
        one parses the config and its includes (0.16 ms), asking it the state 0.02 ms."""
        container = self._state_handles.get(name)
        if container is None:
            container = self._state_handles[name] = self._container(name)
        return container

    def names(self) -> list[str]:
        """Every container defined or running under the lxcpath."""
        if not self.lxc_path.is_dir():
            return []
        found = set(lxc.list_containers(active=True, defined=True, config_path=str(self.lxc_path)))
        # Only names this runtime could have made; anything else under the lxcpath is not ours to touch.
        return sorted(name for name in found if _NAME.match(name))

    def inspect(self, name: str) -> Observed | None:
        """The container's state, init pid and config items; None when it does not exist. (Not its
        addresses: liblxc's get_ips forks into the container's network namespace, at every resync of
        every container, and nothing read them.)"""
        config_file = self.container_dir(name) / "config"
        container = self._handle(name)
        if not config_file.is_file() and not container.running:
            self._state_handles.pop(name, None)
            return None
        state = container.state
        pid = container.init_pid
        try:
            items = tuple(parse_config(config_file.read_text()))
        except FileNotFoundError:
            items = ()
        pid = pid if pid and pid > 0 else None
        started = init_started(pid) if pid and state in ("RUNNING", "FROZEN") else None
        return Observed(name=name, state=state, init_pid=pid, items=items, started=started)

    def config_items(self, name: str) -> list[Item] | None:
        """The items of the container's config file (None when it has none): no liblxc call, no state
        nor init read, for what needs only the config (the image GC's rootfs lower dirs)."""
        try:
            return parse_config((self.container_dir(name) / "config").read_text())
        except FileNotFoundError:
            return None

    def states(self) -> dict[str, str]:
        """The state of every container under the lxcpath (RUNNING, STOPPED, FROZEN, ...), cheaply."""
        return {name: self._container(name).state for name in self.names()}

    def scan_unmanaged(self, paths: list[Path]) -> list[dict[str, object]]:
        """LXC containers under `paths` that no dlxc kubelet wrote (the scanner); read, never changed."""
        found = []
        for path in paths:
            if not Path(path).is_dir():
                continue
            for name in sorted(lxc.list_containers(active=True, defined=True, config_path=str(path))):
                config = Path(path) / name / "config"
                try:
                    text = config.read_text(errors="replace")
                except OSError:
                    text = ""
                if text.startswith(CONFIG_HEADER):
                    continue
                try:
                    items = dict(parse_config(text))
                    idmapped = "lxc.idmap" in items
                except ValueError:
                    items, idmapped = {}, False
                state = lxc.Container(name, str(path)).state
                found.append({"name": name, "lxcPath": str(path), "state": state,
                              "rootfs": items.get("lxc.rootfs.path", ""), "privileged": not idmapped})
        return found

    def init_pids(self) -> dict[str, int]:
        """The init pid of every running container under the lxcpath."""
        found = {}
        names = self.names()
        for name in names:
            pid = self._handle(name).init_pid
            if pid and pid > 0:
                found[name] = pid
        for gone in set(self._state_handles) - set(names):
            self._state_handles.pop(gone, None)
        return found

    def config_mtimes(self) -> dict[str, float]:
        """When each container's config file last changed, to notice edits made behind our back."""
        found = {}
        for name in self.names():
            try:
                found[name] = (self.container_dir(name) / "config").stat().st_mtime
            except FileNotFoundError:
                continue
        return found

    def exit_log(self, name: str) -> str:
        """The lxc.log of the container's last run: at INFO level it says how init ended."""
        try:
            return (self.container_dir(name) / _LOG).read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def managed(self, name: str) -> bool:
        """Whether the config was written by a dlxc kubelet (anything else under the lxcpath is not ours)."""
        try:
            with open(self.container_dir(name) / "config") as handle:
                return handle.readline().startswith(CONFIG_HEADER)
        except (FileNotFoundError, ValueError):
            return False

    def create(self, name: str, items: list[Item]) -> None:
        """Make the container's directory, config and overlay dirs; no rootfs is copied. Re-running rewrites the config."""
        if not self.lxc_path.exists():
            self.lxc_path.mkdir(parents=True)
            self.lxc_path.chmod(0o711)
        directory = self.container_dir(name)
        directory.mkdir(exist_ok=True)
        # o+x only: container root (a plain host user) must pass through to its upper dir, not list it.
        directory.chmod(0o711)
        self._prepare_rootfs(name, items)
        _write_atomic(directory / "config", format_config(items))

    def write_config(self, name: str, items: list[Item]) -> None:
        """Replace the config of an existing container; a running one sees it at its next start."""
        directory = self.container_dir(name)
        if not directory.is_dir():
            raise LxcError(f"container {name} does not exist; create it first")
        self._prepare_rootfs(name, items)
        _write_atomic(directory / "config", format_config(items))

    def _prepare_rootfs(self, name: str, items: list[Item]) -> None:
        rootfs = dict(items).get("lxc.rootfs.path")
        if rootfs is None:
            raise LxcError(f"container {name}: the config has no lxc.rootfs.path")
        parts = split_overlay_rootfs(rootfs)
        if parts is None:
            return
        lower, upper = Path(parts[0]), Path(parts[1])
        directory = self.container_dir(name)
        if upper.parent != directory:
            # liblxc puts the workdir beside the upper dir; outside the container dir, destroy would miss both.
            raise LxcError(f"container {name}: overlay upper dir {upper} must be directly in {directory}")
        if not lower.is_dir():
            raise LxcError(f"container {name}: image rootfs {lower} is missing; prepare the image first")
        uid, gid = _mapped_root(items)
        if uid:
            blocked = unreachable_dirs(directory) + unreachable_dirs(lower)
            if blocked:
                raise LxcError(
                    f"container {name}: unprivileged root cannot reach its rootfs: "
                    f"{', '.join(sorted(set(map(str, blocked))))} lack o+x"
                )
        for path in (upper, directory / _WORK):
            path.mkdir(mode=0o755, exist_ok=True)
            # The overlay is mounted inside the user namespace, where only mapped ids may write.
            os.chown(path, uid, gid)

    def start(self, name: str, *, timeout: float = 30.0) -> None:
        """Boot the container; a running one is left alone."""
        container = self._container(name)
        if container.running:
            return
        if not container.defined:
            raise LxcError(f"container {name} does not exist; create it first")
        items = parse_config((self.container_dir(name) / "config").read_text())
        self._prepare_rootfs(name, items)
        log = self.container_dir(name) / _LOG
        log.unlink(missing_ok=True)
        self._rotate_console_log(name)
        # Not container.start(): liblxc moves the process that asks for a daemonized start into the
        # new lxc.monitor.<name> cgroup (as the "transient" pid), so a long-lived kubelet would hop
        # from cgroup to cgroup and leave every monitor cgroup behind, busy. lxc-start is that
        # transient process instead, and it exits once the container reports RUNNING.
        command = [
            "lxc-start", "--name", name, "--lxcpath", str(self.lxc_path), "--daemon",
            "--logfile", str(log), "--logpriority", self.log_level, *self._console_log_defines(name),
        ]
        argv = command_of(items)
        if argv is not None:
            # spec.command: each item one argument of pid 1 (lxc.init.cmd would split them on spaces).
            command += ["--", *argv]
        try:
            result = subprocess.run(
                command, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise StartError(self._start_failure(name, f"did not start in {timeout:g}s")) from exc
        if result.returncode != 0:
            raise StartError(self._start_failure(name, result.stderr))
        # lxc-start returns once init is RUNNING; a command may already have ended by now (STOPPED),
        # which is an exit for the restart policy to judge, not a failed start.
        if self._container(name).state not in ("RUNNING", "STOPPED") and not self._container(name).wait(
            "RUNNING", max(1, int(timeout))
        ):
            raise StartError(self._start_failure(name, f"did not reach RUNNING in {timeout:g}s"))

    # ---- console log and exec (kubelet/streams.py): plain files and lxc-attach, no liblxc call ----

    def _console_log_defines(self, name: str) -> list[str]:
        # Given at start, not in the config file: the log is the kubelet's business, not the spec's,
        # and a config change would restart every container made before this existed.
        log = self.container_dir(name) / CONSOLE_LOG
        return [
            "--define", f"lxc.console.logfile={log}",
            "--define", f"lxc.console.size={CONSOLE_LOG_SIZE}",
            "--define", "lxc.console.rotate=1",
        ]

    def _rotate_console_log(self, name: str) -> None:
        """The last run's console log becomes the previous one (`dlxc logs --previous`)."""
        directory = self.container_dir(name)
        current = self.console_log_files(name)
        if not current:
            return
        # The oldest file becomes the previous log by rename, the newer appended to it, not a copy into a
        # new file: the log marks (kubelet/logmarks.py) follow a file by its inode, so `logs --previous
        # --since` keeps the time of each line of it (a copy was one new file "written" at the restart).
        first, rest = current[0], current[1:]
        written = current[-1].stat().st_mtime
        if rest:
            with open(first, "ab") as out:
                for path in rest:
                    with open(path, "rb") as src:
                        shutil.copyfileobj(src, out)
            for path in rest:  # at once: a crash before the rename must not append them again at the next start
                path.unlink(missing_ok=True)
        os.chmod(first, 0o600)
        os.utime(first, (written, written))  # written by the run, not by this append
        os.replace(first, directory / PREVIOUS_LOG)

    def console_log_files(self, name: str, *, previous: bool = False) -> list[Path]:
        """The files of a run's console output, oldest first (only those that exist)."""
        directory = self.container_dir(name)
        if previous:
            files = [directory / PREVIOUS_LOG]
        else:
            files = [directory / (CONSOLE_LOG + ".1"), directory / CONSOLE_LOG]
        return [path for path in files if path.is_file()]

    def console_log_names(self, name: str) -> list[str]:
        """Every path a console log of `name` may have (this run's, rotated, previous), existing or not:
        no system call, for the once-a-second log marks (kubelet/logmarks.py stats each once)."""
        directory = str(self.container_dir(name))
        return [f"{directory}/{CONSOLE_LOG}.1", f"{directory}/{CONSOLE_LOG}", f"{directory}/{PREVIOUS_LOG}"]

    def state(self, name: str) -> str | None:
        """RUNNING, STOPPED, FROZEN, ...; None when there is no such container."""
        container = self._handle(name)
        if not container.defined and not container.running:
            self._state_handles.pop(name, None)
            return None
        return str(container.state)

    def attach_command(
        self, name: str, command: list[str], *, uid: int | None = None, gid: int | None = None, env: dict[str, str] | None = None
    ) -> list[str]:
        """The lxc-attach command line that runs `command` in the container with only `env` (plus PATH).

        lxc-attach in a process of its own, not liblxc's attach(): python-lxc holds the GIL while
        the attached command runs."""
        argv = ["lxc-attach", "--name", _check_name(name), "--lxcpath", str(self.lxc_path), "--clear-env"]
        if uid is not None:
            argv += ["--uid", str(uid)]
        if gid is not None:
            argv += ["--gid", str(gid)]
        for key, value in {"PATH": ATTACH_PATH, **(env or {})}.items():
            argv += ["--set-var", f"{key}={value}"]
        return [*argv, "--", *command]

    def console_command(self, name: str) -> list[str]:
        """lxc-console on the container's tty0 (detach: Ctrl-a q)."""
        return ["lxc-console", "--name", _check_name(name), "--lxcpath", str(self.lxc_path), "--tty", "0"]

    def stop(self, name: str, *, timeout: float = 10.0) -> bool:
        """Ask init to halt (lxc.signal.halt), then kill what is left after `timeout`; a stopped one is left alone.

        Returns True when the container had to be killed (timeout <= 0, or init did not halt in time).
        """
        container = self._container(name)
        if not container.running:
            return False
        if container.state == "FROZEN":
            container.unfreeze()
        # Not container.shutdown(): python-lxc holds the GIL for the whole wait, which froze every
        # other thread of the kubelet, its Lease renewals included, for up to the timeout (long enough
        # for the controller to declare the node dead). lxc-stop waits in its own process instead.
        # The halt and the kill are two calls (--nokill, then --kill) so that we know which one it took.
        if timeout > 0:
            self._lxc_stop(name, ["--timeout", str(max(1, int(timeout))), "--nokill"], wait=timeout)
            if not self._container(name).running:
                return False
        self._lxc_stop(name, ["--kill"], wait=0)
        if self._container(name).running:
            raise LxcError(f"container {name} could not be stopped, not even killed{self._log_tail(name)}")
        return True

    def _lxc_stop(self, name: str, args: list[str], *, wait: float) -> None:
        command = ["lxc-stop", "--name", name, "--lxcpath", str(self.lxc_path), *args]
        try:
            subprocess.run(command, capture_output=True, text=True, timeout=max(wait, 0) + 15, stdin=subprocess.DEVNULL, check=False)
        except subprocess.TimeoutExpired as exc:
            raise LxcError(f"container {name} did not stop{self._log_tail(name)}") from exc

    def freeze(self, name: str) -> bool:
        """Freeze a running container (its processes stop, its files stay as they are); False if it is not running."""
        container = self._container(name)
        if container.state == "FROZEN":
            return True
        if not container.running:
            return False
        if not container.freeze():
            raise LxcError(f"container {name} could not be frozen{self._log_tail(name)}")
        return True

    def unfreeze(self, name: str) -> None:
        """Thaw a frozen container; any other state is left alone."""
        container = self._container(name)
        if container.state == "FROZEN" and not container.unfreeze():
            raise LxcError(f"container {name} could not be unfrozen{self._log_tail(name)}")

    def destroy(self, name: str, *, timeout: float = 10.0) -> None:
        """Stop the container and remove its directory (config, upper and work dirs, log); a missing one is fine."""
        directory = self.container_dir(name)
        self.stop(name, timeout=timeout)
        if self._container(name).running:
            raise LxcError(f"container {name} is still running; not removing {directory}")
        if not directory.exists():
            return
        leftover = _mounts_below(directory)
        if leftover:
            # rmtree would descend into a mounted filesystem (a host dir bound in, say) and empty it.
            raise LxcError(f"container {name}: {', '.join(leftover)} still mounted; not removing {directory}")
        shutil.rmtree(directory)

    def set_cgroup(self, name: str, key: str, value: str) -> None:
        """Write one cgroup file of a running container, e.g. memory.limit_in_bytes."""
        container = self._container(name)
        if not container.running:
            raise LxcError(f"container {name} is not running; cgroup {key} cannot be set")
        if not container.set_cgroup_item(key, str(value)):
            raise LxcError(f"container {name}: writing {value!r} to cgroup {key} was refused")

    def get_cgroup(self, name: str, key: str) -> str:
        """Read one cgroup file of a running container, e.g. memory.limit_in_bytes."""
        container = self._container(name)
        if not container.running:
            raise LxcError(f"container {name} is not running; cgroup {key} cannot be read")
        try:
            value = container.get_cgroup_item(key)
        except KeyError as exc:
            raise LxcError(f"container {name}: cgroup {key} cannot be read") from exc
        if value is False:
            raise LxcError(f"container {name}: cgroup {key} cannot be read")
        return str(value)

    def _start_failure(self, name: str, fallback: str) -> str:
        log = self.container_dir(name) / _LOG
        try:
            text = log.read_text(errors="replace")
        except FileNotFoundError:
            text = ""
        return start_failure(text, fallback=fallback, log_path=str(log))

    def _log_tail(self, name: str) -> str:
        try:
            lines = (self.container_dir(name) / _LOG).read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return ""
        return (":\n" + "\n".join(lines[-_LOG_TAIL_LINES:])) if lines else ""


def _check_name(name: str) -> str:
    # The name becomes a directory under the lxcpath; anything but a DNS label could escape it.
    if not _NAME.match(name):
        raise ValueError(f"{name!r} is not a container name (a DNS-1123 label)")
    return name


def _mounts_below(directory: Path) -> list[str]:
    prefix = str(directory.resolve()) + "/"
    found = []
    with open("/proc/self/mountinfo") as handle:
        for line in handle:
            point = line.split()[4].replace("\\040", " ")
            if point.startswith(prefix) or point == prefix[:-1]:
                found.append(point)
    return found
