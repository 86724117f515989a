"""What a ContainerCluster's parts should be, worked out from the cluster and what exists: no I/O here.

A cluster NAME is a Container NAME-frontend (hostname frontend) and a ContainerSet NAME-nodes whose
members are NAME-node1..NAME-nodeN (hostnames node1..nodeN). Every member carries the /etc/hosts
lines of every member that has an address (HOSTS_ANNOTATION) and, once all of them have one, the
contextualization to run at first boot (CONTEXT_ANNOTATION), so the scripts see every name.
"""
from __future__ import annotations

import json

from schemas.base import Obj
from schemas.wire import CLUSTER_LABEL, CLUSTER_ROLE_LABEL, CONTEXT_ANNOTATION, HOSTS_ANNOTATION, NODE_HOOKS_ANNOTATION

__all__ = [
    "cluster_status",
    "domain_of",
    "frontend_name",
    "frontend_object",
    "hosts_lines",
    "member_annotations",
    "node_names",
    "set_name",
    "set_object",
]


def frontend_name(name: str) -> str:
    return f"{name}-frontend"


def set_name(name: str) -> str:
    return f"{name}-nodes"


def node_names(name: str, count: int) -> list[str]:
    return [f"{name}-node{i}" for i in range(1, count + 1)]


def domain_of(cluster: Obj) -> str:
    return cluster["spec"].get("domain") or f"{cluster['metadata']['name']}.cluster"


def _owner(cluster: Obj) -> list[Obj]:
    meta = cluster["metadata"]
    return [{"apiVersion": "dlxc.io/v1", "kind": "ContainerCluster", "name": meta["name"], "uid": meta.get("uid", ""), "controller": True}]


def _labels(cluster: Obj, role: str) -> dict[str, str]:
    return {CLUSTER_LABEL: cluster["metadata"]["name"], CLUSTER_ROLE_LABEL: role}


def _spec(cluster: Obj, image: str) -> Obj:
    spec = cluster["spec"]
    out: Obj = {"image": image}
    for key in ("cpu", "memory"):
        if spec.get(key) is not None:
            out[key] = spec[key]
    if spec.get("home"):
        out["mounts"] = [{"hostPath": spec["home"]["hostPath"], "path": "/home"}]
    return out


def frontend_object(cluster: Obj) -> Obj:
    name = cluster["metadata"]["name"]
    return {
        "apiVersion": "dlxc.io/v1",
        "kind": "Container",
        "metadata": {"name": frontend_name(name), "labels": _labels(cluster, "frontend"), "ownerReferences": _owner(cluster)},
        "spec": {**_spec(cluster, cluster["spec"]["frontEndImage"]), "hostname": "frontend",
                 "antiAffinity": {"group": name, "mode": "preferred"}},
    }


def set_object(cluster: Obj) -> Obj:
    name = cluster["metadata"]["name"]
    return {
        "apiVersion": "dlxc.io/v1",
        "kind": "ContainerSet",
        "metadata": {"name": set_name(name), "labels": _labels(cluster, "node"), "ownerReferences": _owner(cluster)},
        "spec": {
            "replicas": cluster["spec"]["nodes"],
            "memberPrefix": f"{name}-node",
            "ordinalStart": 1,
            "hostnamePrefix": "node",
            "template": {
                "metadata": {"labels": _labels(cluster, "node")},
                "spec": {**_spec(cluster, cluster["spec"]["workingNodeImage"]), "antiAffinity": {"group": name, "mode": "preferred"}},
            },
        },
    }


def _live(obj: Obj | None) -> bool:
    return obj is not None and not obj["metadata"].get("deletionTimestamp")


def hosts_lines(cluster: Obj, members: dict[str, Obj]) -> tuple[list[str], bool]:
    """The /etc/hosts lines of every wanted member with an address, and whether all of them have one."""
    name, domain = cluster["metadata"]["name"], domain_of(cluster)
    wanted = [(frontend_name(name), "frontend")] + [(n, f"node{i}") for i, n in enumerate(node_names(name, cluster["spec"]["nodes"]), 1)]
    lines, complete = [], True
    for member, host in wanted:
        obj = members.get(member)
        ip = (obj.get("status") or {}).get("ip") if _live(obj) else None
        if ip:
            lines.append(f"{ip} {host}.{domain} {host} {member}")
        else:
            complete = False
    return lines, complete


def _context(cluster: Obj, role: str) -> str:
    name = cluster["metadata"]["name"]
    env = {
        "DLXC_CLUSTER": name,
        "DLXC_ROLE": role,
        "DLXC_FRONTEND": "frontend",
        "DLXC_NODES": " ".join(f"node{i}" for i in range(1, cluster["spec"]["nodes"] + 1)),
    }
    scripts = [[s["name"], s["script"]] for s in cluster["spec"].get("context") or []]
    return json.dumps({"env": env, "scripts": scripts}, sort_keys=True)


def _node_hooks(cluster: Obj) -> str:
    name, count = cluster["metadata"]["name"], cluster["spec"]["nodes"]
    nodes = [f"node{i}" for i in range(1, count + 1)]
    env = {"DLXC_CLUSTER": name, "DLXC_ROLE": "frontend", "DLXC_FRONTEND": "frontend", "DLXC_NODES": " ".join(nodes)}
    add = [[s["name"], s["script"]] for s in cluster["spec"].get("addNode") or []]
    remove = [[s["name"], s["script"]] for s in cluster["spec"].get("removeNode") or []]
    return json.dumps({"nodes": nodes, "env": env, "add": add, "remove": remove}, sort_keys=True)


def member_annotations(cluster: Obj, member: Obj, lines: list[str], complete: bool) -> dict[str, str]:
    """The annotations a member should have: the hosts lines always; the context once, when every
    member has an address (kept as first written: the scripts run once, a later change is moot);
    on the front-end, the node list and hooks, updated only when every member has an address (so a
    joining node is in /etc/hosts before its add-node hook runs)."""
    current = member["metadata"].get("annotations") or {}
    wanted = {HOSTS_ANNOTATION: ";".join(lines)}
    spec = cluster["spec"]
    role = (member["metadata"].get("labels") or {}).get(CLUSTER_ROLE_LABEL)
    if role == "frontend" and (spec.get("addNode") or spec.get("removeNode")):
        if complete:
            wanted[NODE_HOOKS_ANNOTATION] = _node_hooks(cluster)
        elif NODE_HOOKS_ANNOTATION in current:
            wanted[NODE_HOOKS_ANNOTATION] = current[NODE_HOOKS_ANNOTATION]
    if CONTEXT_ANNOTATION in current:
        wanted[CONTEXT_ANNOTATION] = current[CONTEXT_ANNOTATION]
    elif complete and cluster["spec"].get("context"):
        role = (member["metadata"].get("labels") or {}).get(CLUSTER_ROLE_LABEL, "node")
        wanted[CONTEXT_ANNOTATION] = _context(cluster, role)
    return wanted


def _context_of(member: Obj) -> str:
    cond = next((c for c in (member.get("status") or {}).get("conditions", []) if c.get("type") == "Contextualized"), None)
    if cond is None:
        return "Pending"
    if cond.get("status") == "True":
        return "Done"
    return f"Failed: {cond.get('message', '')}"


def cluster_status(cluster: Obj, members: dict[str, Obj], *, complete: bool) -> Obj:
    name = cluster["metadata"]["name"]
    rows, ready = [], 0
    wanted = [(frontend_name(name), "frontend", "frontend")] + [
        (n, f"node{i}", "node") for i, n in enumerate(node_names(name, cluster["spec"]["nodes"]), 1)]
    has_context = bool(cluster["spec"].get("context"))
    failed = []
    for member, host, role in wanted:
        obj = members.get(member)
        status = (obj.get("status") or {}) if _live(obj) else {}
        row: Obj = {"name": member, "hostname": host, "role": role, "phase": status.get("phase", "Pending") if obj else "Pending"}
        if status.get("ip"):
            row["ip"] = status["ip"]
        if has_context and obj is not None:
            row["context"] = _context_of(obj)
            if row["context"].startswith("Failed"):
                failed.append(f"{member}: {row['context'].removeprefix('Failed: ')}")
        running = row["phase"] == "Running" and (not has_context or row.get("context") == "Done")
        ready += running
        rows.append(row)
    if cluster["metadata"].get("deletionTimestamp"):
        phase = "Terminating"
    elif failed:
        phase = "Degraded"
    elif ready == len(wanted) and complete:
        phase = "Ready"
    else:
        phase = "Pending"
    message = "; ".join(failed) if failed else f"{ready}/{len(wanted)} members ready"
    return {
        "phase": phase,
        "members": rows,
        "readyMembers": ready,
        "observedGeneration": cluster["metadata"].get("generation"),
        "conditions": [{"type": "Ready", "status": "True" if phase == "Ready" else "False",
                        "reason": {"Ready": "AllMembersReady", "Degraded": "ContextFailed"}.get(phase, phase), "message": message}],
    }
