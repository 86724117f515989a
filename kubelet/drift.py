"""The drift poller: notices within about a second that a container stopped, froze or had its config edited."""
from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from pathlib import Path

from kubelet import metrics

__all__ = ["DriftPoller"]

log = logging.getLogger("dlxc.kubelet")


class DriftPoller:
    """Reads /proc and one cgroup file per running container instead of asking liblxc, so a node
    with hundreds of containers can afford it every second."""

    def __init__(self, lxc_path: Path, *, interval: float, enqueue: Callable[[str], None]) -> None:
        self.lxc_path = lxc_path
        self.interval = interval
        self.enqueue = enqueue
        self.watched: dict[str, tuple[int, str, Path]] = {}  # running containers the fast poll checks

    def watch(self, name: str, pid: int) -> None:
        """Remember a running container's init (pid, start time) and freezer file for the fast poll.

        An init already gone (it exited between the look and this call) queues the name at once:
        nothing else would notice the exit before the slow resync. An init already watched under the
        same pid is left as it is: the poll compares its start time every second anyway (each resync
        read two /proc files of every container for nothing).
        """
        known = self.watched.get(name)
        if known is not None and known[0] == pid:
            return
        try:
            with open(f"/proc/{pid}/stat") as handle:
                start = handle.read().rsplit(")", 1)[1].split()[19]
            paths = metrics.parse_proc_cgroup(Path(f"/proc/{pid}/cgroup").read_text())
        except (OSError, IndexError):
            self.watched.pop(name, None)
            self.enqueue(name)
            return
        freezer = paths.dir("freezer", root=Path("/sys/fs/cgroup"))
        freeze_file = (freezer / "freezer.state") if freezer else (paths.dir("", root=Path("/sys/fs/cgroup")) or Path("/")) / "cgroup.freeze"
        self.watched[name] = (pid, start, freeze_file)

    def forget(self, name: str) -> None:
        self.watched.pop(name, None)

    def poll_once(self, mtimes: dict[str, float]) -> tuple[set[str], dict[str, float]]:
        """Names whose init died or changed, that are frozen, or whose config file changed; and the new mtimes.

        Runs every second for every container, so its files are read with metrics.read_bytes (three
        system calls each)."""
        changed: set[str] = set()
        for name, (pid, start, freeze_file) in list(self.watched.items()):
            stat = metrics.read_bytes(f"/proc/{pid}/stat", first=4096)
            try:
                alive = stat is not None and stat.rsplit(b")", 1)[1].split()[19].decode() == start
            except IndexError:
                alive = False
            if not alive:
                changed.add(name)
                continue
            state = metrics.read_bytes(freeze_file, first=4096)
            if state is not None and state.strip() not in (b"THAWED", b"0"):
                changed.add(name)
        fresh: dict[str, float] = {}
        try:
            with os.scandir(self.lxc_path) as entries:
                for entry in entries:
                    try:
                        fresh[entry.name] = os.stat(entry.path + "/config").st_mtime
                    except OSError:
                        continue
        except OSError:
            pass
        changed |= {name for name, mtime in fresh.items() if mtimes.get(name) not in (None, mtime)}
        return changed, fresh

    async def run(self) -> None:
        """Notice a container stopped, frozen or its config edited behind our back within about a second."""
        mtimes: dict[str, float] = {}
        while True:
            await asyncio.sleep(self.interval)
            try:
                changed, mtimes = await asyncio.to_thread(self.poll_once, mtimes)
            except Exception:
                log.exception("state poll failed")
                continue
            for name in changed:
                self.enqueue(name)

