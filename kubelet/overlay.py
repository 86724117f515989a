"""The cluster network on this host: a bridge joined to every other node's by VXLAN, with a static FDB.

Each host has a bridge holding the network's first address (the same address and MAC on every
host: an anycast gateway, so a container keeps its gateway when it moves) and a VXLAN device
without learning. Its forwarding table is written from the API: one all-zeros entry per other
node (where broadcasts such as ARP go) and one entry per remote container's MAC (where its
unicast goes). `plan_fdb` works out the changes as a pure function; `apply_fdb` makes them with
iproute2's `bridge`, as kubelet.network does with `ip`. Outbound traffic leaves through the host's
uplink masqueraded (nftables), as LXC's own lxcbr0 does.
"""
from __future__ import annotations

import hashlib
import ipaddress
import logging
import re
import shutil
import socket
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from kubelet import hostfeatures
from kubelet.lxcconfig import hwaddr_for
from kubelet.network import NetworkError, bridge_exists
from schemas.base import Obj

__all__ = [
    "FLOOD",
    "MTU",
    "FdbPlan",
    "OverlayDevices",
    "apply_fdb",
    "desired_fdb",
    "detect_address",
    "gateway_mac",
    "plan_fdb",
    "read_fdb",
    "teardown",
]

log = logging.getLogger("dlxc.kubelet")

FLOOD = "00:00:00:00:00:00"  # the VXLAN FDB's "every peer" entry: broadcasts and unknown unicast go to each
MTU = 1450  # 1500 less VXLAN's 50 bytes of outer headers; containers on the network use it too
_FDB_LINE = re.compile(r"^([0-9a-f:]{17}) dst (\S+)")


def _run(*args: str, tolerate: tuple[str, ...] = ()) -> str:
    result = subprocess.run(list(args), capture_output=True, text=True, check=False)
    if result.returncode != 0 and not any(t in result.stderr for t in tolerate):
        raise NetworkError(f"{' '.join(args)}: {result.stderr.strip() or f'exit {result.returncode}'}")
    return result.stdout


def gateway_mac(network: ipaddress.IPv4Network) -> str:
    """The gateway's MAC, the same on every host of the cluster network (derived from the network)."""
    digest = hashlib.sha256(f"dlxc-gateway {network}".encode()).digest()
    return ":".join(f"{b:02x}" for b in ((digest[0] & 0xFC) | 0x02, *digest[1:6]))


def detect_address(server: str) -> ipaddress.IPv4Address:
    """The local address this host uses to reach `server` (host or URL): what other nodes can reach it by."""
    host = server.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0].strip("[]")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.connect((socket.gethostbyname(host), 9))  # UDP connect sends nothing; it only picks a route
        return ipaddress.IPv4Address(sock.getsockname()[0])


# ---- planning: pure ----


@dataclass(frozen=True)
class FdbPlan:
    add: tuple[tuple[str, str], ...] = ()
    remove: tuple[tuple[str, str], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.add or self.remove)


def desired_fdb(nodes: Iterable[Obj], containers: Iterable[Obj], *, node_name: str, local: str) -> set[tuple[str, str]]:
    """(MAC, peer address) entries this host's VXLAN device should hold.

    Every other node with a tunnel address gets a flood entry, Ready or not: a partitioned node
    is still where its containers are, and keeping it means the overlay heals when the link does.
    A node at this host's own address (several kubelets on one host) is no peer. Each container
    on the cluster network bound to a peer gets a MAC entry, so its unicast goes to that peer only.
    """
    tunnels: dict[str, str] = {}
    for node in nodes:
        name = node["metadata"]["name"]
        address = (node.get("status") or {}).get("tunnelAddress")
        if name != node_name and address and address != local:
            tunnels[name] = address
    wanted = {(FLOOD, address) for address in tunnels.values()}
    for obj in containers:
        spec = obj.get("spec") or {}
        network = spec.get("network") or {}
        if network.get("type", "cluster") != "cluster" or obj["metadata"].get("deletionTimestamp"):
            continue
        peer = tunnels.get(spec.get("nodeName") or "")
        if peer:
            wanted.add((hwaddr_for(obj["metadata"]["name"]), peer))
    return wanted


def plan_fdb(current: set[tuple[str, str]], wanted: set[tuple[str, str]]) -> FdbPlan:
    """The entries to add and to remove, flood entries first added and last removed (sorted for replay)."""
    return FdbPlan(
        add=tuple(sorted(wanted - current, key=lambda e: (e[0] != FLOOD, e))),
        remove=tuple(sorted(current - wanted, key=lambda e: (e[0] == FLOOD, e))),
    )


# ---- acting: iproute2 and nftables ----


def vxlan_name(bridge: str) -> str:
    return f"{bridge[:12]}-vx"


def read_fdb(vxlan: str) -> set[tuple[str, str]]:
    """The VXLAN device's own (MAC, dst) entries."""
    out = _run("bridge", "fdb", "show", "dev", vxlan)
    return {(m.group(1), m.group(2)) for m in map(_FDB_LINE.match, out.splitlines()) if m}


def apply_fdb(vxlan: str, fdb_plan: FdbPlan) -> None:
    for mac, dst in fdb_plan.add:
        _run("bridge", "fdb", "append", mac, "dev", vxlan, "dst", dst, "self", "permanent", tolerate=("File exists",))
    for mac, dst in fdb_plan.remove:
        _run("bridge", "fdb", "del", mac, "dev", vxlan, "dst", dst, "self", tolerate=("No such file", "Cannot find"))


def nat_rules(table: str, network: ipaddress.IPv4Network) -> str:
    """nft input that (re)creates `table` masquerading `network`'s traffic to anywhere else; safe to repeat."""
    return (
        f"table ip {table} {{}}\n"
        f"flush table ip {table}\n"
        f"table ip {table} {{\n"
        f"  chain post {{\n"
        f"    type nat hook postrouting priority srcnat; policy accept;\n"
        f"    ip saddr {network} ip daddr != {network} masquerade\n"
        f"  }}\n"
        f"}}\n"
    )


def _nat_table(bridge: str) -> str:
    return f"dlxc-{bridge}"


@dataclass
class OverlayDevices:
    """This host's bridge and VXLAN device of the cluster network `network`."""

    bridge: str
    network: ipaddress.IPv4Network
    local: ipaddress.IPv4Address
    vni: int = 88
    port: int = 4789
    nat: bool = True  # masquerade outbound traffic (turns on IPv4 forwarding in this network namespace)
    vxlan: str = field(init=False)

    def __post_init__(self) -> None:
        self.vxlan = vxlan_name(self.bridge)

    @property
    def gateway(self) -> ipaddress.IPv4Interface:
        return ipaddress.IPv4Interface(f"{self.network.network_address + 1}/{self.network.prefixlen}")

    def ensure(self) -> None:
        """Make the bridge, its gateway address and MAC, and NAT exist; safe to repeat,
        and shared by several kubelets on one host."""
        if not bridge_exists(self.bridge):
            if Path("/sys/class/net", self.bridge).exists():
                raise NetworkError(f"interface {self.bridge} exists and is not a bridge")
            _run("ip", "link", "add", "name", self.bridge, "type", "bridge", tolerate=("File exists",))
        _run("ip", "link", "set", "dev", self.bridge, "address", gateway_mac(self.network), "mtu", str(MTU))
        _run("ip", "addr", "replace", self.gateway.with_prefixlen, "dev", self.bridge)
        _run("ip", "link", "set", "dev", self.bridge, "up")
        if self.nat:
            self._nat()

    def vxlan_exists(self) -> bool:
        return Path("/sys/class/net", self.vxlan).exists()

    def ensure_vxlan(self) -> None:
        """The VXLAN port, made when the first peer appears: a host alone (`dlxc up`) needs none, and
        several clusters on one test host could not each hold VNI and port on one address."""
        if not Path("/sys/class/net", self.vxlan).exists():
            _run("ip", "link", "add", self.vxlan, "type", "vxlan", "id", str(self.vni), "dstport", str(self.port),
                 "local", str(self.local), "nolearning", tolerate=("File exists",))
        _run("ip", "link", "set", "dev", self.vxlan, "mtu", str(MTU), "master", self.bridge, "up")

    def _nat(self) -> None:
        enable_forwarding()
        if shutil.which("nft") is None:
            log.warning("nft is missing: containers on %s get no outbound NAT", self.network)
            return
        table = _nat_table(self.bridge)
        result = subprocess.run(["nft", "-f", "-"], input=nat_rules(table, self.network), capture_output=True, text=True, check=False)
        if result.returncode != 0:
            # Containers still reach each other; only the way out is missing, and the log says why.
            log.warning("outbound NAT for %s not set up: nft: %s", self.network, result.stderr.strip())


IP_FORWARD = Path("/proc/sys/net/ipv4/ip_forward")
# Written when dlxc turned forwarding on, so the last cluster network's teardown can turn it off
# again: the host is left as found (Docker and LXD leave it on for good).
FORWARD_RECORD = Path("/run/dlxc/ip_forward.before")


def enable_forwarding(sysctl: Path = IP_FORWARD, record: Path = FORWARD_RECORD) -> None:
    """Routing is what NAT needs; remember that it was off before we turned it on."""
    if sysctl.read_text().strip() == "1":
        return
    # A network namespace of its own (a simulated host) takes its setting with it when it goes.
    if hostfeatures.private_namespace("net") is False:
        record.parent.mkdir(parents=True, exist_ok=True)
        if not record.exists():
            record.write_text("0\n")
    sysctl.write_text("1\n")


def restore_forwarding(*, networks_left: bool, sysctl: Path = IP_FORWARD, record: Path = FORWARD_RECORD) -> None:
    """Turn forwarding off again if dlxc turned it on and no cluster network of any dlxc is left here."""
    if networks_left or not record.exists():
        return
    sysctl.write_text(record.read_text())
    record.unlink()


def _nat_tables_left() -> bool:
    result = subprocess.run(["nft", "list", "tables", "ip"], capture_output=True, text=True, check=False)
    return any(line.split()[-1].startswith("dlxc-") for line in result.stdout.splitlines() if line.strip())


def teardown(bridge: str) -> None:
    """Remove the cluster network's bridge, VXLAN device, NAT table and cluster isolation table from this host, if there."""
    for name in (vxlan_name(bridge), bridge):
        if Path("/sys/class/net", name).exists():
            _run("ip", "link", "del", "dev", name, tolerate=("Cannot find device",))
    if shutil.which("nft"):
        subprocess.run(["nft", "delete", "table", "ip", _nat_table(bridge)], capture_output=True, check=False)
        # The cluster isolation table (kubelet.isolation), named the same way; not imported, to keep this module alone.
        subprocess.run(["nft", "delete", "table", "bridge", f"dlxc-iso-{bridge}"], capture_output=True, check=False)
        restore_forwarding(networks_left=_nat_tables_left())
