"""ContainerSets against a real apiserver and the real controller; a stand-in kubelet marks members Running."""
from __future__ import annotations

import asyncio
import ipaddress
import time
from typing import Any

import pytest

from controller.containerset import ContainerSetController, ContainerSetSettings
from dlxc.client.errors import Conflict, Invalid, NotFound
from schemas.wire import SET_FINALIZER, SET_LABEL
from statskubelet import UsageCluster, usage_cluster  # noqa: F401 - the fixture

pytestmark = pytest.mark.timeout(90)

SET = {
    "metadata": {"name": "web"},
    "spec": {"replicas": 3, "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"image": "busybox"}}},
}


async def until(what: str, check: Any, *, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = await check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def member_names(c: Any) -> list[str]:
    items, _ = await c.list("containers", label_selector=f"{SET_LABEL}=web")
    return sorted(i["metadata"]["name"] for i in items if not i["metadata"].get("deletionTimestamp"))


class FakeKubelet:
    """Marks each new container Running after `delay` seconds, as a kubelet would; records the lowest Running count."""

    def __init__(self, c: Any, *, delay: float = 0.3) -> None:
        self.c, self.delay = c, delay
        self.seen: dict[str, float] = {}
        self.min_running: int | None = None

    async def run(self) -> None:
        while True:
            items, _ = await self.c.list("containers")
            running = 0
            for item in items:
                name, status = item["metadata"]["name"], item.get("status") or {}
                uid = item["metadata"]["uid"]
                if status.get("phase") == "Running" and not item["metadata"].get("deletionTimestamp"):
                    running += 1
                elif status.get("phase") == "Pending":
                    first = self.seen.setdefault(uid, time.monotonic())
                    if time.monotonic() - first >= self.delay:
                        try:
                            await self.c.patch_status("containers", name, {"phase": "Running"})
                        except NotFound:
                            pass
            if self.min_running is not None:
                self.min_running = min(self.min_running, running)
            await asyncio.sleep(0.05)


def test_scale_rolling_update_undo_and_delete(api: Any) -> None:
    async def go() -> None:
        async with api.client() as c:
            kubelet = FakeKubelet(c)
            tasks = [asyncio.create_task(kubelet.run()),
                     asyncio.create_task(ContainerSetController(c, ContainerSetSettings(resync=1.0)).run())]
            try:
                await c.create("containersets", SET)
                assert await until("3 members", lambda: _names_are(c, ["web-0", "web-1", "web-2"]))
                member = await c.get("containers", "web-0")
                cset = await c.get("containersets", "web")
                assert member["metadata"]["ownerReferences"] == [
                    {"apiVersion": "dlxc.io/v1", "kind": "ContainerSet", "name": "web", "uid": cset["metadata"]["uid"], "controller": True}]
                assert member["metadata"]["labels"] == {"app": "web", SET_LABEL: "web"}
                assert member["spec"]["antiAffinity"] == {"group": "web", "mode": "preferred"}
                assert cset["metadata"]["finalizers"] == [SET_FINALIZER]
                await until("3 ready", lambda: _status(c, readyReplicas=3, updatedReplicas=3, replicas=3))

                await c.patch("containersets", "web", {"spec": {"replicas": 5}})
                assert await until("5 members", lambda: _names_are(c, [f"web-{i}" for i in range(5)]))
                await c.patch("containersets", "web", {"spec": {"replicas": 2}})
                assert await until("web-0, web-1 stay", lambda: _names_are(c, ["web-0", "web-1"]))

                # A member deleted by hand comes back under its name.
                old_uid = (await c.get("containers", "web-1"))["metadata"]["uid"]
                await c.delete("containers", "web-1")
                back = await until("web-1 back", lambda: _new_uid(c, "web-1", old_uid))
                assert back["metadata"]["labels"][SET_LABEL] == "web"
                await until("2 ready", lambda: _status(c, readyReplicas=2, replicas=2))

                # Rolling update: never fewer than replicas - maxUnavailable Running.
                await c.patch("containersets", "web", {"spec": {"replicas": 3}})
                await until("3 ready", lambda: _status(c, readyReplicas=3, updatedReplicas=3))
                kubelet.min_running = 3
                await c.patch("containersets", "web", {"spec": {"template": {"spec": {"image": "debian"}}}})
                await until("rolled out", lambda: _status(c, readyReplicas=3, updatedReplicas=3, replicas=3, rolled="debian"))
                assert kubelet.min_running == 2
                cset = await c.get("containersets", "web")
                assert [(r["revision"], r["template"]["spec"]["image"]) for r in cset["status"]["revisions"]] == [(1, "busybox"), (2, "debian")]
                progressing = next(x for x in cset["status"]["conditions"] if x["type"] == "Progressing")
                assert progressing["reason"] == "RolloutComplete"

                # Delete: members first, then the set.
                await c.delete("containersets", "web")
                await until("members gone", lambda: _names_are(c, []))
                await until("set gone", lambda: _gone(c, "web"))
            finally:
                for task in tasks:
                    task.cancel()

    asyncio.run(go())


def test_a_template_that_fails_validation_creates_nothing(api: Any) -> None:
    async def go() -> None:
        async with api.client() as c:
            bad = {"metadata": {"name": "bad"}, "spec": {"replicas": -1, "template": {"spec": {"image": "no spaces", "memory": "1Ki"}}}}
            with pytest.raises(Invalid) as info:
                await c.create("containersets", bad)
            assert [d["field"] for d in info.value.details] == ["spec.replicas", "spec.template.spec.image", "spec.template.spec.memory"]
            privileged = {"metadata": {"name": "priv"}, "spec": {"template": {"spec": {"image": "busybox", "privileged": True}}}}
            with pytest.raises(Invalid) as info:
                await c.create("containersets", privileged)
            assert info.value.details == [{"field": "spec.template.spec.privileged",
                                           "message": "privileged containers need an apiserver started with --allow-privileged"}]
            selector = {"metadata": {"name": "sel"}, "spec": {"selector": {"matchLabels": {"app": "db"}},
                                                              "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"image": "busybox"}}}}
            with pytest.raises(Invalid) as info:
                await c.create("containersets", selector)
            assert "selector.matchLabels app=db must also be in template.metadata.labels" in info.value.message
            items, _ = await c.list("containersets")
            assert items == []

    asyncio.run(go())



def _taken_address(api: Any) -> tuple[str, str]:
    """An address of the test apiserver's cluster network: (ADDR/PREFIX for a spec, ADDR)."""
    network = ipaddress.IPv4Network(api.settings.cluster_cidr)
    ip = network.network_address + 9
    return f"{ip}/{network.prefixlen}", str(ip)


def test_a_member_the_apiserver_refuses_is_one_warning_event_and_the_status_still_written(api: Any) -> None:
    """Every member wants an address another container holds: each refusal is one FailedCreate event
    (not one per pass), the status is written (so `rollout status` sees the generation), and once the
    address is free the members are made: web-0 takes it, web-1's refusal is news and said again."""
    ipv4, ip = _taken_address(api)

    async def go() -> None:
        async with api.client() as c:
            await c.create("containers", {"metadata": {"name": "blocker"},
                                          "spec": {"image": "busybox", "network": {"type": "cluster", "ipv4": ipv4}}})
            tasks = [asyncio.create_task(ContainerSetController(c, ContainerSetSettings(resync=0.2)).run())]
            try:
                await c.create("containersets", {
                    "metadata": {"name": "web"},
                    "spec": {"replicas": 2, "template": {"spec": {"image": "busybox", "network": {"type": "cluster", "ipv4": ipv4}}}},
                })
                cset = await until("status written", lambda: _observed(c, 1))
                progressing = next(x for x in cset["status"]["conditions"] if x["type"] == "Progressing")
                assert (progressing["reason"], progressing["message"]) == ("Updating", "0/2 members updated, 0 Running")
                await asyncio.sleep(1.0)  # five resyncs more: still one event each
                refused = f"is invalid: spec.network.ipv4: {ip} is taken by container"
                assert await _events(c, "FailedCreate") == [
                    ("Warning", f"cannot create member web-0: Container web-0 {refused} blocker", 1),
                    ("Warning", f"cannot create member web-1: Container web-1 {refused} blocker", 1),
                ]
                assert await member_names(c) == []

                await c.delete("containers", "blocker")
                await until("web-0 made", lambda: _names_are(c, ["web-0"]))
                await until("web-1 refused anew", lambda: _events_count(c, "FailedCreate", 3))
                await asyncio.sleep(1.0)
                assert await _events(c, "FailedCreate") == [
                    ("Warning", f"cannot create member web-0: Container web-0 {refused} blocker", 1),
                    ("Warning", f"cannot create member web-1: Container web-1 {refused} blocker", 1),
                    ("Warning", f"cannot create member web-1: Container web-1 {refused} web-0", 1),
                ]
                assert await _events(c, "CreateMember") == [("Normal", "created member web-0", 1)]
            finally:
                for task in tasks:
                    task.cancel()

    asyncio.run(go())


def test_a_rolling_update_goes_on_past_a_member_it_cannot_create(api: Any) -> None:
    """Scaled up to 3 with a template whose address is taken (maxUnavailable 2): web-2's refusal does
    not stop the pass, so web-1 is still replaced (deleted) as the budget allows, and web-0 kept."""
    ipv4, _ = _taken_address(api)

    async def go() -> None:
        async with api.client() as c:
            tasks = [asyncio.create_task(FakeKubelet(c, delay=0.1).run()),
                     asyncio.create_task(ContainerSetController(c, ContainerSetSettings(resync=0.2)).run())]
            try:
                await c.create("containersets", {**SET, "spec": {**SET["spec"], "replicas": 2, "updateStrategy": {"maxUnavailable": 2}}})
                await until("2 ready", lambda: _status(c, readyReplicas=2, updatedReplicas=2, replicas=2))
                await c.create("containers", {"metadata": {"name": "blocker"},
                                              "spec": {"image": "busybox", "network": {"type": "cluster", "ipv4": ipv4}}})
                await c.patch("containersets", "web", {"spec": {"replicas": 3, "template": {"spec": {"network": {"type": "cluster", "ipv4": ipv4}}}}})
                await until("web-1 replaced", lambda: _names_are(c, ["web-0"]))
                await until("status of generation 2", lambda: _observed(c, 2))
                await until("both refusals", lambda: _events_count(c, "FailedCreate", 2))
                assert [m for _, m, _ in await _events(c, "FailedCreate")] == [
                    f"cannot create member web-{i}: Container web-{i} is invalid: spec.network.ipv4: "
                    f"{ipv4.split('/')[0]} is taken by container blocker" for i in (1, 2)]
            finally:
                for task in tasks:
                    task.cancel()

    asyncio.run(go())


def test_a_container_squatting_on_a_member_name_is_one_warning_event(api: Any) -> None:
    """web-1 exists without the set's label: the set says so once, and makes web-1 once it is deleted."""

    async def go() -> None:
        async with api.client() as c:
            await c.create("containers", {"metadata": {"name": "web-1", "labels": {"app": "web"}}, "spec": {"image": "busybox"}})
            tasks = [asyncio.create_task(ContainerSetController(c, ContainerSetSettings(resync=0.2)).run())]
            try:
                await c.create("containersets", {**SET, "spec": {**SET["spec"], "replicas": 2}})
                await until("the event", lambda: _events_count(c, "FailedCreate", 1))
                await asyncio.sleep(1.0)  # five resyncs more: still one event
                assert await _events(c, "FailedCreate") == [
                    ("Warning", (f"a container named web-1 exists that is not a member of set web (it has no {SET_LABEL} label); "
                                 "delete it so the set can create its member"), 1)]
                assert await member_names(c) == ["web-0"]

                await c.delete("containers", "web-1")
                await until("web-1 made", lambda: _names_are(c, ["web-0", "web-1"]))
                # The controller records CreateMember only after the create returned: wait for the event itself.
                await until("web-1's CreateMember event", lambda: _events_count(c, "CreateMember", 2))
                assert await _events(c, "CreateMember") == [("Normal", "created member web-0", 1), ("Normal", "created member web-1", 1)]
            finally:
                for task in tasks:
                    task.cancel()

    asyncio.run(go())


async def _observed(c: Any, generation: int) -> Any:
    cset = await c.get("containersets", "web")
    return cset if (cset.get("status") or {}).get("observedGeneration") == generation else None


async def _events(c: Any, reason: str) -> list[tuple[str, str, int]]:
    """The set's events with this reason: (type, message, count), sorted by message."""
    events, _ = await c.list("events", field_selector="involvedObject.kind=ContainerSet,involvedObject.name=web")
    return sorted((e["spec"]["type"], e["spec"]["message"], e["status"]["count"]) for e in events if e["spec"]["reason"] == reason)


async def _events_count(c: Any, reason: str, count: int) -> bool:
    return len(await _events(c, reason)) >= count

async def _names_are(c: Any, names: list[str]) -> bool:
    return await member_names(c) == names


async def _status(c: Any, *, rolled: str | None = None, **want: int) -> bool:
    cset = await c.get("containersets", "web")
    status = cset.get("status") or {}
    if any(status.get(k) != v for k, v in want.items()):
        return False
    if rolled is not None:
        items, _ = await c.list("containers", label_selector=f"{SET_LABEL}=web")
        return all(i["spec"]["image"] == rolled for i in items)
    return True


async def _new_uid(c: Any, name: str, old_uid: str) -> Any:
    try:
        obj = await c.get("containers", name)
    except NotFound:
        return None
    return obj if obj["metadata"]["uid"] != old_uid else None


async def _gone(c: Any, name: str) -> bool:
    try:
        await c.get("containersets", name)
    except NotFound:
        return True
    return False


def test_autoscale_follows_cpu_and_waits_out_the_window(usage_cluster: UsageCluster) -> None:  # noqa: F811
    """Members use 100% of their CPU (as their kubelet serves it, through the API's metrics route):
    replicas go to max; then 5%: they come down only after the window."""
    api = usage_cluster.api

    async def go() -> None:
        async with api.client() as c:
            load = {"cores": 0.5}

            async def kubelet() -> None:
                while True:
                    items, _ = await c.list("containers")
                    for item in items:
                        name = item["metadata"]["name"]
                        if item["metadata"].get("deletionTimestamp"):
                            continue
                        try:
                            if not item["spec"].get("nodeName"):
                                await c.bind(name, usage_cluster.node)
                            if (item.get("status") or {}).get("phase") != "Running":
                                await c.patch_status("containers", name, {"phase": "Running"})
                        except (NotFound, Conflict):
                            pass
                        usage_cluster.kubelet.set(name, {"cpu.cores": load["cores"]})
                    await asyncio.sleep(0.1)

            tasks = [asyncio.create_task(kubelet()),
                     asyncio.create_task(ContainerSetController(c, ContainerSetSettings(resync=1.0, tick=0.1)).run())]
            try:
                await c.create("containersets", {
                    "metadata": {"name": "web"},
                    "spec": {"replicas": 1, "template": {"spec": {"image": "busybox", "cpu": 0.5}},
                             "autoscale": {"min": 1, "max": 4, "targetCPUPercent": 50, "period": "0.5s",
                                           "scaleDownStabilization": "3s"}},
                })
                assert await until("4 members", lambda: _names_are(c, ["web-0", "web-1", "web-2", "web-3"]))
                load["cores"] = 0.025  # 5% of 0.5 cores
                low = time.monotonic()
                assert await until("back to 1", lambda: _names_are(c, ["web-0"]), timeout=20)
                assert time.monotonic() - low >= 2.5  # held for the stabilization window
                events, _ = await c.list("events", field_selector="involvedObject.kind=ContainerSet,involvedObject.name=web")
                messages = [e["spec"]["message"] for e in events if e["spec"]["reason"] == "Autoscale"]
                assert "replicas 1 -> 2: ceil(1 x 100.0% / 50%) = 2" in messages
                assert "replicas 2 -> 4: ceil(2 x 100.0% / 50%) = 4" in messages
                assert "replicas 4 -> 1: ceil(4 x 5.0% / 50%) = 1" in messages
                decisions = (await c.get("containersets", "web"))["status"]["autoscale"]
                assert decisions[-1]["desired"] == 1 and decisions[-1]["targetPercent"] == 50
            finally:
                for task in tasks:
                    task.cancel()

    asyncio.run(go())
