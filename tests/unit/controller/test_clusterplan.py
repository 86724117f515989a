"""The ContainerCluster plan: its parts, /etc/hosts lines, when the context is handed out, status; delnode's names."""
from __future__ import annotations

import json
from typing import Any

import pytest

from controller.clusterplan import (
    cluster_status, frontend_object, frontend_outdated, hosts_lines, member_annotations, members_started, set_object,
)
from dlxc.cli.cluster import addnode_numbers, delnode_numbers, nodes_spec
from schemas.container import Container
from schemas.wire import CLUSTER_LABEL, CLUSTER_ROLE_LABEL, CONTEXT_ANNOTATION, HOSTS_ANNOTATION


def a_cluster(nodes: int = 2, **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "mc", "uid": "u9", "generation": 1},
            "spec": {"frontEndImage": "debian", "workingNodeImage": "busybox", "nodes": nodes, **spec}}


def member(name: str, ip: str | None, *, role: str = "node", phase: str = "Running", context: str | None = None,
           annotations: dict[str, str] | None = None, ipv4: str | None = None, image: str = "busybox") -> dict[str, Any]:
    status: dict[str, Any] = {"phase": phase}
    if ip:
        status["ip"] = ip
    if context == "done":
        status["conditions"] = [{"type": "Contextualized", "status": "True", "reason": "ContextDone", "message": ""}]
    elif context:
        status["conditions"] = [{"type": "Contextualized", "status": "False", "reason": "ContextFailed", "message": context}]
    spec: dict[str, Any] = {"image": image}
    if ipv4:
        spec["network"] = {"type": "cluster", "ipv4": ipv4}
    return {"metadata": {"name": name, "labels": {CLUSTER_LABEL: "mc", CLUSTER_ROLE_LABEL: role}, "annotations": annotations or {}},
            "spec": spec, "status": status}


def members(*items: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["metadata"]["name"]: m for m in items}


def test_parts() -> None:
    front = frontend_object(a_cluster(home={"hostPath": "/srv/mc/home"}, memory="64Mi"))
    assert front["metadata"]["name"] == "mc-frontend"
    assert front["metadata"]["labels"] == {CLUSTER_LABEL: "mc", CLUSTER_ROLE_LABEL: "frontend"}
    assert front["metadata"]["ownerReferences"][0]["kind"] == "ContainerCluster"
    assert front["spec"] == {"image": "debian", "memory": "64Mi", "mounts": [{"hostPath": "/srv/mc/home", "path": "/home"}],
                             "hostname": "frontend", "antiAffinity": {"group": "mc", "mode": "preferred"}}
    nodes = set_object(a_cluster(3))
    assert nodes["metadata"]["name"] == "mc-nodes"
    assert {k: nodes["spec"][k] for k in ("replicas", "memberPrefix", "ordinalStart", "hostnamePrefix")} == {
        "replicas": 3, "memberPrefix": "mc-node", "ordinalStart": 1, "hostnamePrefix": "node"}
    assert nodes["spec"]["template"]["spec"]["image"] == "busybox"


@pytest.mark.parametrize(
    ("found", "lines", "complete"),
    [
        (members(member("mc-frontend", "10.0.0.2", role="frontend"), member("mc-node1", "10.0.0.3"), member("mc-node2", "10.0.0.4")),
         ["10.0.0.2 frontend.mc.cluster frontend mc-frontend", "10.0.0.3 node1.mc.cluster node1 mc-node1",
          "10.0.0.4 node2.mc.cluster node2 mc-node2"], True),
        (members(member("mc-frontend", "10.0.0.2", role="frontend"), member("mc-node2", None, phase="Creating")),
         ["10.0.0.2 frontend.mc.cluster frontend mc-frontend"], False),
        # node3 left over from a larger cluster is not listed.
        (members(member("mc-frontend", "10.0.0.2", role="frontend"), member("mc-node1", "10.0.0.3"), member("mc-node2", "10.0.0.4"),
                 member("mc-node3", "10.0.0.5")),
         ["10.0.0.2 frontend.mc.cluster frontend mc-frontend", "10.0.0.3 node1.mc.cluster node1 mc-node1",
          "10.0.0.4 node2.mc.cluster node2 mc-node2"], True),
        # The address the apiserver gave at create is known before the member runs, and wins over a reported one.
        (members(member("mc-frontend", None, role="frontend", phase="Pending", ipv4="10.88.0.7/16"),
                 member("mc-node1", "10.0.0.9", ipv4="10.88.0.8/16"), member("mc-node2", None, phase="Creating", ipv4="10.88.0.9/16")),
         ["10.88.0.7 frontend.mc.cluster frontend mc-frontend", "10.88.0.8 node1.mc.cluster node1 mc-node1",
          "10.88.0.9 node2.mc.cluster node2 mc-node2"], True),
    ],
    ids=["all", "partial", "removed-node-dropped", "spec-address-before-running"],
)
def test_hosts_lines(found: dict[str, Any], lines: list[str], complete: bool) -> None:
    assert hosts_lines(a_cluster(), found) == (lines, complete)


def test_context_only_once_every_member_has_an_address() -> None:
    cluster = a_cluster(context=[{"name": "10-a.sh", "script": "echo a\n"}])
    node = member("mc-node1", "10.0.0.3")
    assert member_annotations(cluster, node, ["l1"], False) == {HOSTS_ANNOTATION: "l1"}
    wanted = member_annotations(cluster, node, ["l1", "l2"], True)
    assert json.loads(wanted[CONTEXT_ANNOTATION]) == {
        "env": {"DLXC_CLUSTER": "mc", "DLXC_ROLE": "node", "DLXC_FRONTEND": "frontend", "DLXC_NODES": "node1 node2"},
        "scripts": [["10-a.sh", "echo a\n"]]}
    # Once given, it stays as it was (the scripts ran with it), even when nodes are added.
    given = member("mc-node1", "10.0.0.3", annotations={CONTEXT_ANNOTATION: "first"})
    assert member_annotations(a_cluster(3, context=cluster["spec"]["context"]), given, ["l1"], True)[CONTEXT_ANNOTATION] == "first"
    assert member_annotations(a_cluster(), node, ["l1"], True) == {HOSTS_ANNOTATION: "l1"}  # no scripts, no context


def test_scripts_wait_for_running_peers_though_names_do_not() -> None:
    """With every address given at create, /etc/hosts is complete at once; the context and the front-end's
    hooks still wait until every member runs (has reported its address), so a script finds its peers up."""
    found = members(member("mc-frontend", "10.88.0.7", role="frontend", ipv4="10.88.0.7/16"),
                    member("mc-node1", "10.88.0.8", ipv4="10.88.0.8/16"),
                    member("mc-node2", None, phase="Creating", ipv4="10.88.0.9/16"))
    assert hosts_lines(a_cluster(), found)[1] is True
    assert members_started(a_cluster(), found) is False
    found["mc-node2"]["status"]["ip"] = "10.88.0.9"
    assert members_started(a_cluster(), found) is True
    found["mc-node2"]["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    assert members_started(a_cluster(), found) is False


@pytest.mark.parametrize(
    ("found", "phase", "ready", "message"),
    [
        (members(member("mc-frontend", "1", role="frontend", context="done"), member("mc-node1", "2", context="done"),
                 member("mc-node2", "3", context="done")), "Ready", 3, "3/3 members ready"),
        (members(member("mc-frontend", "1", role="frontend", context="done"), member("mc-node1", "2"),
                 member("mc-node2", "3", context="done")), "Pending", 2, "2/3 members ready"),
        (members(member("mc-frontend", "1", role="frontend", context="done"), member("mc-node1", "2", context="script 20-x.sh exited with code 3"),
                 member("mc-node2", "3", context="done")), "Degraded", 2, "mc-node1: script 20-x.sh exited with code 3"),
    ],
    ids=["ready", "context-pending", "context-failed"],
)
def test_status(found: dict[str, Any], phase: str, ready: int, message: str) -> None:
    status = cluster_status(a_cluster(context=[{"name": "a", "script": "true"}]), found, complete=True)
    assert (status["phase"], status["readyMembers"], status["conditions"][0]["message"]) == (phase, ready, message)
    assert [m["hostname"] for m in status["members"]] == ["frontend", "node1", "node2"]


@pytest.mark.parametrize(
    ("asked", "count", "result"),
    [([], None, [1, 2, 3, 4]), (["node5"], None, [1, 2, 3, 4]), (["mc-node3", "node02"], None, [1, 4, 5]),
     ([], 2, [1, 2, 3]), ([], 9, []),
     (["node7"], None, "'node7' is not a node of cluster mc (its nodes: node1 node2 node3 node4 node5)"),
     (["web"], None, "'web' is not a node of cluster mc (its nodes: node1 node2 node3 node4 node5)"),
     (["node1"], 1, "name the nodes or give --count, not both")],
    ids=["default-last", "last", "middle-ones", "count", "count-all", "no-such", "not-a-node", "both"],
)
def test_delnode_numbers(asked: list[str], count: int | None, result: list[int] | str) -> None:
    if isinstance(result, list):
        assert delnode_numbers("mc", [1, 2, 3, 4, 5], asked, count=count) == result
    else:
        with pytest.raises(ValueError) as info:
            delnode_numbers("mc", [1, 2, 3, 4, 5], asked, count=count)
        assert str(info.value) == result


@pytest.mark.parametrize(
    ("numbers", "count", "after", "spec"),
    [([1, 2], 1, [1, 2, 3], {"nodes": 3, "skipNodes": []}),
     ([1, 3, 5], 1, [1, 2, 3, 5], {"nodes": 4, "skipNodes": [4]}),
     ([1, 3, 5], 3, [1, 2, 3, 4, 5, 6], {"nodes": 6, "skipNodes": []}),
     ([4], 1, [1, 4], {"nodes": 2, "skipNodes": [2, 3]})],
    ids=["append", "lowest-hole-first", "holes-then-append", "hole-at-start"],
)
def test_addnode_fills_holes_lowest_first(numbers: list[int], count: int, after: list[int], spec: dict[str, Any]) -> None:
    assert addnode_numbers(numbers, count) == after
    assert nodes_spec(after) == spec


def test_holes_name_the_nodes_everywhere() -> None:
    """delnode node2 of 3: node3 keeps its name in the set, /etc/hosts, the status and DLXC_NODES."""
    cluster = a_cluster(2, skipNodes=[2], context=[{"name": "a", "script": "true"}])
    assert {k: set_object(cluster)["spec"][k] for k in ("replicas", "skipOrdinals")} == {"replicas": 2, "skipOrdinals": [2]}
    found = members(member("mc-frontend", "10.0.0.2", role="frontend"), member("mc-node1", "10.0.0.3"),
                    member("mc-node2", "10.0.0.4"), member("mc-node3", "10.0.0.5"))
    lines, complete = hosts_lines(cluster, found)
    assert [line.split()[2] for line in lines] == ["frontend", "node1", "node3"] and complete
    assert [m["hostname"] for m in cluster_status(cluster, found, complete=True)["members"]] == ["frontend", "node1", "node3"]
    context = json.loads(member_annotations(cluster, found["mc-node1"], lines, True)[CONTEXT_ANNOTATION])
    assert context["env"]["DLXC_NODES"] == "node1 node3"


def test_front_end_change_replaces_it_and_status_says_so() -> None:
    cluster = a_cluster(1, memory="64Mi")
    wanted = Container.model_validate(frontend_object(cluster)).to_wire()["spec"]
    stored = {**frontend_object(cluster), "spec": {**wanted, "nodeName": "n1", "network": {"type": "cluster", "ipv4": "10.88.0.2/16"}}}
    assert frontend_outdated(cluster, stored, wanted) is None  # what the apiserver adds is no change
    changed = a_cluster(1, memory="128Mi", frontEndImage="alpine")
    wanted = Container.model_validate(frontend_object(changed)).to_wire()["spec"]
    change = frontend_outdated(changed, stored, wanted)
    assert change == "image debian -> alpine, memory 64Mi -> 128Mi"
    found = members({**member("mc-frontend", "10.0.0.2", role="frontend", image="debian")}, member("mc-node1", "10.0.0.3"))
    updated = cluster_status(changed, found, complete=True, front_change=change)["conditions"][1]
    assert (updated["type"], updated["status"], updated["reason"], updated["message"]) == (
        "Updated", "False", "Updating", "front-end being replaced (image debian -> alpine, memory 64Mi -> 128Mi)")
    # Deleting the old one: still saying so; a new one made from the spec: up to date.
    found["mc-frontend"]["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    assert cluster_status(changed, found, complete=True)["conditions"][1]["message"] == (
        "front-end being replaced (the old one is being deleted)")
    found["mc-frontend"] = member("mc-frontend", "10.0.0.2", role="frontend", image="alpine")
    assert cluster_status(changed, found, complete=True)["conditions"][1]["reason"] == "UpToDate"
    # Nodes on an old image, or a stopped rollout of theirs, show too.
    old_node = members(member("mc-frontend", "1", role="frontend", image="alpine"), member("mc-node1", "2", image="old"))
    assert cluster_status(changed, old_node, complete=True)["conditions"][1]["message"] == (
        "nodes rolling to busybox: node1 still on the old image")
    stopped = {"status": {"conditions": [{"type": "Progressing", "status": "False", "reason": "UpdateFailed", "message": "member x failed"}]}}
    assert cluster_status(changed, old_node, complete=True, node_set=stopped)["conditions"][1] == {
        "type": "Updated", "status": "False", "reason": "UpdateFailed", "message": "nodes: member x failed"}


def test_front_end_node_hooks_follow_complete_node_lists() -> None:
    from schemas.wire import NODE_HOOKS_ANNOTATION

    cluster = a_cluster(3, addNode=[{"name": "10-add.sh", "script": "echo $DLXC_NODE\n"}])
    front = member("mc-frontend", "10.0.0.2", role="frontend", annotations={NODE_HOOKS_ANNOTATION: "before"})
    # node3 has no address yet: the front-end keeps the list it had.
    assert member_annotations(cluster, front, ["l"], False)[NODE_HOOKS_ANNOTATION] == "before"
    hooks = json.loads(member_annotations(cluster, front, ["l"], True)[NODE_HOOKS_ANNOTATION])
    assert hooks == {"nodes": ["node1", "node2", "node3"], "add": [["10-add.sh", "echo $DLXC_NODE\n"]], "remove": [],
                     "env": {"DLXC_CLUSTER": "mc", "DLXC_ROLE": "frontend", "DLXC_FRONTEND": "frontend", "DLXC_NODES": "node1 node2 node3"}}
    assert NODE_HOOKS_ANNOTATION not in member_annotations(cluster, member("mc-node1", "10.0.0.3"), ["l"], True)
    assert NODE_HOOKS_ANNOTATION not in member_annotations(a_cluster(3), front, ["l"], True)
