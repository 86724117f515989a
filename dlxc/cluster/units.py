"""systemd units for an installed host: dlxc-server.service (the control plane) and dlxc-agent.service (the kubelet).

Why these settings: `Restart=always` brings a crashed component back; the agent's `WatchdogSec=` is
below the kubelet's fence timeout, so a kubelet that hangs while its containers run is killed
and restarted (it pings WATCHDOG=1 on every lease tick, kubelet.sdnotify) before the controller
would move its containers; `KillMode=process` stops or restarts only the kubelet process, never
the LXC containers it started (they are in its cgroup, `Delegate=yes`). Credentials stay in the
0600 files under ETC (the units name only their paths). Logs go to the journal.
"""
from __future__ import annotations

import math
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from kubelet.settings import LeaseSettings

if TYPE_CHECKING:
    from dlxc.cluster.host import Component, HostLayout

__all__ = ["AGENT", "SERVER", "UNIT_DIR", "agent_unit", "install", "server_unit", "watchdog_seconds", "write_units"]

UNIT_DIR = Path("/etc/systemd/system")
SERVER = "dlxc-server.service"
AGENT = "dlxc-agent.service"


def watchdog_seconds(lease: LeaseSettings | None = None) -> int:
    """Whole seconds below the fence timeout, yet above the longest gap between two lease ticks."""
    lease = lease or LeaseSettings()
    longest_gap = lease.renew_interval + lease.request_timeout
    seconds = math.ceil(lease.fence_timeout - lease.renew_interval)
    if not longest_gap < seconds < lease.fence_timeout:
        raise ValueError(f"no watchdog fits between a lease tick ({longest_gap:g}s) and the fence timeout ({lease.fence_timeout:g}s)")
    return seconds


def _state_args(layout: HostLayout) -> str:
    default = layout.etc == Path("/etc/dlxc")
    return "" if default else f" --state-dir {layout.etc.parent}"


def server_unit(layout: HostLayout, *, python: str = sys.executable) -> str:
    return f"""[Unit]
Description=dlxc control plane (etcd, apiserver, scheduler, controller)
Documentation=file://{layout.etc}/server.yaml
Wants=network-online.target
After=network-online.target

[Service]
Type=simple
ExecStart={python} -m dlxc server{_state_args(layout)}
Restart=always
RestartSec=2
TimeoutStopSec=30
LimitNOFILE=65536

[Install]
WantedBy=multi-user.target
"""


def agent_unit(layout: HostLayout, kubelet: Component, *, watchdog: int) -> str:
    return f"""[Unit]
Description=dlxc agent (the kubelet of this host)
Wants=network-online.target
After=network-online.target dlxc-server.service

[Service]
Type=notify
NotifyAccess=main
Environment=DLXC_CONFIG={kubelet.env['DLXC_CONFIG']}
ExecStart={' '.join(kubelet.args)}
Restart=always
RestartSec=1
WatchdogSec={watchdog}
KillMode=process
Delegate=yes

[Install]
WantedBy=multi-user.target
"""


def write_units(layout: HostLayout, *, kubelet: Component | None, server: bool, unit_dir: Path = UNIT_DIR) -> list[Path]:
    unit_dir.mkdir(parents=True, exist_ok=True)
    written = []
    if server:
        (unit_dir / SERVER).write_text(server_unit(layout))
        written.append(unit_dir / SERVER)
    if kubelet is not None:
        (unit_dir / AGENT).write_text(agent_unit(layout, kubelet, watchdog=watchdog_seconds()))
        written.append(unit_dir / AGENT)
    return written


def install(layout: HostLayout, *, kubelet: Component | None, server: bool, unit_dir: Path = UNIT_DIR) -> list[Path]:
    """Write the units, reload systemd, enable and start them; RuntimeError when systemd does not run here."""
    if not Path("/run/systemd/system").is_dir() or shutil.which("systemctl") is None:
        raise RuntimeError("systemd is not running on this host (no /run/systemd/system); run without --systemd "
                           "to start the processes detached")
    written = write_units(layout, kubelet=kubelet, server=server, unit_dir=unit_dir)
    for args in (["daemon-reload"], ["enable", "--now", *(p.name for p in written)]):
        result = subprocess.run(["systemctl", *args], capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            raise RuntimeError(f"systemctl {' '.join(args)} failed: {result.stderr.strip()}")
    return written
