"""The kubelet's real reconcile, driven against an in-memory runtime and API: no root, no LXC, no apiserver."""
from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fakes.api import FakeApi, unreachable
from fakes.runtime import FakeRuntime

from kubelet import clusterfiles, images
from kubelet.agent import Kubelet
from kubelet.allocator import Allocator
from kubelet.drift import DriftPoller
from kubelet.hostfeatures import HostFeatures
from kubelet.idmap import IdMap
from kubelet.lease import LeaseSettings, NodeLease
from kubelet.lxcconfig import hwaddr_for
from kubelet.plan import Destroy
from kubelet.reconcile import DONE, Reconciler, Result
from kubelet.settings import KubeletSettings
from kubelet.stale import StaleGuard
from kubelet.stops import StopRecords
from schemas.container import ADOPTED_IMAGE
from schemas.wire import ADOPTED_ROOTFS_ANNOTATION, HOSTS_ANNOTATION, LXC_FINALIZER, RESTART_ANNOTATION

NODE = "n1"
IDMAP = IdMap(100000, 100000)
OTHER_IMAGE = "download:alpine/3.19/amd64"


class FakeImages:
    """Every image is cached; its rootfs path names the image, so an image change moves the rootfs."""

    def is_cached(self, ref: str, *, idmap: Any) -> bool:
        return True

    def ensure(self, ref: str, *, idmap: Any) -> Path:
        return Path("/images") / ref.replace("/", "_").replace(":", "_")


class FakeNetwork:
    @staticmethod
    def bridge_exists(name: str) -> bool:
        return True


@dataclass
class World:
    api: FakeApi
    rt: FakeRuntime
    stops: StopRecords
    lease: NodeLease
    guard: StaleGuard
    r: Reconciler

    async def reconcile(self, name: str = "web") -> Result:
        return await self.r.reconcile(name)

    def status(self, name: str = "web") -> dict[str, Any]:
        return self.api.objects[name]["status"]

    async def events(self) -> list[tuple[str, str, str]]:
        """(type, reason, message) of the events posted since the last call."""
        await self.r.events.flush()
        posted = list(self.api.events)
        self.api.events.clear()
        return posted

    def condition(self, kind: str, name: str = "web") -> dict[str, Any] | None:
        return next((c for c in self.status(name).get("conditions", []) if c["type"] == kind), None)


def settings(tmp_path: Path, **overrides: Any) -> KubeletSettings:
    return KubeletSettings(node_name=NODE, lxc_path=tmp_path / "lxc", image_dir=tmp_path / "images",
                           subnet=ipaddress.IPv4Interface("10.99.0.1/24"), **overrides)


def world(tmp_path: Path, **overrides: Any) -> World:
    s = settings(tmp_path, **overrides)
    s.lxc_path.mkdir(parents=True)  # as Kubelet.run makes it
    api, rt, stops = FakeApi(), FakeRuntime(), StopRecords(s.lxc_path)
    holder: dict[str, Reconciler] = {}

    async def nothing() -> None:
        return None

    lease = NodeLease(api, NODE, LeaseSettings(), on_fence=nothing, on_recover=nothing)  # type: ignore[arg-type]
    guard = StaleGuard(api, rt, node_name=NODE, lxc_path=s.lxc_path, lease=lease, stops=stops,
                       bound=lambda: dict(api.objects), destroy=lambda name: holder["r"].execute(Destroy(name)),
                       heartbeat=nothing, resync=nothing)
    r = Reconciler(api, rt, s, images=FakeImages(), network=FakeNetwork, idmap=IDMAP, allocator=Allocator(s.subnet),
                   host=HostFeatures(),
                   drift=DriftPoller(s.lxc_path, interval=1.0, enqueue=lambda name: None), stops=stops,
                   cached=api.cached, may_start=guard.may_start, cgroup_version=2)
    holder["r"] = r
    return World(api, rt, stops, lease, guard, r)


def container(name: str = "web", *, policy: str = "Always", state: str = "Running", image: str = "busybox",
              annotations: dict[str, str] | None = None, finalizers: tuple[str, ...] = (LXC_FINALIZER,),
              privileged: bool = False) -> dict[str, Any]:
    return {
        "apiVersion": "dlxc.io/v1", "kind": "Container",
        "metadata": {"name": name, "finalizers": list(finalizers), "annotations": annotations or {}},
        "spec": {"image": image, "nodeName": NODE, "restartPolicy": policy, "state": state, "privileged": privileged},
    }


async def running(w: World, **kwargs: Any) -> None:
    """Create `web` and reconcile it up to Running."""
    w.api.add(container(**kwargs))
    assert await w.reconcile() == DONE
    assert w.status()["phase"] == "Running"
    w.rt.calls.clear()
    await w.r.events.flush()
    w.api.events.clear()


# ---- creation, claim, Ready ----


def test_claims_the_object_before_creating_anything(tmp_path: Path) -> None:
    w = world(tmp_path)
    w.api.add(container(finalizers=()))
    assert asyncio.run(w.reconcile()) == DONE
    assert w.api.objects["web"]["metadata"]["finalizers"] == [LXC_FINALIZER]
    assert w.rt.calls == []


def test_creates_starts_and_reports_running_and_ready(tmp_path: Path) -> None:
    w = world(tmp_path)
    w.api.add(container())
    assert asyncio.run(w.reconcile()) == DONE
    assert w.rt.actions("web") == ["create", "start"]
    status = w.status()
    assert status["phase"] == "Running" and status["startedAt"] and status["ip"].startswith("10.99.0.")
    assert w.condition("Ready")["status"] == "True"


def test_a_stopped_spec_is_not_ready(tmp_path: Path) -> None:
    w = world(tmp_path)
    w.api.add(container(state="Stopped"))
    asyncio.run(w.reconcile())
    assert w.rt.actions("web") == ["create"]
    assert w.status()["phase"] == "Stopped"
    assert (w.condition("Ready")["status"], w.condition("Ready")["reason"]) == ("False", "Stopped")


# ---- restart policy and crash-loop backoff ----


@pytest.mark.parametrize(
    ("policy", "exit_code", "signal", "restarted", "phase"),
    [
        ("Always", 0, None, True, "Running"),
        ("Always", 3, None, True, "Running"),
        ("OnFailure", 3, None, True, "Running"),
        ("OnFailure", None, 9, True, "Running"),
        ("OnFailure", 0, None, False, "Stopped"),
        ("OnFailure", None, 2, False, "Stopped"),  # halted from inside: a clean end
        ("Never", 3, None, False, "Failed"),
        ("Never", 0, None, False, "Stopped"),
    ],
    ids=["always-ok", "always-error", "onfailure-error", "onfailure-killed", "onfailure-ok", "onfailure-halted",
         "never-error", "never-ok"],
)
def test_restart_policy_after_a_crash(tmp_path: Path, policy: str, exit_code: int | None, signal: int | None,
                                      restarted: bool, phase: str) -> None:
    async def scenario() -> None:
        w = world(tmp_path)
        await running(w, policy=policy)
        w.rt.crash("web", exit_code=exit_code, signal=signal)
        assert await w.reconcile() == DONE
        assert w.rt.actions("web") == (["start"] if restarted else [])
        status = w.status()
        assert status["phase"] == phase
        assert status.get("restartCount", 0) == (1 if restarted else 0)
        assert status["lastExit"]["reason"] == ("Completed" if not exit_code and signal in (None, 2) else
                                                "Error" if exit_code else "Signaled")
        assert (w.condition("Ready")["status"] == "True") is restarted

    asyncio.run(scenario())


def test_crash_loop_backs_off_then_restarts(tmp_path: Path) -> None:
    async def scenario() -> None:
        w = world(tmp_path, restart_backoff_base=0.3, restart_backoff_cap=5.0)
        await running(w)
        w.rt.crash("web", exit_code=1)
        assert await w.reconcile() == DONE  # the first exit restarts at once
        assert w.status()["restartCount"] == 1
        w.rt.calls.clear()
        w.rt.crash("web", exit_code=1)
        result = await w.reconcile()
        assert result.requeue_after is not None and 0.25 < result.requeue_after <= 0.36
        assert w.rt.calls == []  # held down for the backoff
        status = w.status()
        assert status["phase"] == "Failed"
        assert status["message"] == "back-off 0s before restart 2: it exited with code 1"
        assert w.condition("CrashLoopBackOff")["status"] == "True"
        assert w.condition("Ready")["status"] == "False"
        await asyncio.sleep(result.requeue_after)
        assert await w.reconcile() == DONE
        assert w.rt.actions("web") == ["start"]
        assert w.status()["restartCount"] == 2 and w.status()["phase"] == "Running"
        assert w.condition("CrashLoopBackOff")["status"] == "False"

    asyncio.run(scenario())


def test_an_exit_racing_the_status_look_is_still_recorded(tmp_path: Path) -> None:
    # init was RUNNING when read, but gone before its /proc start time could be read: the report
    # must keep a start time (ours), or the next pass takes the stop for "never ran" and records nothing.
    async def scenario() -> None:
        w = world(tmp_path)
        w.api.add(container(policy="OnFailure"))
        real_inspect = w.rt.inspect

        def racing(name: str) -> Any:
            found = real_inspect(name)
            return dataclasses.replace(found, started=None) if found is not None and found.state == "RUNNING" else found

        w.rt.inspect = racing  # type: ignore[method-assign]
        assert await w.reconcile() == DONE
        assert w.status()["phase"] == "Running" and w.status().get("startedAt")
        w.rt.crash("web", exit_code=3)
        assert await w.reconcile() == DONE
        assert (w.status()["lastExit"]["reason"], w.status()["lastExit"]["exitCode"]) == ("Error", 3)
        assert w.status()["restartCount"] == 1

    asyncio.run(scenario())


# ---- dlxc restart, adoption, image change, drift ----


def test_restart_annotation_is_honoured_once(tmp_path: Path) -> None:
    async def scenario() -> None:
        w = world(tmp_path)
        await running(w)
        asked = "2099-01-01T00:00:00Z"  # after any start this test makes
        w.api.objects["web"]["metadata"]["annotations"][RESTART_ANNOTATION] = asked
        await w.reconcile()
        assert w.rt.actions("web") == ["stop", "start"]
        assert w.status()["observedRestartAt"] == asked
        assert w.status().get("restartCount", 0) == 0  # asked for, not a crash
        w.rt.calls.clear()
        await w.reconcile()
        assert w.rt.calls == []

    asyncio.run(scenario())


def test_a_container_dlxc_did_not_make_is_not_touched(tmp_path: Path) -> None:
    async def scenario() -> None:
        w = world(tmp_path)
        w.rt.add_foreign("web", [("lxc.rootfs.path", "dir:/srv/web/rootfs")])
        w.api.add(container())
        assert await w.reconcile() == DONE
        assert w.rt.calls == []
        assert w.status()["phase"] == "Failed"
        assert w.status()["message"].startswith("an LXC container web that dlxc did not make exists on node n1")

    asyncio.run(scenario())


def test_adoption_takes_over_in_place_without_a_restart(tmp_path: Path) -> None:
    async def scenario() -> None:
        w = world(tmp_path)
        rootfs = "dir:/srv/web/rootfs"
        w.rt.add_foreign("web", [("lxc.rootfs.path", rootfs), ("lxc.signal.halt", "SIGUSR1")])
        w.api.add(container(image=ADOPTED_IMAGE, privileged=True, annotations={ADOPTED_ROOTFS_ANNOTATION: rootfs}))
        assert await w.reconcile() == DONE
        # Config rewritten and live limits applied; the running container is not restarted for it.
        assert w.rt.actions("web") == ["write_config", "set_cgroup"]
        assert w.rt.managed("web")
        assert w.condition("Adopted")["reason"] == "TakenOver"
        assert w.status()["phase"] == "Running"

    asyncio.run(scenario())


def test_an_adoption_whose_rootfs_differs_is_refused(tmp_path: Path) -> None:
    async def scenario() -> None:
        w = world(tmp_path)
        w.rt.add_foreign("web", [("lxc.rootfs.path", "dir:/srv/other")])
        w.api.add(container(image=ADOPTED_IMAGE, privileged=True, annotations={ADOPTED_ROOTFS_ANNOTATION: "dir:/srv/web"}))
        await w.reconcile()
        assert w.rt.calls == []
        assert "not taking it over, nothing was changed" in w.status()["message"]

    asyncio.run(scenario())


def test_an_image_change_rebuilds_the_rootfs_and_says_so(tmp_path: Path) -> None:
    async def scenario() -> None:
        w = world(tmp_path)
        await running(w)
        w.api.objects["web"]["spec"]["image"] = OTHER_IMAGE
        await w.reconcile()
        assert w.rt.actions("web") == ["destroy", "create", "start"]
        assert "download_alpine_3.19_amd64" in dict(w.rt.containers["web"].items)["lxc.rootfs.path"]
        assert w.condition("RootfsRebuilt")["reason"] == "ImageChanged"
        assert await w.events() == [
            ("Normal", "ImageChanged", "rootfs rebuilt from image download:alpine/3.19/amd64 (the old one, "
                                       f"overlay:/images/busybox:{tmp_path}/lxc/web/delta0, was removed)"),
            ("Normal", "Created", "created on node n1 from image download:alpine/3.19/amd64"),
            ("Normal", "Started", "started on node n1"),
        ]

    asyncio.run(scenario())


def test_a_config_edited_behind_our_back_is_repaired(tmp_path: Path) -> None:
    async def scenario() -> None:
        w = world(tmp_path)
        await running(w)
        want = dict(w.rt.containers["web"].items)["lxc.uts.name"]
        w.rt.drift("web", "lxc.uts.name", "hijacked")
        await w.reconcile()
        # Not a live key: rewritten, and a restart applies it.
        assert w.rt.actions("web") == ["write_config", "stop", "start"]
        assert dict(w.rt.containers["web"].items)["lxc.uts.name"] == want
        assert w.status().get("restartCount", 0) == 0

    asyncio.run(scenario())


def test_a_resync_that_finds_nothing_to_do_looks_at_lxc_once(tmp_path: Path) -> None:
    # An idle node's resync is one look per container (liblxc state, init pid, config); a pass that
    # acted looks again, to report what LXC has after it.
    async def scenario() -> None:
        w = world(tmp_path)
        await running(w)
        looks: list[str] = []
        real_inspect = w.rt.inspect

        def counting(name: str) -> Any:
            looks.append(name)
            return real_inspect(name)

        w.rt.inspect = counting  # type: ignore[method-assign]
        assert await w.reconcile() == DONE
        assert (looks, w.rt.actions("web")) == (["web"], [])
        w.rt.drift("web", "lxc.uts.name", "hijacked")
        looks.clear()
        await w.reconcile()
        assert looks == ["web", "web"] and w.rt.actions("web") == ["write_config", "stop", "start"]

    asyncio.run(scenario())


def test_an_init_gone_after_the_one_look_is_still_queued(tmp_path: Path) -> None:
    # The pass reuses its look to report: an init that exited since is not watched but queued, so its
    # exit is recorded at once, not at the next resync.
    async def scenario() -> None:
        w = world(tmp_path)
        await running(w)
        queued: list[str] = []
        w.r.drift = DriftPoller(w.r.settings.lxc_path, interval=1.0, enqueue=queued.append)
        w.rt.containers["web"].init_pid = 2**22 + 1  # RUNNING when read; no such process by the watch
        assert await w.reconcile() == DONE
        assert queued == ["web"] and "web" not in w.r.drift.watched

    asyncio.run(scenario())


# ---- fencing and the stale guard ----


def test_a_fenced_node_never_starts_a_container(tmp_path: Path) -> None:
    async def scenario() -> None:
        w = world(tmp_path)
        w.lease.fenced = True
        w.api.add(container())
        assert await w.reconcile() == DONE
        assert w.rt.calls == []

    asyncio.run(scenario())


def test_a_container_moved_away_meanwhile_is_not_started(tmp_path: Path) -> None:
    async def scenario() -> None:
        w = world(tmp_path)
        w.api.add(container())
        stale = w.api.cached("web")
        w.api.objects["web"]["spec"]["nodeName"] = "elsewhere"  # the informer has not seen the move yet
        w.r.cached = lambda name: stale
        await w.reconcile()
        assert "start" not in w.rt.actions("web") and "create" not in w.rt.actions("web")

    asyncio.run(scenario())


def test_fencing_kills_and_then_the_stop_is_not_counted_as_an_exit(tmp_path: Path) -> None:
    async def scenario() -> None:
        w = world(tmp_path)
        await running(w, policy="Never")
        w.lease.fenced = True
        await w.guard.fence()
        assert w.rt.states() == {"web": "STOPPED"} and w.stops.reason("web") == "fenced"
        await w.reconcile()  # fenced: not started, and no exit recorded
        assert "lastExit" not in w.status()
        w.lease.fenced = False
        await w.reconcile()
        assert w.rt.actions("web") == ["stop", "start"]
        assert w.status()["phase"] == "Running" and "lastExit" not in w.status()
        assert w.stops.reason("web") is None

    asyncio.run(scenario())


# ---- stops dlxc made: down/up, host reboot ----


@pytest.mark.parametrize("policy", ["Always", "OnFailure", "Never"])
def test_down_then_up_is_not_a_crash(tmp_path: Path, policy: str) -> None:
    async def scenario() -> None:
        w = world(tmp_path, restart_backoff_base=0.3)
        await running(w, policy=policy)
        if policy != "Never":
            w.rt.crash("web", exit_code=1)  # an earlier real crash, so there are counters to keep
            await w.reconcile()
        before = {k: w.status().get(k) for k in ("restartCount", "lastExit")}
        # dlxc down: marks, then stops (the log then says signal 2, as a halt from inside does)
        w.stops.mark("web", "down")
        w.rt.stop("web")
        w.rt.calls.clear()
        assert await w.reconcile() == DONE  # dlxc up
        assert w.rt.actions("web") == ["start"]
        status = w.status()
        assert status["phase"] == "Running" and w.condition("Ready")["status"] == "True"
        assert {k: status.get(k) for k in before} == before
        assert w.stops.reason("web") is None
        # A crash after that is an exit again.
        w.rt.crash("web", exit_code=1)
        await w.reconcile()
        assert w.status()["lastExit"]["exitCode"] == 1

    asyncio.run(scenario())


def test_a_host_reboot_is_not_a_crash(tmp_path: Path) -> None:
    async def scenario() -> None:
        w = world(tmp_path)
        await running(w, policy="Never")
        assert w.stops.note_boot("boot-a", []) is False  # the first run only records the boot id
        w.rt.crash("web", signal=9)  # the host went down under it: the log says whatever it says
        assert w.stops.note_boot("boot-b", ["web"]) is True
        w.rt.calls.clear()
        await w.reconcile()
        assert w.rt.actions("web") == ["start"]
        assert "lastExit" not in w.status() and w.status()["phase"] == "Running"

    asyncio.run(scenario())


def test_the_same_boot_marks_nothing(tmp_path: Path) -> None:
    stops = StopRecords(tmp_path)
    assert stops.note_boot("boot-a", ["web"]) is False
    assert stops.note_boot("boot-a", ["web"]) is False
    assert stops.reason("web") is None
    assert stops.note_boot("boot-b", ["web"]) is True
    assert stops.reason("web") == "host-reboot"


# ---- deletion ----


def test_delete_removes_the_container_then_the_finalizer(tmp_path: Path) -> None:
    async def scenario() -> None:
        w = world(tmp_path)
        await running(w)
        w.api.objects["web"]["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
        assert await w.reconcile() == DONE
        assert w.rt.actions("web") == ["destroy"] and "web" not in w.rt.containers
        assert w.api.objects["web"]["metadata"]["finalizers"] == []

    asyncio.run(scenario())


def test_a_failing_start_says_why_and_raises_for_a_retry(tmp_path: Path) -> None:
    async def scenario() -> None:
        w = world(tmp_path)
        w.api.add(container())
        w.rt.fail_next("start", "container web failed to start: no such bridge")
        with pytest.raises(RuntimeError):
            await w.reconcile()
        assert w.status()["phase"] == "Failed"
        assert w.status()["message"] == "container web failed to start: no such bridge"

    asyncio.run(scenario())


def test_a_failure_is_reported_with_the_generation_it_judged(tmp_path: Path) -> None:
    """`apply --wait` after a change tells a failure of the new spec from a leftover of the old one by it."""
    async def scenario() -> None:
        w = world(tmp_path)
        changed = container()
        changed["metadata"]["generation"] = 2
        w.api.add(changed)
        w.rt.fail_next("start", "container web failed to start: no such bridge")
        with pytest.raises(RuntimeError):
            await w.reconcile()
        assert (w.status()["phase"], w.status()["observedGeneration"]) == ("Failed", 2)

    asyncio.run(scenario())


# ---- the work queue around it: an apiserver outage ----


def test_an_apiserver_outage_is_retried_with_backoff(tmp_path: Path) -> None:
    async def scenario() -> None:
        api, rt = FakeApi(), FakeRuntime()
        s = settings(tmp_path)
        s.lxc_path.mkdir(parents=True)
        agent = Kubelet(api, rt, FakeImages(), FakeNetwork, s, idmap=IDMAP, host=HostFeatures())  # type: ignore[arg-type]
        api.add(container())
        agent.containers.cache["web"] = api.cached("web")  # type: ignore[assignment]
        api.outage = unreachable()
        worker = asyncio.create_task(agent.queue.run(agent._process, workers=2))
        try:
            agent.enqueue("web")
            for _ in range(100):
                await asyncio.sleep(0.01)
                if agent.queue.failures("web"):
                    break
            assert agent.queue.failures("web") == 1
            delay = agent.queue.pending_delay("web")
            assert delay is not None and 0.5 < delay <= 1.2  # 1 s, jittered
            assert rt.calls == []
            api.outage = None
            for _ in range(300):
                await asyncio.sleep(0.01)
                if api.objects["web"]["status"].get("phase") == "Running":
                    break
            assert api.objects["web"]["status"]["phase"] == "Running"
            assert rt.actions("web") == ["create", "start"]
            assert agent.queue.failures("web") == 0  # forgotten on success
        finally:
            worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)

    asyncio.run(scenario())


def test_the_stale_guard_removes_copies_no_longer_bound_here_and_leaves_foreign_ones(tmp_path: Path) -> None:
    async def scenario() -> None:
        w = world(tmp_path)
        await running(w)
        w.api.add(container("kept"))
        await w.reconcile("kept")
        w.rt.add_foreign("theirs", [("lxc.rootfs.path", "dir:/srv/theirs")])
        del w.api.objects["web"]  # deleted (or moved) while this node was away
        w.rt.calls.clear()
        assert await w.guard.remove_stale_copies() == ["web"]
        assert w.rt.calls == [("destroy", "web")]
        assert sorted(w.rt.containers) == ["kept", "theirs"]

    asyncio.run(scenario())


# ---- events: exact type, reason and message, only on transitions ----


class PreparingImages(FakeImages):
    """Images are built on first use; a ref in `broken` fails to build as a mirror that is down does."""

    def __init__(self, broken: set[str] | None = None) -> None:
        self.cached: set[str] = set()
        self.broken = broken or set()

    def is_cached(self, ref: str, *, idmap: Any) -> bool:
        return ref in self.cached

    def ensure(self, ref: str, *, idmap: Any) -> Path:
        if ref in self.broken:
            raise images.ImageError("lxc-create failed (exit 1): mirror unreachable")
        self.cached.add(ref)
        return super().ensure(ref, idmap=idmap)


def test_events_of_create_and_start_then_none_on_resync(tmp_path: Path) -> None:
    async def scenario() -> None:
        w = world(tmp_path)
        w.api.add(container())
        await w.reconcile()
        assert await w.events() == [
            ("Normal", "Created", "created on node n1 from image busybox"),
            ("Normal", "Started", "started on node n1"),
        ]
        for _ in range(3):  # resyncs that find nothing to do write no events
            await w.reconcile()
        assert await w.events() == []

    asyncio.run(scenario())


def test_events_of_a_crash_loop(tmp_path: Path) -> None:
    async def scenario() -> None:
        w = world(tmp_path, restart_backoff_base=0.3, restart_backoff_cap=5.0)
        await running(w)
        w.rt.crash("web", exit_code=1)
        await w.reconcile()  # the first exit restarts at once
        assert await w.events() == [
            ("Normal", "Started", "started on node n1"),
            ("Normal", "Restarted", "restarted after it exited with code 1 (restartPolicy Always)"),
        ]
        w.rt.crash("web", exit_code=1)
        result = await w.reconcile()
        await w.reconcile()  # a look during the backoff says nothing again
        assert await w.events() == [("Warning", "BackOff", "back-off restarting: it exited with code 1")]
        assert result.requeue_after is not None
        await asyncio.sleep(result.requeue_after)
        await w.reconcile()
        assert await w.events() == [
            ("Normal", "Started", "started on node n1"),
            ("Normal", "Restarted", "restarted after it exited with code 1 (restartPolicy Always)"),
        ]

    asyncio.run(scenario())


def test_event_of_a_live_reconfigure(tmp_path: Path) -> None:
    async def scenario() -> None:
        w = world(tmp_path)
        await running(w)
        w.api.objects["web"]["spec"]["memory"] = "256Mi"
        await w.reconcile()
        assert w.rt.actions("web") == ["write_config", "set_cgroup", "set_cgroup"]
        assert await w.events() == [
            ("Normal", "Reconfigured", "applied live, no restart; changed: lxc.cgroup2.memory.max, lxc.cgroup2.memory.swap.max"),
        ]

    asyncio.run(scenario())


def test_event_of_a_reconfigure_that_needs_a_restart(tmp_path: Path) -> None:
    async def scenario() -> None:
        w = world(tmp_path)
        await running(w)
        w.rt.drift("web", "lxc.uts.name", "hijacked")
        await w.reconcile()
        assert w.rt.actions("web") == ["write_config", "stop", "start"]
        assert await w.events() == [("Normal", "Reconfigured", "restarted to apply it; changed: lxc.uts.name")]

    asyncio.run(scenario())


def test_event_of_dlxc_restart(tmp_path: Path) -> None:
    async def scenario() -> None:
        w = world(tmp_path)
        await running(w)
        w.api.objects["web"]["metadata"]["annotations"][RESTART_ANNOTATION] = "2099-01-01T00:00:00Z"
        await w.reconcile()
        assert await w.events() == [("Normal", "Restarted", "restarted as asked (dlxc restart)")]

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("stubborn", "expected"),
    [
        (False, [("Normal", "Stopped", "stopped: spec.state is Stopped")]),
        (True, [("Warning", "Killing", "did not halt within 30s; killed"),
                ("Normal", "Stopped", "stopped: spec.state is Stopped")]),
    ],
    ids=["halted", "killed"],
)
def test_events_of_a_stop(tmp_path: Path, stubborn: bool, expected: list[tuple[str, str, str]]) -> None:
    async def scenario() -> None:
        w = world(tmp_path)
        await running(w)
        if stubborn:
            w.rt.stubborn.add("web")
        w.api.objects["web"]["spec"]["state"] = "Stopped"
        await w.reconcile()
        assert w.rt.states() == {"web": "STOPPED"}
        assert await w.events() == expected

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        ("start failed: mount /tmp/x/vol: Permission denied (full log: /var/lib/dlxc/web/lxc.log)", "FailedMount"),
        ("start failed: no such bridge dlxcbr9 (full log: /var/lib/dlxc/web/lxc.log)", "FailedStart"),
    ],
    ids=["mount", "other"],
)
def test_event_of_a_failed_start(tmp_path: Path, error: str, reason: str) -> None:
    async def scenario() -> None:
        w = world(tmp_path)
        w.api.add(container())
        w.rt.fail_next("start", error + "\nlxc-start web 20261130 ERROR a log tail line")
        with pytest.raises(RuntimeError):
            await w.reconcile()
        assert await w.events() == [("Normal", "Created", "created on node n1 from image busybox"), ("Warning", reason, error)]

    asyncio.run(scenario())


def test_events_of_an_image_prepared_and_one_that_failed(tmp_path: Path) -> None:
    async def scenario() -> None:
        w = world(tmp_path)
        w.r.images = PreparingImages(broken={OTHER_IMAGE})
        w.api.add(container())
        await w.reconcile()
        assert (await w.events())[0] == ("Normal", "ImagePulled", "image busybox prepared in node n1's cache")
        await w.reconcile()
        assert await w.events() == []  # cached now: nothing to say
        w.api.objects["web"]["spec"]["image"] = OTHER_IMAGE
        result = await w.reconcile()
        assert result.requeue_after == w.r.settings.image_retry_interval
        assert await w.events() == [
            ("Warning", "ImagePullFailed", f"image {OTHER_IMAGE}: lxc-create failed (exit 1): mirror unreachable"),
        ]

    asyncio.run(scenario())


def test_an_event_the_apiserver_refuses_fails_nothing(tmp_path: Path) -> None:
    async def scenario() -> None:
        w = world(tmp_path)

        async def refused(*args: Any, **kwargs: Any) -> None:
            raise unreachable()

        w.api.record_event = refused  # type: ignore[method-assign]
        w.api.add(container())
        assert await w.reconcile() == DONE
        await w.r.events.flush()
        assert w.status()["phase"] == "Running"
        assert w.r.events.dropped == 2  # Created and Started, given up

    asyncio.run(scenario())


# ---- the cluster network ----


def cluster_world(tmp_path: Path) -> World:
    from kubelet.clusternet import ClusterNet

    w = world(tmp_path, cluster_cidr=ipaddress.IPv4Network("10.88.0.0/16"), cluster_bridge="dlxc0")
    w.r.clusternet = ClusterNet(None, w.r.settings)  # type: ignore[arg-type]  # its informers never run here
    return w


def test_a_container_on_the_cluster_network_gets_its_address_gateway_and_hosts_file(tmp_path: Path) -> None:
    w = cluster_world(tmp_path)
    obj = container()
    obj["spec"]["network"] = {"type": "cluster", "ipv4": "10.88.3.4/16"}
    w.api.add(obj)
    asyncio.run(w.reconcile())
    items = w.rt.containers["web"].items
    hosts = tmp_path / "lxc" / ".hosts" / "web"
    assert [kv for kv in items if kv[0].startswith("lxc.net.0.") or kv[0] == "lxc.mount.entry" and "etc/hosts" in kv[1]] == [
        ("lxc.net.0.type", "veth"), ("lxc.net.0.link", "dlxc0"), ("lxc.net.0.flags", "up"), ("lxc.net.0.name", "eth0"),
        ("lxc.net.0.hwaddr", hwaddr_for("web")), ("lxc.net.0.ipv4.address", "10.88.3.4/16"),
        ("lxc.net.0.ipv4.gateway", "10.88.0.1"), ("lxc.net.0.mtu", "1450"),
        ("lxc.mount.entry", f"{hosts} etc/hosts none bind,create=file 0 0"),
    ]
    assert hosts.is_file()  # there before the start that bind-mounts it
    # Owned by the container's root, which may edit it (its own lines outside dlxc's blocks are kept).
    assert (hosts.stat().st_uid, hosts.stat().st_gid) == (IDMAP.host_uid(0), IDMAP.host_gid(0))
    assert w.status()["phase"] == "Running" and w.status()["ip"] == "10.88.3.4"


def test_a_cluster_members_aliases_go_into_its_hosts_file_not_through_its_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # On the cluster network /etc/hosts is the kubelet's bind-mounted file: writing the block through
    # /proc/PID/root met the mount and failed (EROFS when it was read-only), so no member ever got ready.
    monkeypatch.setattr(clusterfiles, "BOOT_SETTLE", 0.0)
    w = cluster_world(tmp_path)
    lines = ["10.88.3.4 frontend.mc.cluster frontend mc-frontend", "10.88.3.5 node1.mc.cluster node1 mc-node1"]
    obj = container("mc-node1", annotations={HOSTS_ANNOTATION: ";".join(lines)})
    obj["spec"]["network"] = {"type": "cluster", "ipv4": "10.88.3.5/16"}
    w.api.add(obj)
    asyncio.run(w.reconcile("mc-node1"))
    assert w.status("mc-node1")["phase"] == "Running"
    text = (tmp_path / "lxc" / ".hosts" / "mc-node1").read_text()
    assert text.split("# BEGIN dlxc cluster")[1].split("\n")[1:3] == lines


@pytest.mark.parametrize(
    ("network", "link", "message"),
    [
        (None, "dlxcbr0", None),
        ({"type": "bridge"}, "dlxcbr0", None),
        ({"type": "cluster", "ipv4": "10.89.3.4/16"}, None,
         "spec.network.ipv4 10.89.3.4/16 is not in this node's cluster network 10.88.0.0/16"),
    ],
    ids=["stored-before-the-cluster-network", "node-bridge", "other-cluster-cidr"],
)
def test_which_bridge_a_container_gets(tmp_path: Path, network: dict | None, link: str | None, message: str | None) -> None:
    w = cluster_world(tmp_path)
    obj = container()
    if network is not None:
        obj["spec"]["network"] = network
    w.api.add(obj)
    asyncio.run(w.reconcile())
    if link is not None:
        assert ("lxc.net.0.link", link) in w.rt.containers["web"].items
        assert w.status()["ip"].startswith("10.99.0.")
    else:
        assert "web" not in w.rt.containers
        assert w.status()["phase"] == "Failed" and message in w.status()["message"]


# ---- usage stays out of the status ----


def test_an_idle_running_container_is_not_written_again(tmp_path: Path) -> None:
    """Usage is served from the kubelet's memory: a reconcile of an unchanged Running container writes
    nothing, with the apiserver's empty `metrics` default in the status; an older kubelet's sample goes once."""
    w = world(tmp_path)
    asyncio.run(running(w))
    w.api.objects["web"]["status"]["metrics"] = {}  # as the apiserver's model fills it in
    before = len(w.api.writes)
    assert asyncio.run(w.reconcile()) == DONE
    assert asyncio.run(w.reconcile()) == DONE
    assert w.api.writes[before:] == []
    w.api.objects["web"]["status"].update(metrics={"cpu.cores": 0.5}, metricsTime="2026-01-01T00:00:00Z")
    assert asyncio.run(w.reconcile()) == DONE
    assert asyncio.run(w.reconcile()) == DONE
    assert len(w.api.writes) == before + 1
    assert "metrics" not in w.api.statuses("web")[-1] and "metricsTime" not in w.api.statuses("web")[-1]
