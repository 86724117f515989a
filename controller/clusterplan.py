"""What a ContainerCluster's parts should be, worked out from the cluster and what exists: no I/O here.

A cluster NAME is a Container NAME-frontend (hostname frontend) and a ContainerSet NAME-nodes whose
members are NAME-node1..NAME-nodeN (hostnames node1..nodeN; numbers in spec.skipNodes left out, so
removing node2 keeps node3's name). Every member carries the /etc/hosts lines of every member that
has an address (HOSTS_ANNOTATION): spec.network.ipv4, which the apiserver gives a member when it is
created, so the names resolve before it runs. Once every member runs, each also gets the
contextualization to run at first boot (CONTEXT_ANNOTATION), so the scripts find every peer up.
"""
from __future__ import annotations

import json

from schemas.base import Obj
from schemas.containercluster import node_numbers
from schemas.wire import CLUSTER_LABEL, CLUSTER_ROLE_LABEL, CONTEXT_ANNOTATION, HOSTS_ANNOTATION, NODE_HOOKS_ANNOTATION

__all__ = [
    "cluster_status",
    "domain_of",
    "frontend_name",
    "frontend_object",
    "frontend_outdated",
    "hosts_lines",
    "member_address",
    "member_annotations",
    "members_started",
    "node_names",
    "numbers_of",
    "set_name",
    "set_object",
]


def frontend_name(name: str) -> str:
    return f"{name}-frontend"


def set_name(name: str) -> str:
    return f"{name}-nodes"


def numbers_of(cluster: Obj) -> list[int]:
    spec = cluster["spec"]
    return node_numbers(spec.get("skipNodes") or [], spec["nodes"])


def node_names(cluster: Obj) -> list[tuple[str, str]]:
    """(member name, hostname) of every working node the cluster wants."""
    name = cluster["metadata"]["name"]
    return [(f"{name}-node{i}", f"node{i}") for i in numbers_of(cluster)]


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
            "skipOrdinals": list(cluster["spec"].get("skipNodes") or []),
            "hostnamePrefix": "node",
            "template": {
                "metadata": {"labels": _labels(cluster, "node")},
                "spec": {**_spec(cluster, cluster["spec"]["workingNodeImage"]), "antiAffinity": {"group": name, "mode": "preferred"}},
            },
        },
    }


def _live(obj: Obj | None) -> bool:
    return obj is not None and not obj["metadata"].get("deletionTimestamp")


def member_address(obj: Obj | None) -> str | None:
    """A live member's address: spec.network.ipv4 (given at create, so known before it runs), else the reported one."""
    if not _live(obj):
        return None
    assert obj is not None
    network = (obj.get("spec") or {}).get("network") or {}
    if network.get("type", "cluster") == "cluster" and network.get("ipv4"):
        return str(network["ipv4"]).split("/", 1)[0]
    return (obj.get("status") or {}).get("ip")


def hosts_lines(cluster: Obj, members: dict[str, Obj]) -> tuple[list[str], bool]:
    """The /etc/hosts lines of every wanted member with an address, and whether all of them have one."""
    name, domain = cluster["metadata"]["name"], domain_of(cluster)
    wanted = [(frontend_name(name), "frontend"), *node_names(cluster)]
    lines, complete = [], True
    for member, host in wanted:
        ip = member_address(members.get(member))
        if ip:
            lines.append(f"{ip} {host}.{domain} {host} {member}")
        else:
            complete = False
    return lines, complete


def members_started(cluster: Obj, members: dict[str, Obj]) -> bool:
    """Whether every wanted member runs (has reported its address): only then are the context scripts and
    the front-end's node hooks handed out, so a script or an add-node hook finds its peers up, not
    only named."""
    name = cluster["metadata"]["name"]
    wanted = [frontend_name(name), *(n for n, _ in node_names(cluster))]
    return all(_live(members.get(m)) and ((members[m].get("status") or {}).get("ip")) for m in wanted)


def _context(cluster: Obj, role: str) -> str:
    name = cluster["metadata"]["name"]
    env = {
        "DLXC_CLUSTER": name,
        "DLXC_ROLE": role,
        "DLXC_FRONTEND": "frontend",
        "DLXC_NODES": " ".join(host for _, host in node_names(cluster)),
    }
    scripts = [[s["name"], s["script"]] for s in cluster["spec"].get("context") or []]
    return json.dumps({"env": env, "scripts": scripts}, sort_keys=True)


def _node_hooks(cluster: Obj) -> str:
    name = cluster["metadata"]["name"]
    nodes = [host for _, host in node_names(cluster)]
    env = {"DLXC_CLUSTER": name, "DLXC_ROLE": "frontend", "DLXC_FRONTEND": "frontend", "DLXC_NODES": " ".join(nodes)}
    add = [[s["name"], s["script"]] for s in cluster["spec"].get("addNode") or []]
    remove = [[s["name"], s["script"]] for s in cluster["spec"].get("removeNode") or []]
    return json.dumps({"nodes": nodes, "env": env, "add": add, "remove": remove}, sort_keys=True)


def member_annotations(cluster: Obj, member: Obj, lines: list[str], complete: bool) -> dict[str, str]:
    """The annotations a member should have: the hosts lines always; the context once, when
    `complete` (every member started, see members_started; kept as first written: the scripts run
    once, a later change is moot); on the front-end, the node list and hooks, updated only when
    `complete` (so a joining node runs and is in /etc/hosts before its add-node hook runs)."""
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


_ROLLED = ("image", "cpu", "memory", "mounts")  # the front-end fields the cluster sets; a change replaces it


def frontend_outdated(cluster: Obj, front: Obj | None, wanted_spec: Obj) -> str | None:
    """How a live front-end differs from what the cluster wants (e.g. "image busybox -> debian"), or None.

    `wanted_spec` is frontend_object's spec in wire form (defaults filled in, as stored), so an
    equal value compares equal. Like a set's member, the front-end is replaced, not changed in
    place: a new image is a new root file system."""
    if not _live(front):
        return None
    assert front is not None
    have = front.get("spec") or {}
    changes = [f"{key} {_show(have.get(key))} -> {_show(wanted_spec.get(key))}"
               for key in _ROLLED if have.get(key) != wanted_spec.get(key)]
    return ", ".join(changes) or None


def _show(value: object) -> str:
    if value is None:
        return "none"
    if isinstance(value, list):
        return ",".join(f"{m.get('hostPath')}:{m.get('path')}" if isinstance(m, dict) else str(m) for m in value) or "none"
    return str(value)


def _updated(cluster: Obj, rows: list[Obj], *, front: Obj | None, front_change: str | None, node_set: Obj | None) -> Obj:
    """The Updated condition: whether every member is on the spec's images (and the nodes' rollout did not stop)."""
    spec = cluster["spec"]
    failed = next((c for c in ((node_set or {}).get("status") or {}).get("conditions", [])
                   if c.get("type") == "Progressing" and c.get("reason") == "UpdateFailed"), None)
    if failed is not None:
        return {"type": "Updated", "status": "False", "reason": "UpdateFailed", "message": f"nodes: {failed.get('message', '')}"}
    behind = []
    if front_change:
        behind.append(f"front-end being replaced ({front_change})")
    elif front is not None and not _live(front):
        behind.append("front-end being replaced (the old one is being deleted)")
    old_nodes = [r["hostname"] for r in rows if r["role"] == "node" and r.get("image") and r["image"] != spec["workingNodeImage"]]
    if old_nodes:
        behind.append(f"nodes rolling to {spec['workingNodeImage']}: {' '.join(old_nodes)} still on the old image")
    if behind:
        return {"type": "Updated", "status": "False", "reason": "Updating", "message": "; ".join(behind)}
    return {"type": "Updated", "status": "True", "reason": "UpToDate", "message": "every member is on the spec's images"}


def cluster_status(cluster: Obj, members: dict[str, Obj], *, complete: bool, front_change: str | None = None,
                   node_set: Obj | None = None) -> Obj:
    name = cluster["metadata"]["name"]
    rows, ready = [], 0
    wanted = [(frontend_name(name), "frontend", "frontend")] + [(n, host, "node") for n, host in node_names(cluster)]
    has_context = bool(cluster["spec"].get("context"))
    failed = []
    for member, host, role in wanted:
        obj = members.get(member)
        status = (obj.get("status") or {}) if _live(obj) else {}
        row: Obj = {"name": member, "hostname": host, "role": role, "phase": status.get("phase", "Pending") if obj else "Pending"}
        if ip := member_address(obj):
            row["ip"] = ip
        if _live(obj) and obj is not None and (obj.get("spec") or {}).get("image"):
            row["image"] = obj["spec"]["image"]
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
                        "reason": {"Ready": "AllMembersReady", "Degraded": "ContextFailed"}.get(phase, phase), "message": message},
                       _updated(cluster, rows, front=members.get(frontend_name(name)), front_change=front_change, node_set=node_set)],
    }
