"""What the node hands out to its containers: addresses on the default bridge and whole-core cpu pins."""
from __future__ import annotations

import ipaddress
import os
import threading
from typing import Any

from kubelet import cpus

__all__ = ["Allocator"]


class Allocator:
    def __init__(self, subnet: ipaddress.IPv4Interface) -> None:
        self.subnet = subnet  # the bridge's own address, the containers' gateway
        self.ips: dict[str, ipaddress.IPv4Interface] = {}
        self.cpusets: dict[str, list[int]] = {}
        self.online_cpus = sorted(os.sched_getaffinity(0))
        # desired() runs in worker threads; addresses and cpus are handed out under this lock.
        self.lock = threading.Lock()

    def allocate_ip(self, name: str) -> ipaddress.IPv4Interface | None:
        """The container's address, kept for as long as it exists; None when the subnet is full. Hold the lock."""
        if name in self.ips:
            return self.ips[name]
        gateway = self.subnet
        taken = {iface.ip for iface in self.ips.values()} | {gateway.ip}
        for host in gateway.network.hosts():
            if host not in taken:
                self.ips[name] = ipaddress.IPv4Interface(f"{host}/{gateway.network.prefixlen}")
                return self.ips[name]
        return None

    def pin_cpus(self, name: str, cores: int | None) -> str | None:
        """The cpuset for a container asking for whole cores, or None (and no pin) for a fractional limit. Hold the lock."""
        if cores is None:
            self.cpusets.pop(name, None)
            return None
        self.cpusets[name] = cpus.pick_cpus(cores, self.online_cpus, self.cpusets, name=name)
        return cpus.format_cpuset(self.cpusets[name])

    def release(self, name: str) -> None:
        with self.lock:
            self.ips.pop(name, None)
            self.cpusets.pop(name, None)

    def recover(self, runtime: Any) -> None:
        """Addresses and cpu pins in existing configs stay with their containers across kubelet restarts."""
        for name in runtime.names():
            found = runtime.inspect(name)
            if found is None:
                continue
            for key, value in found.items:
                if key == "lxc.net.0.ipv4.address":
                    self.ips[name] = ipaddress.IPv4Interface(value)
                elif key in ("lxc.cgroup.cpuset.cpus", "lxc.cgroup2.cpuset.cpus"):
                    try:
                        self.cpusets[name] = cpus.parse_cpuset(value)
                    except ValueError:
                        pass
