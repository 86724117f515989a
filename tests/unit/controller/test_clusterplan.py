"""The ContainerCluster plan: its parts, /etc/hosts lines, when the context is handed out, status; delnode's names."""
from __future__ import annotations

import json
from typing import Any

import pytest

from controller.clusterplan import cluster_status, frontend_object, hosts_lines, member_annotations, set_object
from dlxc.cli.cluster import delnode_count
from schemas.wire import CLUSTER_LABEL, CLUSTER_ROLE_LABEL, CONTEXT_ANNOTATION, HOSTS_ANNOTATION


def a_cluster(nodes: int = 2, **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "mc", "uid": "u9", "generation": 1},
            "spec": {"frontEndImage": "debian", "workingNodeImage": "busybox", "nodes": nodes, **spec}}


def member(name: str, ip: str | None, *, role: str = "node", phase: str = "Running", context: str | None = None,
           annotations: dict[str, str] | None = None) -> dict[str, Any]:
    status: dict[str, Any] = {"phase": phase}
    if ip:
        status["ip"] = ip
    if context == "done":
        status["conditions"] = [{"type": "Contextualized", "status": "True", "reason": "ContextDone", "message": ""}]
    elif context:
        status["conditions"] = [{"type": "Contextualized", "status": "False", "reason": "ContextFailed", "message": context}]
    return {"metadata": {"name": name, "labels": {CLUSTER_LABEL: "mc", CLUSTER_ROLE_LABEL: role}, "annotations": annotations or {}},
            "status": status}


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
    ],
    ids=["all", "partial", "removed-node-dropped"],
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
    ("asked", "result"),
    [([], 2), (["node3"], 2), (["mc-node3", "node2"], 1), (["node1"], "nodes keep their names, so only the last ones can go: node3"),
     (["node7"], "'node7' is not a node of cluster mc (node1..node3)"), (["web"], "'web' is not a node of cluster mc (node1..node3)")],
    ids=["default-last", "last", "last-two", "not-last", "no-such", "not-a-node"],
)
def test_delnode_count(asked: list[str], result: int | str) -> None:
    if isinstance(result, int):
        assert delnode_count("mc", 3, asked) == result
    else:
        with pytest.raises(ValueError) as info:
            delnode_count("mc", 3, asked)
        assert str(info.value) == result


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
