"""The systemd units `dlxc init/join --systemd` write: checked by systemd-analyze and line by line."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dlxc.cluster.host import Component, HostLayout
from dlxc.cluster.units import AGENT, SERVER, watchdog_seconds, write_units
from kubelet.settings import LeaseSettings


def kubelet(layout: HostLayout) -> Component:
    return Component("kubelet", [sys.executable, "-m", "dlxc", "kubelet", "--config", str(layout.etc / "agent.yaml")],
                     {"DLXC_CONFIG": str(layout.etc / "kubelet.yaml"), "DLXC_SERVER": "https://10.0.0.1:6443", "DLXC_TOKEN": "secret"})


def sections(text: str) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    current = ""
    for line in text.splitlines():
        if line.startswith("["):
            current = line.strip("[]")
            out[current] = {}
        elif "=" in line:
            key, value = line.split("=", 1)
            out[current][key] = value
    return out


def test_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.fail("systemd-analyze is missing (apt-get install systemd)")
    layout = HostLayout.of(tmp_path / "host")
    written = write_units(layout, kubelet=kubelet(layout), server=True, unit_dir=tmp_path / "units")
    assert [p.name for p in written] == [SERVER, AGENT]
    result = subprocess.run(["systemd-analyze", "verify", *map(str, written)], capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stderr) == (0, "")


def test_agent_unit_restarts_watches_and_never_kills_containers(tmp_path: Path) -> None:
    layout = HostLayout.of(tmp_path / "host")
    write_units(layout, kubelet=kubelet(layout), server=False, unit_dir=tmp_path)
    text = (tmp_path / AGENT).read_text()
    service = sections(text)["Service"]
    assert service["Restart"] == "always"
    assert service["KillMode"] == "process"
    assert service["Type"] == "notify" and service["NotifyAccess"] == "main"
    assert int(service["WatchdogSec"]) < LeaseSettings().fence_timeout
    assert service["Environment"] == f"DLXC_CONFIG={layout.etc / 'kubelet.yaml'}"
    assert service["ExecStart"] == f"{sys.executable} -m dlxc kubelet --config {layout.etc / 'agent.yaml'}"
    assert "secret" not in text  # credentials stay in the 0600 config file
    assert not (tmp_path / SERVER).exists()


def test_server_unit_runs_dlxc_server_of_the_state_dir(tmp_path: Path) -> None:
    layout = HostLayout.of(tmp_path / "host")
    write_units(layout, kubelet=None, server=True, unit_dir=tmp_path)
    service = sections((tmp_path / SERVER).read_text())["Service"]
    assert service["ExecStart"] == f"{sys.executable} -m dlxc server --state-dir {tmp_path / 'host'}"
    assert service["Restart"] == "always"
    assert "KillMode" not in service  # stopping the control plane stops all of it


@pytest.mark.parametrize(
    ("renew", "request_timeout", "fence", "expected"),
    [(1.0, 1.0, 6.0, 5), (2.0, 1.0, 10.0, 8), (1.0, 1.0, 2.5, None)],
    ids=["defaults", "slower", "no-room"],
)
def test_watchdog_lies_between_a_lease_tick_and_the_fence_timeout(renew: float, request_timeout: float, fence: float, expected: int | None) -> None:
    lease = LeaseSettings(renew_interval=renew, request_timeout=request_timeout, fence_timeout=fence)
    if expected is None:
        with pytest.raises(ValueError, match="no watchdog fits"):
            watchdog_seconds(lease)
    else:
        assert watchdog_seconds(lease) == expected
