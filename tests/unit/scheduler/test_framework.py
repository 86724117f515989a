from __future__ import annotations

import random

import pytest
from sched_builders import GI, node

from scheduler import plugins
from scheduler.config import SchedulerSettings
from scheduler.framework import Candidate, schedule, unschedulable_message
from scheduler.nodetable import NodeTable, Request

DEFAULT = SchedulerSettings()


def decide(request: Request, nodes, *, settings: SchedulerSettings = DEFAULT, seed: int = 0):
    return schedule(
        request, NodeTable.of(nodes), filters=settings.filter_plugins(), scorers=settings.score_plugins(),
        rng=random.Random(seed),
    )


@pytest.mark.parametrize(
    ("request_", "info", "weights", "total"),
    [
        # cpu 4 with 1 requested + 1 asked -> 50; memory 8Gi, 2Gi asked -> 75; disk untouched -> 100;
        # 4 of 10 containers + 1 -> 50. 0.3*50 + 0.3*75 + 0.2*100 + 0.2*50 = 15 + 22.5 + 20 + 10 = 67.5
        (Request("c", cpu=1, memory=2 * GI), node("a", requested_cpu=1, containers=4), {}, 67.5),
        # An empty node and an empty request: everything free after placing except one slot of ten:
        # 0.3*100 + 0.3*100 + 0.2*100 + 0.2*90 = 98
        (Request("c"), node("a"), {}, 98.0),
        # cpu 2 of 4 left -> 50, memory 6Gi+2Gi of 8Gi -> 0, disk 50Gi+25Gi of 100Gi -> 25, 1+1 of 10 -> 80:
        # 15 + 0 + 5 + 16 = 36
        (Request("c", cpu=1, memory=2 * GI, disk=25 * GI),
         node("a", requested_cpu=1, requested_memory=6 * GI, requested_disk=50 * GI, containers=1), {}, 36.0),
        # Only memory counts: 75
        (Request("c", memory=2 * GI), node("a"),
         {"AvailableCPU": 0, "AvailableDisk": 0, "ContainerLoad": 0}, 75.0),
        # cpu 50 weighs 1, memory 75 weighs 3: (50 + 225) / 4 = 68.75
        (Request("c", cpu=2, memory=2 * GI), node("a"),
         {"AvailableCPU": 1, "AvailableMemory": 3, "AvailableDisk": 0, "ContainerLoad": 0}, 68.75),
        # A preferred group adds the spread score (node has one member -> 50) at weight 100 of 200:
        # (0.3*100 + 0.3*100 + 0.2*100 + 0.2*80) * 100 / 200 + 50 * 100 / 200 = 48 + 25 = 73
        (Request("c", group="g", group_mode="preferred"), node("a", containers=1, groups={"g": 1}), {}, 73.0),
    ],
    ids=["seed-example", "empty", "mixed", "memory-only", "custom-weights", "preferred-spread"],
)
def test_weighted_sum_by_hand(request_: Request, info, weights: dict[str, float], total: float) -> None:
    decision = decide(request_, [info], settings=SchedulerSettings(weights=weights))
    assert decision.node == "a"
    assert decision.total == pytest.approx(total)


def test_per_plugin_scores_and_weights_are_recorded() -> None:
    decision = decide(Request("c", cpu=1, memory=2 * GI), [node("a", requested_cpu=1, containers=4)])
    assert decision.scores == {"AvailableCPU": 50.0, "AvailableMemory": 75.0, "AvailableDisk": 100.0, "ContainerLoad": 50.0}
    # The spread plugin did not apply to a container without a group, so its weight is not listed.
    assert decision.weights == {"AvailableCPU": 30, "AvailableMemory": 30, "AvailableDisk": 20, "ContainerLoad": 20}
    assert decision.message == "node a scored 67.5 of 100 (1/1 nodes fit)"


def test_highest_score_wins_and_runners_up_are_recorded() -> None:
    decision = decide(
        Request("c", memory=1 * GI),
        [node("busy", requested_memory=6 * GI), node("idle"), node("half", requested_memory=4 * GI), node("down", ready=False)],
    )
    assert decision.node == "idle"
    # idle: 30 + 30*7/8 + 20 + 18 = 94.25; half: 30 + 30*3/8 + 38 = 79.25; busy: 30 + 30/8 + 38 = 71.75
    assert decision.total == pytest.approx(94.25)
    assert [(c.node, c.total) for c in decision.runners_up] == [("half", 79.25), ("busy", 71.75)]
    assert decision.runners_up[0] == Candidate(
        "half", 79.25, {"AvailableCPU": 100.0, "AvailableMemory": 37.5, "AvailableDisk": 100.0, "ContainerLoad": 90.0}
    )
    assert (decision.nodes, decision.feasible, dict(decision.rejected)) == (4, 3, {"node not ready": 1})
    assert decision.rejected_nodes == (("down", "node not ready"),)


@pytest.mark.parametrize(
    ("request_", "nodes", "message"),
    [
        (Request("c", memory=16 * GI), [node("a"), node("b"), node("c", ready=False)],
         "0/3 nodes are available: 2 insufficient memory, 1 node not ready."),
        # A node that is down and cordoned is reported by the first filter of the pipeline.
        (Request("c"), [node("a", ready=False, unschedulable=True), node("b", unschedulable=True)],
         "0/2 nodes are available: 1 node cordoned, 1 node not ready."),
        (Request("c", cpu=1, group="g"), [node("a", groups={"g": 1}), node("b", requested_cpu=4), node("c", containers=10)],
         "0/3 nodes are available: 1 anti-affinity group already on node, 1 insufficient cpu, 1 too many containers."),
        (Request("c", node_selector={"gpu": "yes"}), [node("a"), node("b")],
         "0/2 nodes are available: 2 node selector mismatch."),
        (Request("c"), [], "0/0 nodes are available: no nodes registered."),
        (Request("c"), [node("a", ready=False), node("b", ready=False), node("c", unschedulable=True)],
         "0/3 nodes are available: 2 nodes not ready, 1 node cordoned."),
        (Request("c"), [node("a", unschedulable=True), node("b", unschedulable=True)],
         "0/2 nodes are available: 2 nodes cordoned."),
    ],
    ids=["memory-and-not-ready", "first-filter-names-the-node", "three-reasons", "selector", "no-nodes",
         "plural-not-ready", "plural-cordoned"],
)
def test_nothing_fits_counts_reasons_node_by_node(request_: Request, nodes, message: str) -> None:
    decision = decide(request_, nodes)
    assert decision.node is None
    assert decision.message == message


def test_unschedulable_message_orders_by_count_then_reason() -> None:
    assert unschedulable_message(5, {"b": 1, "a": 1, "c": 3}) == "0/5 nodes are available: 3 c, 1 a, 1 b."


def test_ties_are_broken_by_the_seed_whatever_the_node_order() -> None:
    nodes = [node(f"n{i}") for i in range(5)]

    def pick(seed: int, order) -> str | None:
        return decide(Request("c"), order, seed=seed).node

    assert pick(7, nodes) == pick(7, nodes) == pick(7, list(reversed(nodes)))
    assert len({pick(seed, nodes) for seed in range(20)}) > 1


def test_a_required_group_never_shares_a_node_and_a_preferred_one_prefers_not_to() -> None:
    nodes = [node("a", groups={"g": 1}), node("b", requested_memory=4 * GI)]
    assert decide(Request("c", group="g"), nodes).node == "b"
    assert decide(Request("c", group="g", group_mode="preferred"), nodes).node == "b"
    full = [node("a", groups={"g": 1}), node("b", groups={"g": 2})]
    assert decide(Request("c", group="g"), full).node is None
    assert decide(Request("c", group="g", group_mode="preferred"), full).node == "a"


def test_rejected_nodes_named_are_the_first_fifty_by_name() -> None:
    nodes = [node(f"n{i:03d}", ready=False) for i in reversed(range(120))]
    decision = decide(Request("c"), nodes)
    assert decision.rejected == {"node not ready": 120}
    assert decision.rejected_nodes == tuple((f"n{i:03d}", "node not ready") for i in range(50))
