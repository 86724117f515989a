"""Hosts as network namespaces on one test-made "LAN" bridge, each driven through the dlxc CLI.

Each host is an `ip netns` with a veth on the shared bridge and an address of its own; commands
run inside it with a fresh /sys (so LXC sees the namespace's bridges) and the host's cgroup tree
mounted again (which `ip netns exec` would hide), in a mount namespace of their own that the
detached processes `dlxc init` / `dlxc join` start keep alive. Every host has its own --state-dir
(config, credentials, logs, pki, data, lxcpath). The test process reaches the hosts through the
bridge's own address. `close()` removes every process, container, namespace, veth and the bridge,
on failure too. Used by tests/e2e/test_multihost.py and to capture docs/multi-host.md.
"""
from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from netnodes import _run, spread

__all__ = ["Host", "MultiHost", "lan", "ok"]


@dataclass
class Host:
    name: str
    ns: str
    veth: str
    peer: str
    address: str
    state_dir: Path


@dataclass
class MultiHost:
    tmp: Path
    lxc_root: Path  # 0711: a container's rootfs must be reachable by its unprivileged root
    hosts: list[Host] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.tag = secrets.token_hex(2)
        self.octet = spread(100, 150)  # apart from another xdist worker's test LAN
        self.bridge = f"dtj{self.tag}"
        self.gateway = f"10.253.{self.octet}.254"
        self.config = self.tmp / "admin-config.yaml"
        _run("ip", "link", "add", self.bridge, "type", "bridge")
        _run("ip", "addr", "add", f"{self.gateway}/24", "dev", self.bridge)
        _run("ip", "link", "set", self.bridge, "up")

    def add_host(self, name: str) -> Host:
        index = len(self.hosts)
        host = Host(
            name=name, ns=f"dtjns{self.tag}{index}", veth=f"dtjv{self.tag}{index}", peer=f"dtjp{self.tag}{index}",
            address=f"10.253.{self.octet}.{index + 1}", state_dir=self.lxc_root / f"host-{self.tag}-{name}",
        )
        self.hosts.append(host)
        _run("ip", "netns", "add", host.ns)
        _run("ip", "link", "add", host.veth, "type", "veth", "peer", "name", host.peer)
        _run("ip", "link", "set", host.peer, "netns", host.ns)
        _run("ip", "link", "set", host.veth, "master", self.bridge)
        _run("ip", "link", "set", host.veth, "up")
        _run("ip", "netns", "exec", host.ns, "ip", "addr", "add", f"{host.address}/24", "dev", host.peer)
        _run("ip", "netns", "exec", host.ns, "ip", "link", "set", host.peer, "up")
        _run("ip", "netns", "exec", host.ns, "ip", "link", "set", "lo", "up")
        _run("ip", "netns", "exec", host.ns, "ip", "route", "add", "default", "via", self.gateway)
        return host

    def env(self) -> dict[str, str]:
        """What a user's shell on a host has: the admin config `init` wrote, no server or token overrides."""
        env = {k: v for k, v in os.environ.items() if k not in ("DLXC_SERVER", "DLXC_TOKEN", "DLXC_STATE_DIR", "DLXC_NODE_NAME")}
        # lxcfs is one per machine; the simulated hosts share this one's filesystem, so none starts its own.
        return {**env, "DLXC_CONFIG": str(self.config), "DLXC_LXCFS": "false"}

    def enter(self, host: Host) -> list[str]:
        hold = self.tmp / f"cgroup-{host.name}"
        hold.mkdir(exist_ok=True)
        script = (
            f"mount --rbind /sys/fs/cgroup {hold} && umount -l /sys && mount -t sysfs sysfs /sys && "
            f"mount --move {hold} /sys/fs/cgroup && exec \"$@\""
        )
        return ["nsenter", f"--net=/run/netns/{host.ns}", "unshare", "--mount", "--propagation", "slave", "sh", "-c", script, "sh"]

    def dlxc(self, host: Host | None, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
        """`dlxc ARGS` typed on `host` (None: on the test machine, reaching the hosts over the bridge)."""
        prefix = self.enter(host) if host is not None else []
        return subprocess.run([*prefix, sys.executable, "-m", "dlxc", *args], env=self.env(), capture_output=True, text=True, timeout=timeout)

    def close(self) -> None:
        for host in reversed(self.hosts):
            if host.state_dir.exists():
                self.dlxc(host, "reset", "--state-dir", str(host.state_dir), "--yes", timeout=120)
            # Whatever reset could not stop (it failed, or never ran): by the recorded pids, still those processes.
            from dlxc.cluster.supervisor import Supervisor

            for pid in Supervisor(host.state_dir / "data" / "pids.json", host.state_dir / "logs", host.state_dir).running().values():
                try:
                    os.killpg(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            lxc = host.state_dir / "data" / "lxc"
            if lxc.is_dir():
                for entry in lxc.iterdir():
                    _run("ip", "netns", "exec", host.ns, "lxc-stop", "-k", "-P", str(lxc), "-n", entry.name, check=False)
                    _run("ip", "netns", "exec", host.ns, "lxc-destroy", "-P", str(lxc), "-n", entry.name, check=False)
            _run("ip", "link", "del", host.veth, check=False)
            _run("ip", "netns", "del", host.ns, check=False)
            shutil.rmtree(host.state_dir, ignore_errors=True)
        _run("ip", "link", "del", self.bridge, check=False)


@pytest.fixture
def lan(lxc_root: Path, tmp_path: Path) -> Iterator[MultiHost]:
    """Namespace hosts for one test, every one of them removed afterwards, on failure too."""
    if os.geteuid() != 0:
        pytest.fail("network-namespace hosts need root")
    hosts = MultiHost(tmp_path, lxc_root)
    try:
        yield hosts
    finally:
        hosts.close()


def ok(result: subprocess.CompletedProcess) -> str:
    """The stdout of a command that must have succeeded; its whole output when it did not."""
    assert result.returncode == 0, f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result.stdout
