"""Each ContainerCluster its own network: nftables rules on the cluster bridge pass a member's traffic only to its own cluster.

The members of every ContainerCluster (containers labelled dlxc.io/cluster, with their
spec.network.ipv4) share the one cluster network; a bridge-family table drops every frame
bridged or sent from this host between a member and another address of that network outside the
member's own cluster, in either direction. What stays open: members of one cluster among
themselves, the gateway (the host), traffic to and from outside the cluster network (outbound
NAT and its replies), and containers outside any cluster among themselves. The rules are
stateless, so a reply is judged like the request it answers. Every host writes the same rules
from the same Containers, so traffic between hosts is filtered at both ends.
`isolation_rules` is pure; `apply` hands its text to `nft -f` as one transaction.
"""
from __future__ import annotations

import ipaddress
import logging
import shutil
import subprocess
from collections.abc import Iterable

from schemas.base import Obj
from schemas.wire import CLUSTER_LABEL

__all__ = ["cluster_addresses", "isolation_rules", "remove", "table_name", "apply"]

log = logging.getLogger("dlxc.kubelet")


def table_name(bridge: str) -> str:
    return f"dlxc-iso-{bridge}"


def cluster_addresses(containers: Iterable[Obj]) -> dict[str, list[str]]:
    """Cluster name -> its members' addresses on the cluster network (sorted), from the Containers.

    A member being deleted is kept until it is gone: it still runs, and still must not reach out."""
    found: dict[str, set[str]] = {}
    for obj in containers:
        cluster = (obj["metadata"].get("labels") or {}).get(CLUSTER_LABEL)
        network = (obj.get("spec") or {}).get("network") or {}
        if not cluster or network.get("type", "cluster") != "cluster" or not network.get("ipv4"):
            continue
        found.setdefault(cluster, set()).add(str(ipaddress.IPv4Interface(network["ipv4"]).ip))
    return {name: sorted(ips, key=ipaddress.IPv4Address) for name, ips in sorted(found.items())}


def _elements(ips: list[str]) -> str:
    return f" elements = {{ {', '.join(ips)} }};" if ips else ""


def isolation_rules(table: str, clusters: dict[str, list[str]], network: ipaddress.IPv4Network) -> str:
    """nft input that replaces `table` with rules isolating each cluster of `clusters`; with none, removes it.

    One set per cluster (named c0, c1, ... in the order of the cluster names; nft names are short)
    and one of every member. The first matching rule wins: the gateway passes; a frame inside one
    cluster passes; a frame between a member and any other address of `network` is dropped; the
    rest passes, so a member's traffic to the world outside the network and its replies (NAT) flow."""
    text = f"table bridge {table} {{}}\ndelete table bridge {table}\n"
    if not clusters:
        return text
    gateway = network.network_address + 1
    everyone = sorted({ip for ips in clusters.values() for ip in ips}, key=ipaddress.IPv4Address)
    lines = [f"table bridge {table} {{", f"  set members {{ type ipv4_addr;{_elements(everyone)} }}"]
    rules = [f"    ip saddr {gateway} accept", f"    ip daddr {gateway} accept"]
    for index, (name, ips) in enumerate(clusters.items()):
        lines.append(f"  set c{index} {{ type ipv4_addr;{_elements(ips)} comment \"cluster {name}\"; }}")
        rules.append(f"    ip saddr @c{index} ip daddr @c{index} accept")
    rules += [f"    ip saddr @members ip daddr {network} drop", f"    ip saddr {network} ip daddr @members drop"]
    lines += ["  chain isolate {", *rules, "  }",
              # forward: between two ports of the bridge (two containers, or a container and the VXLAN port);
              # output: what this host's own stack sends into the bridge (a member routed back via the gateway).
              "  chain forward { type filter hook forward priority filter; policy accept; jump isolate; }",
              "  chain output { type filter hook output priority filter; policy accept; jump isolate; }",
              "}"]
    return text + "\n".join(lines) + "\n"


def apply(text: str) -> bool:
    """Load the rules (one atomic `nft -f`); False, with a warning, when nft is missing or refuses them."""
    if shutil.which("nft") is None:
        log.warning("nft is missing: ContainerClusters on the cluster network are not isolated from each other")
        return False
    result = subprocess.run(["nft", "-f", "-"], input=text, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        log.warning("cluster isolation rules not loaded: nft: %s", result.stderr.strip())
        return False
    return True


def remove(bridge: str) -> None:
    if shutil.which("nft"):
        subprocess.run(["nft", "delete", "table", "bridge", table_name(bridge)], capture_output=True, check=False)
