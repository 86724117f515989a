"""One container's reconcile: re-read the object and LXC, then run named steps that plan, act and report.

`Reconciler.reconcile(name)` returns a `Result`: whether to look again after a delay (a crash-loop
backoff running out, an image build to retry). The work queue owns the timers; nothing here sets
one. The steps run in this order, and each returns None to go on or a Result to stop there:

  check_adoption    a container dlxc did not make is taken over only as an adoption allows
  prepare           the image is in the cache and the spec renders into LXC config
  record_exit       a run that ended on its own is an exit (a stop dlxc made is not)
  restart_request   `dlxc restart` is honoured once
  hold_after_exit   the restart policy and crash-loop backoff keep it down for now
  plan_actions      plan(desired, observed), and what a rebuild or takeover says about it
  confirm_binding   never start a copy that may run elsewhere (fenced, or moved away)
  act               run the actions; count the restart
  cluster_files     a cluster member's /etc/hosts block and first-boot scripts (kubelet.clusterfiles)
  report            write the status, and say when to look again

Events (`_event`) are recorded where an action happened, after it succeeded or failed, and only on a
transition (an action run, a condition turning): a resync that finds nothing to do records nothing.
They go through an EventRecorder (dlxc.client.events): queued, never awaited, so an apiserver that
does not take them never fails or slows a reconcile.
"""
from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any

from dlxc.client.errors import NotFound
from dlxc.client.events import NORMAL, WARNING, EventRecorder
from kubelet import clusterfiles, images, keep, names, render, restarts
from kubelet.allocator import Allocator
from kubelet.hostfeatures import HostFeatures
from kubelet.plan import (
    Action, Create, Desired, Destroy, Observed, Reconfigure, Restart, SetCgroup, Start, Stop, Unfreeze, changed_keys, plan,
)
from kubelet.ports import ContainerApi, Runtime
from kubelet.render import RenderError
from kubelet.settings import KubeletSettings
from kubelet.statusfields import (
    adopted_rootfs, describe_exit, error_summary, parse_time, ran_since_last_exit, restarted_after, set_condition,
)
from kubelet.stops import StopRecords
from schemas import Container
from schemas.base import Obj, iso_time
from schemas.wire import (
    CONTEXT_ANNOTATION, HOSTS_ANNOTATION, KEEP_ROOTFS_ANNOTATION, LXC_FINALIZER, NODE_HOOKS_ANNOTATION, RESTART_ANNOTATION,
)

__all__ = ["DONE", "Reconciler", "RenderError", "Result"]

log = logging.getLogger("dlxc.kubelet")

# After a start, how soon to look again at a container that did not stay up (to record its exit).
RECHECK_AFTER_START = 0.2
STOP_TIMEOUT = 30.0  # seconds init has to halt before it is killed
# startlog.start_failure's one line when the first error of the lxc.log is a mount.
_MOUNT_FAILURE = "start failed: mount "


@dataclass(frozen=True)
class Result:
    """What a reconcile asks of the work queue: look again after `requeue_after` seconds, or not (None)."""

    requeue_after: float | None = None


DONE = Result()


@dataclass
class Pass:
    """One reconcile's working state: what was read, and what the steps decided so far."""

    obj: Obj
    container: Container
    observed: Observed | None
    status: Obj
    now: datetime
    desired: Desired = None  # type: ignore[assignment]  # set by prepare, before any later step
    takeover: bool = False
    requested: str | None = None  # the restart annotation's value
    restart_asked: bool = False
    pending_exit: bool = False  # an exit of the current generation not yet followed by a start
    held: bool = False  # kept down by the restart policy
    wait: float = 0.0  # seconds of crash-loop backoff left
    actions: list[Action] = field(default_factory=list)

    @property
    def name(self) -> str:
        return str(self.obj["metadata"]["name"])

    @property
    def generation(self) -> Any:
        return self.obj["metadata"].get("generation")

    @property
    def last_exit(self) -> Obj | None:
        return self.status.get("lastExit")


class Reconciler:
    """Reconciles the containers bound to one node; the Kubelet's work queue calls `reconcile`."""

    def __init__(
        self, api: ContainerApi, runtime: Runtime, settings: KubeletSettings, *,
        images: Any, network: Any, idmap: Any, allocator: Allocator, host: HostFeatures, drift: Any, stops: StopRecords,
        cached: Callable[[str], Obj | None], may_start: Callable[[Obj], Awaitable[bool]],
        cgroup_version: int, clusternet: Any = None,
        restored_rootfs: Callable[[Container], str | None] | None = None,
    ) -> None:
        self.api = api
        self.runtime = runtime
        self.settings = settings
        self.images = images  # kubelet.images.ImageCache
        self.network = network  # the kubelet.network module
        self.idmap = idmap
        self.allocator = allocator
        self.host = host  # idmapped mounts, lxcfs: see kubelet.hostfeatures
        self.drift = drift  # kubelet.drift.DriftPoller
        self.stops = stops
        self.cached = cached  # the informer's copy of a container
        self.may_start = may_start  # the stale guard's last check before a start
        self.cgroup_version = cgroup_version
        self.restored_rootfs = restored_rootfs  # kubelet.restores: a rootfs unpacked from a backup
        self.clusternet = clusternet  # kubelet.clusternet.ClusterNet: the cluster network, if this node has it
        self.backoff = restarts.Backoff(base=settings.restart_backoff_base, cap=settings.restart_backoff_cap)
        self.reported: dict[str, Obj] = {}  # the object as our last status write returned it
        self.started: dict[str, datetime] = {}  # when we last started each container
        self.events = EventRecorder(api, component="kubelet", host=settings.node_name)

    # ---- reading ----

    def latest(self, name: str) -> Obj | None:
        """The newest copy we know: the watch may not have brought back our own last status write yet."""
        cached = self.cached(name)
        mine = self.reported.get(name)
        if cached is None or mine is None:
            return cached
        if mine["metadata"].get("uid") != cached["metadata"].get("uid"):
            return cached
        return mine if int(mine["metadata"]["resourceVersion"]) > int(cached["metadata"]["resourceVersion"]) else cached

    def observe(self, name: str) -> Observed | None:
        found = self.runtime.inspect(name)
        if found is None:
            return None
        return Observed(name=name, state=found.state, items=tuple(found.items), init_pid=found.init_pid or -1,
                        started=found.started)

    def desired(self, container: Container) -> Desired:
        """Render the spec into LXC config; raise RenderError when this node cannot host it."""
        return render.desired(container, settings=self.settings, allocator=self.allocator, network=self.network,
                              image_cache=self.images, runtime=self.runtime, idmap=self.idmap, host=self.host,
                              cgroup_version=self.cgroup_version, clusternet=self.clusternet,
                              restored_rootfs=self.restored_rootfs)

    # ---- acting ----

    def execute(self, action: Action) -> bool:
        """Run one action against LXC; each is idempotent (blocking: called in a thread).

        Returns True when a stop (Stop, Restart) had to kill: init did not halt within STOP_TIMEOUT.
        """
        rt, name = self.runtime, action.name
        if isinstance(action, Create):
            rt.create(name, list(action.items))
        elif isinstance(action, Destroy):
            rt.destroy(name)
            self.allocator.release(name)
            self.stops.clear(name)
        elif isinstance(action, Reconfigure):
            rt.write_config(name, list(action.items))
        elif isinstance(action, SetCgroup):
            rt.set_cgroup(name, action.key, action.value)
        elif isinstance(action, Start):
            self.started[name] = datetime.now(timezone.utc)
            rt.start(name, timeout=30)
        elif isinstance(action, Stop):
            return bool(rt.stop(name, timeout=STOP_TIMEOUT))
        elif isinstance(action, Restart):
            killed = bool(rt.stop(name, timeout=STOP_TIMEOUT))
            self.started[name] = datetime.now(timezone.utc)
            rt.start(name, timeout=30)
            return killed
        elif isinstance(action, Unfreeze):
            rt.unfreeze(name)
        else:
            raise TypeError(f"unknown action {action!r}")
        return False

    async def _remove_if_ours(self, name: str, observed: Observed | None) -> None:
        # A container dlxc did not make (a name clash, or an adoption not yet taken over) is left alone.
        if observed is not None and await asyncio.to_thread(self.runtime.managed, name):
            for action in plan(None, observed):
                await asyncio.to_thread(self.execute, action)

    # ---- the reconcile ----

    async def reconcile(self, name: str) -> Result:
        """Level-triggered: re-read the object and LXC, then run the steps (see the module's docstring)."""
        obj = self.latest(name)
        observed = await asyncio.to_thread(self.observe, name)
        if observed is None or observed.state not in ("RUNNING", "FROZEN"):
            self.drift.forget(name)
        if obj is None or obj["spec"].get("nodeName") != self.settings.node_name:
            return await self.teardown(name, observed)
        if obj["metadata"].get("deletionTimestamp"):
            return await self.finalize(obj, observed)
        if LXC_FINALIZER not in obj["metadata"].get("finalizers", []):
            return await self.claim(obj)
        p = Pass(obj=obj, container=Container.model_validate(obj), observed=observed,
                 status=dict(obj.get("status") or {}), now=datetime.now(timezone.utc))
        steps = (self.check_adoption, self.prepare, self.record_exit, self.restart_request, self.hold_after_exit,
                 self.plan_actions, self.confirm_binding, self.act, self.cluster_files, self.report)
        for step in steps:
            result = await step(p)
            if result is not None:
                return result
        raise AssertionError("report always returns a Result")

    async def teardown(self, name: str, observed: Observed | None) -> Result:
        """Not ours (deleted while we were away, or moved): remove what LXC still holds, if we made it."""
        await self._remove_if_ours(name, observed)
        self.reported.pop(name, None)
        self.started.pop(name, None)
        self.drift.forget(name)
        return DONE

    async def finalize(self, obj: Obj, observed: Observed | None) -> Result:
        """Deleted: remove the LXC container (or, for a move, keep its directory: kubelet.keep), then
        our finalizer, so the object goes."""
        name = obj["metadata"]["name"]
        backup = (obj["metadata"].get("annotations") or {}).get(KEEP_ROOTFS_ANNOTATION)
        if backup and observed is not None and await asyncio.to_thread(self.runtime.managed, name):
            if observed.state != "STOPPED":
                await asyncio.to_thread(self.execute, Stop(name))
            await asyncio.to_thread(keep.park, self.settings.lxc_path, name, backup)
            self.allocator.release(name)
            self.stops.clear(name)
        await self._remove_if_ours(name, await asyncio.to_thread(self.observe, name) if backup else observed)
        meta = obj["metadata"]
        if LXC_FINALIZER in meta.get("finalizers", []):
            rest = [f for f in meta["finalizers"] if f != LXC_FINALIZER]
            try:
                await self.api.patch("containers", meta["name"],
                                     {"metadata": {"finalizers": rest, "resourceVersion": meta["resourceVersion"]}})
            except NotFound:
                pass
        return DONE

    async def claim(self, obj: Obj) -> Result:
        """Claim the object before creating anything, so a delete waits for our cleanup."""
        meta = obj["metadata"]
        await self.api.patch(
            "containers", meta["name"],
            {"metadata": {"finalizers": [*meta.get("finalizers", []), LXC_FINALIZER], "resourceVersion": meta["resourceVersion"]}},
        )
        return DONE  # the watch brings the updated object back to us

    async def check_adoption(self, p: Pass) -> Result | None:
        if p.observed is None or await asyncio.to_thread(self.runtime.managed, p.name):
            return None
        node = self.settings.node_name
        if adopted_rootfs(p.container) is None:
            return await self._failed(p, f"an LXC container {p.name} that dlxc did not make exists on node {node}; "
                                         f"adopt it with `dlxc adopt {node} {p.name}` or choose another name", as_read=True)
        problem = render.adoption_problem(p.container, p.observed, idmap=self.idmap)
        if problem:
            return await self._failed(p, problem, as_read=True)
        p.takeover = True
        return None

    async def prepare(self, p: Pass) -> Result | None:
        """The image is in the node's cache (built if not, saying so meanwhile) and the spec renders."""
        image = p.container.spec.image
        idmap = None if p.container.spec.privileged else self.idmap
        preparing = False
        try:
            if adopted_rootfs(p.container) is None and not await asyncio.to_thread(self.images.is_cached, image, idmap=idmap):
                preparing = True
                set_condition(p.status, "ImageReady", "False", "Preparing",
                              f"preparing image {image} on node {self.settings.node_name}")
                await self._report(p.obj, phase="Creating" if p.observed is None else p.status.get("phase"),
                                   message=f"preparing image {image}", status=p.status)
            elif p.observed is None:
                await self._report(p.obj, phase="Creating", message="creating the container", status=p.status)
            p.desired = await asyncio.to_thread(self.desired, p.container)
        except (RenderError, ValueError) as exc:
            return await self._failed(p, str(exc))
        except images.ImageError as exc:
            set_condition(p.status, "ImageReady", "False", "Failed", str(exc))
            self._event(p, WARNING, "ImagePullFailed", str(exc) if image in str(exc) else f"image {image}: {exc}")
            await self._failed(p, str(exc))
            # Building again at once would fail the same way (no network, no mirror): wait a while.
            return Result(requeue_after=self.settings.image_retry_interval)
        if preparing:
            self._event(p, NORMAL, "ImagePulled", f"image {image} prepared in node {self.settings.node_name}'s cache")
        if preparing or any(c.get("type") == "ImageReady" and c.get("status") != "True" for c in p.status.get("conditions", [])):
            set_condition(p.status, "ImageReady", "True", "Prepared", f"image {image} is in the node's cache")
        return None

    async def record_exit(self, p: Pass) -> Result | None:
        """A run that ended since we last looked: record how, and when to start it again.

        A stop dlxc made (dlxc down, fencing, a host reboot) is no exit: nothing is recorded and the
        container is started again as its spec says, with its counters as they were.
        """
        observed = p.observed
        if not (p.desired.running and observed is not None and observed.state == "STOPPED" and ran_since_last_exit(p.status)):
            return None
        why = self.stops.reason(p.name)
        if why is not None:
            log.info("%s: stopped by dlxc (%s), not by itself; not an exit", p.name, why)
            return None
        ended = restarts.parse_exit(await asyncio.to_thread(self.runtime.exit_log, p.name))
        previous = p.last_exit
        started = parse_time(p.status.get("startedAt"))
        policy = p.container.spec.restart_policy
        delay = 0.0
        if restarts.restart_wanted(policy, ended):
            delay = restarts.next_backoff(
                previous.get("backoffSeconds") if previous else None,
                (p.now - started).total_seconds() if started else None,
                self.backoff,
            )
        p.status["lastExit"] = {
            k: v for k, v in {
                "reason": ended.reason, "exitCode": ended.exit_code, "signal": ended.signal,
                "startedAt": p.status.get("startedAt"), "finishedAt": iso_time(p.now),
                "generation": p.generation, "backoffSeconds": delay,
            }.items() if v is not None
        }
        p.status.pop("startedAt", None)
        log.info("%s: %s; restartPolicy %s", p.name, ended.describe(), policy)
        return None

    async def restart_request(self, p: Pass) -> Result | None:
        """`dlxc restart` annotates the object with the time it asked; honour each value once."""
        p.requested = p.obj["metadata"].get("annotations", {}).get(RESTART_ANNOTATION)
        p.restart_asked = bool(p.requested) and p.requested != p.status.get("observedRestartAt")
        observed = p.observed
        if p.restart_asked and (observed is None or not p.desired.running or restarted_after(observed, p.requested or "")):
            # Nothing running to restart, or it already started after the request (we did it, then died).
            p.status["observedRestartAt"] = p.requested
            p.restart_asked = False
        return None

    async def hold_after_exit(self, p: Pass) -> Result | None:
        """Held down after an exit: by the restart policy, or until its backoff runs out."""
        last_exit, observed = p.last_exit, p.observed
        p.pending_exit = (
            last_exit is not None and not ran_since_last_exit(p.status) and observed is not None
            and observed.state == "STOPPED" and last_exit.get("generation") == p.generation
        )
        if p.pending_exit and p.desired.running and not p.restart_asked:
            assert last_exit is not None
            ended = restarts.ExitInfo(exit_code=last_exit.get("exitCode"), signal=last_exit.get("signal"))
            if not restarts.restart_wanted(p.container.spec.restart_policy, ended):
                p.held = True
            else:
                p.wait = restarts.restart_due(parse_time(last_exit["finishedAt"]) or p.now,
                                              last_exit.get("backoffSeconds", 0), p.now)
        if p.held or p.wait > 0:
            p.desired = replace(p.desired, running=False)
        if p.restart_asked:
            p.desired = replace(p.desired, restart=True)
        return None

    async def plan_actions(self, p: Pass) -> Result | None:
        p.actions = plan(p.desired, p.observed)
        rebuild = any(isinstance(a, Destroy) for a in p.actions)
        before = dict(p.observed.items).get("lxc.rootfs.path", "") if p.observed else ""
        if p.takeover:
            if rebuild:
                return await self._failed(p, (
                    f"adopted rootfs {adopted_rootfs(p.container)!r} is not the container's own "
                    f"({before!r}); not taking it over, nothing was changed"))
            # Taken over in place: dlxc's config is written now and used from the next start on;
            # the running container is not restarted for it.
            p.actions = [a for a in p.actions if not isinstance(a, Restart)]
            set_condition(p.status, "Adopted", "True", "TakenOver",
                          "config rewritten by dlxc; it takes effect at the container's next start")
        elif rebuild:
            # Only an image change moves the rootfs: say so where a user looks.
            message = f"rootfs rebuilt from image {p.container.spec.image} (the old one, {before}, was removed)"
            set_condition(p.status, "RootfsRebuilt", "True", "ImageChanged", message)
        return None

    async def confirm_binding(self, p: Pass) -> Result | None:
        if any(isinstance(a, (Create, Start, Restart)) for a in p.actions) and not await self.may_start(p.obj):
            return DONE  # fenced, or no longer bound here: never start a copy that may run elsewhere
        return None

    async def act(self, p: Pass) -> Result | None:
        action: Action | None = None
        try:
            for action in p.actions:
                log.info("%s: %s", p.name, type(action).__name__)
                if await asyncio.to_thread(self.execute, action):
                    self._event(p, WARNING, "Killing", f"did not halt within {STOP_TIMEOUT:g}s; killed")
                self._action_event(p, action)
        except Exception as exc:
            # Say why on the object; the work queue retries with a delay.
            summary = error_summary(exc)
            if action is not None:
                self._failure_event(p, action, summary)
            await self._failed(p, summary)
            raise
        started_now = p.desired.running and any(isinstance(a, (Start, Restart, Create)) for a in p.actions)
        if started_now:
            # Running again: a stop from now on is its own. Cleared only by our own start, never on
            # seeing it run: a fence marks first and kills a moment later.
            self.stops.clear(p.name)
        if p.restart_asked:
            p.status["observedRestartAt"] = p.requested
            if any(isinstance(a, Restart) for a in p.actions):
                self._event(p, NORMAL, "Restarted", "restarted as asked (dlxc restart)")
        if p.pending_exit and started_now and not p.restart_asked and p.last_exit is not None:
            p.status["restartCount"] = int(p.status.get("restartCount") or 0) + 1
            why = f"restarted after it {describe_exit(p.last_exit)} (restartPolicy {p.container.spec.restart_policy})"
            set_condition(p.status, "CrashLoopBackOff", "False", "Restarted", why)
            self._event(p, NORMAL, "Restarted", why)
        self._reconfigure_event(p)
        return None

    async def cluster_files(self, p: Pass) -> Result | None:
        annotations = p.obj["metadata"].get("annotations") or {}
        if not p.desired.running or not any(k in annotations for k in (HOSTS_ANNOTATION, CONTEXT_ANNOTATION, NODE_HOOKS_ANNOTATION)):
            return None
        observed = await asyncio.to_thread(self.observe, p.name)
        if observed is None or observed.state != "RUNNING" or observed.init_pid <= 0:
            return None
        if any(isinstance(a, (Create, Start, Restart)) for a in p.actions):
            # Started by this pass: its boot scripts may rewrite /etc/hosts (busybox's rcS does); let them run first.
            await asyncio.sleep(clusterfiles.BOOT_SETTLE)
        lines = names.cluster_lines(p.obj)
        if lines is not None and self._hosts_file_is_ours(p):
            # On the cluster network /etc/hosts is the kubelet's file (kubelet.names): the block goes in there,
            # written now (a boot script may have cut it), not through the container's root.
            await asyncio.to_thread(self.clusternet.hosts.set_cluster, p.name, lines)
            annotations = {k: v for k, v in annotations.items() if k != HOSTS_ANNOTATION}
        try:
            found = await asyncio.to_thread(clusterfiles.apply, self.settings.lxc_path, p.name, observed.init_pid, annotations)
        except OSError as exc:
            log.warning("%s: cluster files: %s", p.name, exc)
            return None
        for kind, status, reason, message in found:
            before = next((c for c in p.status.get("conditions", []) if c.get("type") == kind), None)
            set_condition(p.status, kind, status, reason, message)
            if kind != "Contextualized" or before is None or before.get("status") != status:
                self._event(p, NORMAL if status == "True" else WARNING, reason, message)
        return None

    def _hosts_file_is_ours(self, p: Pass) -> bool:
        """True when the container's /etc/hosts is the kubelet's bind-mounted file (it is on the cluster network here)."""
        return self.clusternet is not None and self.clusternet.hosts.path(p.name).exists()

    async def report(self, p: Pass) -> Result:
        last_exit, policy = p.last_exit, p.container.spec.restart_policy
        if p.wait > 0 and last_exit is not None:
            if not any(c.get("type") == "CrashLoopBackOff" and c.get("status") == "True" for c in p.status.get("conditions", [])):
                # Once per hold, not per look: a resync during the backoff records nothing again.
                self._event(p, WARNING, "BackOff", f"back-off restarting: it {describe_exit(last_exit)}")
            set_condition(p.status, "CrashLoopBackOff", "True", "BackOff",
                          f"back-off {last_exit['backoffSeconds']:g}s restarting: it {describe_exit(last_exit)}")
            await self._report(p.obj, phase="Failed", status=p.status, observed_generation=p.generation, ip=None,
                               message=f"back-off {p.wait:.0f}s before restart {int(p.status.get('restartCount') or 0) + 1}: "
                                       f"it {describe_exit(last_exit)}")
            return Result(requeue_after=p.wait + 0.05)
        if p.held and last_exit is not None:
            failed = last_exit.get("reason") != "Completed"
            await self._report(p.obj, phase="Failed" if failed else "Stopped",
                               message=f"it {describe_exit(last_exit)}; restartPolicy {policy} does not restart it",
                               status=p.status, observed_generation=p.generation, ip=None)
            return DONE
        # Nothing was done: LXC is as this pass read it, so it is not asked again (a resync of an idle
        # node is one look per container, not two). An init that died since is noticed all the same:
        # drift.watch queues a name whose init is gone, and the 1 s poll watches it from then on.
        return await self._report_observed(p.obj, p.desired, status=p.status, observed=None if p.actions else p.observed)

    # ---- writing ----

    async def _failed(self, p: Pass, message: str, *, as_read: bool = False) -> Result:
        """Phase Failed with `message`; as_read: on the status as read, not as the steps have changed it."""
        # With the generation judged: a failure of the latest spec must not read as a leftover of an older one.
        await self._report(p.obj, phase="Failed", message=message, status=None if as_read else p.status,
                           observed_generation=p.generation)
        return DONE

    def _event(self, p: Pass, type: str, reason: str, message: str) -> None:
        """An Event about the container: queued, not awaited (see the module's docstring); the server counts repeats."""
        self.events.record("Container", p.name, type=type, reason=reason, message=message)

    def _action_event(self, p: Pass, action: Action) -> None:
        """What one action that succeeded did, as a user reads it (Reconfigure: after all actions ran)."""
        node, image = self.settings.node_name, p.container.spec.image
        if isinstance(action, Destroy):
            before = dict(p.observed.items).get("lxc.rootfs.path", "") if p.observed else ""
            self._event(p, NORMAL, "ImageChanged", f"rootfs rebuilt from image {image} (the old one, {before}, was removed)")
        elif isinstance(action, Create):
            self._event(p, NORMAL, "Created", f"created on node {node} from image {image}")
        elif isinstance(action, Start):
            self._event(p, NORMAL, "Started", f"started on node {node}")
        elif isinstance(action, Stop):
            self._event(p, NORMAL, "Stopped", "stopped: spec.state is Stopped")

    def _failure_event(self, p: Pass, action: Action, summary: str) -> None:
        if isinstance(action, (Start, Restart)):
            # The runtime's one line (kubelet.startlog) names a mount when the first error is one.
            reason = "FailedMount" if summary.startswith(_MOUNT_FAILURE) else "FailedStart"
        else:
            reason = f"Failed{type(action).__name__}"  # FailedCreate, FailedStop, FailedReconfigure, ...
        self._event(p, WARNING, reason, summary)

    def _reconfigure_event(self, p: Pass) -> None:
        """A config rewrite says how it took effect: live, by a restart, or at the next start."""
        if not any(isinstance(a, Reconfigure) for a in p.actions) or p.observed is None:
            return
        keys = ", ".join(sorted(changed_keys(p.desired.items, p.observed.items))) or "none"
        if p.takeover:
            how = "takes effect at the next start (taken over in place)"
        elif any(isinstance(a, Restart) for a in p.actions):
            how = "restarted to apply it"
        elif any(isinstance(a, SetCgroup) for a in p.actions):
            how = "applied live, no restart"
        else:
            how = "takes effect at the next start"
        self._event(p, NORMAL, "Reconfigured", f"{how}; changed: {keys}")

    async def _report_observed(self, obj: Obj, desired: Desired, *, status: Obj, observed: Observed | None = None) -> Result:
        """Report what LXC has now: `observed` when the caller's look is still current, else a new look."""
        name = obj["metadata"]["name"]
        if observed is None:
            observed = await asyncio.to_thread(self.observe, name)
        if observed is None:
            await self._report(obj, phase="Failed", message="the LXC container disappeared", status=status)
            return DONE
        up = observed.state in ("RUNNING", "FROZEN")
        if up and observed.init_pid > 0:
            await asyncio.to_thread(self.drift.watch, name, observed.init_pid)
        else:
            self.drift.forget(name)
        # Up but with no start time: init exited between reading its state and its /proc entry. Our
        # own start time keeps the run on record, so its exit is recorded (and not taken for no run).
        started = (observed.started or self.started.get(name)) if up else None
        result = DONE
        if desired.running and not up:
            # It stopped between our start and this look: the next reconcile records the exit.
            started = self.started.get(name)
            phase, message = "Failed", f"container did not stay running (state {observed.state})"
            result = Result(requeue_after=RECHECK_AFTER_START)
        elif observed.state == "RUNNING":
            phase, message = "Running", ""
        elif observed.state == "FROZEN":
            phase, message = "Running", "frozen"
        else:
            phase, message = "Stopped", ""
        ip = self.allocator.ips.get(observed.name)
        network = obj["spec"].get("network") or {}
        if network.get("type") == "cluster" and network.get("ipv4"):
            ip = ipaddress.IPv4Interface(network["ipv4"])  # the apiserver's, kept wherever it runs
        await self._report(
            obj, phase=phase, message=message, status=status, frozen=observed.state == "FROZEN",
            ip=str(ip.ip) if ip and phase == "Running" else None,
            started_at=iso_time(started) if started else None,
            observed_generation=obj["metadata"].get("generation"),
        )
        return result

    async def _report(self, obj: Obj, *, phase: str | None, message: str, status: Obj | None = None,
                      frozen: bool = False, **fields: Any) -> None:
        name = obj["metadata"]["name"]
        base = obj.get("status") or {}
        status = dict(base if status is None else status)
        if phase is not None:
            status["phase"] = phase
            _set_ready(status, phase=phase, frozen=frozen)
        status["message"] = message
        status["nodeName"] = self.settings.node_name
        for arg, key in (("ip", "ip"), ("started_at", "startedAt"), ("observed_generation", "observedGeneration")):
            if arg in fields:
                if fields[arg] is None:
                    status.pop(key, None)
                else:
                    status[key] = fields[arg]
        # Usage is served from the kubelet's memory (kubelet/statsroutes.py), not written here: a
        # status write happens on a change of state only. An older kubelet's sample is dropped.
        for key in ("metrics", "metricsTime"):
            if status.get(key):  # the apiserver's empty default stays: dropping it would differ at every look
                status.pop(key)
        status["conditions"] = [c for c in status.get("conditions", []) if c.get("type") != "Scheduled"]
        if status == base:
            return
        try:
            updated = await self.api.replace_status("containers", {"metadata": {"name": name}, "spec": obj["spec"], "status": status})
            self.reported[name] = updated
        except NotFound:
            pass


def _set_ready(status: Obj, *, phase: str, frozen: bool) -> None:
    """Ready: the container runs (init is up and not frozen). Running is the definition: no image's init
    reports 'booted' to the host cheaply and honestly, so services inside may still be starting."""
    if phase == "Running" and not frozen:
        set_condition(status, "Ready", "True", "Running", "")
    else:
        reason = "Frozen" if frozen else phase
        set_condition(status, "Ready", "False", reason, f"the container is {reason.lower()}")
