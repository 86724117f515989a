from __future__ import annotations

import pytest

from kubelet.plan import Create, Desired, Destroy, Observed, Reconfigure, Restart, SetCgroup, Start, Stop, Unfreeze, plan

MEM = "lxc.cgroup.memory.limit_in_bytes"
BASE = (("lxc.uts.name", "web"), ("lxc.rootfs.path", "overlay:/img:/d"), (MEM, "67108864"), ("lxc.environment", "A=1"))
LIVE = frozenset({MEM})


def desired(items=BASE, running=True, restart=False) -> Desired:
    return Desired("web", tuple(items), running, LIVE, restart)


def observed(state="RUNNING", items=BASE) -> Observed:
    return Observed("web", state, tuple(items), 42)


def with_(key: str, value: str, items=BASE) -> tuple:
    return tuple((k, value if k == key else v) for k, v in items)


@pytest.mark.parametrize(
    ("want", "have", "actions"),
    [
        (None, None, []),
        (None, observed(), [Destroy("web")]),
        (desired(), None, [Create("web", BASE), Start("web")]),
        (desired(running=False), None, [Create("web", BASE)]),
        (desired(), observed(), []),
        (desired(), observed("STOPPED"), [Start("web")]),
        (desired(running=False), observed(), [Stop("web")]),
        (desired(running=False), observed("STOPPED"), []),
        (desired(), observed("FROZEN"), [Unfreeze("web")]),
        (desired(restart=True), observed(), [Restart("web")]),
        (desired(restart=True), observed("STOPPED"), [Start("web")]),
        (desired(running=False, restart=True), observed(), [Stop("web")]),
        (desired(restart=True), None, [Create("web", BASE), Start("web")]),
        (
            desired(with_(MEM, "134217728")),
            observed(),
            [Reconfigure("web", with_(MEM, "134217728")), SetCgroup("web", "memory.limit_in_bytes", "134217728")],
        ),
        (
            desired(with_("lxc.environment", "A=2")),
            observed(),
            [Reconfigure("web", with_("lxc.environment", "A=2")), Restart("web")],
        ),
        (
            desired(with_("lxc.environment", "A=2")),
            observed("STOPPED"),
            [Reconfigure("web", with_("lxc.environment", "A=2")), Start("web")],
        ),
        (
            desired(with_("lxc.rootfs.path", "overlay:/img2:/d")),
            observed(),
            [Destroy("web"), Create("web", with_("lxc.rootfs.path", "overlay:/img2:/d")), Start("web")],
        ),
        (
            desired(tuple(i for i in BASE if i[0] != MEM)),
            observed(),
            [Reconfigure("web", tuple(i for i in BASE if i[0] != MEM)), Restart("web")],
        ),
    ],
    ids=["nothing", "orphan", "create-start", "create-stopped", "in-sync", "stopped-behind-back", "stop",
         "stopped-ok", "frozen", "restart-asked", "restart-asked-stopped", "restart-asked-but-off", "restart-asked-new",
         "live-memory", "env-restart", "env-while-stopped", "image-change", "limit-removed"],
)
def test_plan(want, have, actions) -> None:
    assert plan(want, have) == actions


def test_plan_is_idempotent_once_applied() -> None:
    want = desired(with_(MEM, "134217728"))
    assert plan(want, observed(items=want.items)) == []


MEMSW = "lxc.cgroup.memory.memsw.limit_in_bytes"
WITH_SWAP = ((MEM, "67108864"), (MEMSW, "67108864"))


@pytest.mark.parametrize(
    ("new", "writes"),
    [
        ("134217728", [("memory.memsw.limit_in_bytes", "134217728"), ("memory.limit_in_bytes", "134217728")]),
        ("33554432", [("memory.limit_in_bytes", "33554432"), ("memory.memsw.limit_in_bytes", "33554432")]),
    ],
    ids=["grows-memsw-first", "shrinks-limit-first"],
)
def test_memory_and_swap_are_written_in_an_order_the_kernel_accepts(new: str, writes: list[tuple[str, str]]) -> None:
    live = frozenset({MEM, MEMSW})
    want = Desired("web", ((MEM, new), (MEMSW, new)), True, live)
    actions = plan(want, Observed("web", "RUNNING", WITH_SWAP, 42))
    assert actions == [Reconfigure("web", want.items)] + [SetCgroup("web", k, v) for k, v in writes]
