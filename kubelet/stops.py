"""Stops dlxc made itself, recorded on disk, so the kubelet never counts them as exits of the container.

A container that halts on its own is an exit: the restart policy and crash-loop backoff apply. A
container that `dlxc down`, fencing or a host reboot stopped is not: it comes back as its spec says,
with its restart count and last exit as they were. LXC's log cannot tell the two apart (a clean halt
and `lxc-stop` both end init on a signal), so whoever stops a container on dlxc's behalf first writes
`<lxcpath>/.dlxc-stopped/<name>`, and the kubelet removes the mark once the container runs again.

A host reboot stops everything with nobody left to write marks; the kubelet keeps the boot id
(/proc/sys/kernel/random/boot_id) it last ran under in `<lxcpath>/.dlxc-boot-id`, and when it finds
another one at startup it marks every container it finds stopped.
"""
from __future__ import annotations

from pathlib import Path

__all__ = ["BOOT_ID", "StopRecords", "current_boot_id"]

BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


def current_boot_id(path: Path = BOOT_ID) -> str:
    return path.read_text().strip()


class StopRecords:
    """The stop marks of one lxcpath: name -> why dlxc stopped it (down, fenced, host-reboot)."""

    def __init__(self, lxc_path: Path) -> None:
        self.lxc_path = Path(lxc_path)
        self.dir = self.lxc_path / ".dlxc-stopped"
        self.boot_file = self.lxc_path / ".dlxc-boot-id"

    def mark(self, name: str, reason: str) -> None:
        """Record that dlxc is about to stop `name` (call before stopping it, so a crash of ours errs safe)."""
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        (self.dir / name).write_text(reason)

    def reason(self, name: str) -> str | None:
        """Why dlxc stopped `name`, or None when it did not (a stop then is the container's own exit)."""
        try:
            return (self.dir / name).read_text().strip() or "stopped by dlxc"
        except FileNotFoundError:
            return None

    def clear(self, name: str) -> None:
        (self.dir / name).unlink(missing_ok=True)

    def note_boot(self, boot_id: str, stopped: list[str]) -> bool:
        """At kubelet startup: if the host rebooted since the last run, mark `stopped` as stopped by it.

        Returns whether a reboot was seen. The first run under an lxcpath only records the boot id.
        """
        try:
            previous = self.boot_file.read_text().strip()
        except FileNotFoundError:
            previous = None
        rebooted = previous is not None and previous != boot_id
        if rebooted:
            for name in stopped:
                if self.reason(name) is None:
                    self.mark(name, "host-reboot")
        if previous != boot_id:
            self.lxc_path.mkdir(parents=True, exist_ok=True)
            self.boot_file.write_text(boot_id)
        return rebooted
