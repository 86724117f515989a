from __future__ import annotations

import pytest
from sched_builders import GI, container, node_obj

from scheduler.cache import SchedulerCache, request_of
from scheduler.nodetable import Request


def used(cache: SchedulerCache, name: str) -> tuple:
    info = cache.table.info(name)
    return info.requested_cpu, info.requested_memory, info.requested_disk, info.containers, dict(info.groups)


def test_bound_containers_count_on_their_node_and_leave_it_when_deleted() -> None:
    cache = SchedulerCache()
    cache.update_node(node_obj("a"))
    assert cache.update_container("c1", container("c1", node_name="a", cpu=1, memory="1Gi")) is False
    cache.update_container("c2", container("c2", node_name="a", memory="512Mi", disk="1Gi",
                                           antiAffinity={"group": "web"}))
    assert used(cache, "a") == (1.0, GI + GI // 2, GI, 2, {"web": 1})
    assert cache.update_container("c1", None) is True  # room came back
    assert used(cache, "a") == (0.0, GI // 2, GI, 1, {"web": 1})


def test_containers_bound_to_an_unknown_node_count_once_it_registers() -> None:
    cache = SchedulerCache()
    cache.update_container("c1", container("c1", node_name="late", cpu=2))
    cache.update_node(node_obj("late"))
    assert used(cache, "late") == (2.0, 0, 0, 1, {})


def test_an_assumed_bind_counts_at_once_and_is_not_counted_twice_when_confirmed() -> None:
    cache = SchedulerCache()
    cache.update_node(node_obj("a"))
    pending = container("c1", cpu=1)
    cache.update_container("c1", pending)
    assert used(cache, "a")[3] == 0
    cache.assume("c1", "a", request_of(pending))
    assert used(cache, "a") == (1.0, 0, 0, 1, {})
    cache.update_container("c1", container("c1", node_name="a", cpu=1))
    assert used(cache, "a") == (1.0, 0, 0, 1, {})
    assert cache.assumed == {}


def test_a_failed_bind_is_forgotten_and_a_bind_elsewhere_moves_the_count() -> None:
    cache = SchedulerCache()
    cache.update_node(node_obj("a"))
    cache.update_node(node_obj("b"))
    cache.assume("c1", "a", Request("c1", cpu=1))
    cache.forget("c1", container("c1", cpu=1))
    assert used(cache, "a")[3] == 0
    cache.assume("c2", "a", Request("c2", cpu=1))
    cache.update_container("c2", container("c2", node_name="b", cpu=1))  # another scheduler won
    assert (used(cache, "a")[3], used(cache, "b")[3]) == (0, 1)


@pytest.mark.parametrize(
    ("before", "after", "more_room"),
    [
        (None, node_obj("a"), True),
        (node_obj("a"), node_obj("a"), False),
        (node_obj("a", ready="Unknown"), node_obj("a"), True),
        (node_obj("a"), node_obj("a", ready="Unknown"), False),
        (node_obj("a", unschedulable=True), node_obj("a"), True),
        (node_obj("a"), node_obj("a", unschedulable=True), False),
        (node_obj("a"), node_obj("a", memory=16 * GI), True),
        (node_obj("a"), node_obj("a", memory=4 * GI), False),
        (node_obj("a"), node_obj("a", labels={"zone": "x"}), True),
    ],
    ids=["new", "heartbeat", "ready-again", "not-ready", "uncordoned", "cordoned", "grew", "shrank", "relabelled"],
)
def test_which_node_changes_wake_waiting_containers(before, after, more_room: bool) -> None:
    cache = SchedulerCache()
    if before is not None:
        cache.update_node(before)
    assert cache.update_node(after) is more_room


def test_removed_nodes_leave_the_table_dense() -> None:
    cache = SchedulerCache()
    for name in ("a", "b", "c"):
        cache.update_node(node_obj(name, cpu={"a": 1, "b": 2, "c": 3}[name]))
    cache.remove_node("a")
    assert cache.table.names == ["c", "b"]
    assert list(cache.table.col("cpu")) == [3.0, 2.0]
    assert list(cache.table.name_ranks()) == [1, 0]


def test_request_of_reads_sizes_selector_and_group() -> None:
    req = request_of(container("c", cpu=0.5, memory="256Mi", disk="2Gi", nodeSelector={"zone": "a"},
                               antiAffinity={"group": "web", "mode": "preferred"}))
    assert req == Request("c", cpu=0.5, memory=256 * 2**20, disk=2 * GI, node_selector={"zone": "a"},
                          group="web", group_mode="preferred")
