"""The node agent: registers its Node, heartbeats, and reconciles the containers bound to it."""
from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import random
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from dlxc.client.api import Client
from dlxc.client.errors import ApiError, NotFound
from dlxc.client.informer import Informer
from kubelet import exporter, images, lxcconfig, restarts
from kubelet.allocator import Allocator
from kubelet.backups import BackupAgent
from kubelet.drift import DriftPoller
from kubelet.imagegc import ImageGC
from kubelet.hostfeatures import HostFeatures
from kubelet.lease import NodeLease
from kubelet.nodestatus import NodeStatus
from kubelet.restores import Restorer
from kubelet.snapshots import SnapshotAgent
from kubelet.plan import (
    Action,
    Create,
    Desired,
    Destroy,
    Observed,
    Reconfigure,
    Restart,
    SetCgroup,
    Start,
    Stop,
    Unfreeze,
    plan,
)
from kubelet.sampler import MetricsSampler
from kubelet.settings import KubeletSettings
from kubelet.stale import StaleGuard
from kubelet.statusfields import (
    adopted_rootfs,
    describe_exit,
    error_summary,
    init_started,
    parse_time,
    ran_since_last_exit,
    restarted_after,
    same_but_status,
    set_condition,
)
from schemas import Container
from schemas.base import Obj, iso_time
from schemas.wire import LXC_FINALIZER, RESTART_ANNOTATION

__all__ = ["Kubelet", "KubeletSettings"]

log = logging.getLogger("dlxc.kubelet")



class RenderError(Exception):
    """The spec cannot be made into a container on this node (e.g. a missing bridge)."""


class Kubelet:
    def __init__(
        self, client: Client, runtime: Any, images: Any, network: Any, settings: KubeletSettings, *, idmap: Any,
        host: HostFeatures | None = None,
    ) -> None:
        self.client = client
        self.runtime = runtime  # kubelet.runtime.LxcRuntime: the only caller of liblxc
        self.images = images
        self.network = network  # the kubelet.network module
        self.settings = settings
        self.idmap = idmap
        self.host = host or HostFeatures()  # idmapped mounts, lxcfs: see kubelet.hostfeatures
        self.cgroup_version = 2 if Path("/sys/fs/cgroup/cgroup.controllers").exists() else 1
        self.containers = Informer(
            client, "containers", self._on_container, field_selector=f"spec.nodeName={settings.node_name}"
        )
        self.queue: asyncio.Queue[str] = asyncio.Queue()
        self.dirty: set[str] = set()
        self.failures: dict[str, int] = {}  # consecutive failed reconciles per container, for backoff
        self.full: set[str] = set()  # queued names that need a whole reconcile, not only a metrics write
        self.busy: set[str] = set()
        self.allocator = Allocator(settings.subnet)
        self.reported: dict[str, Obj] = {}  # the object as our last status write returned it
        self.started: dict[str, datetime] = {}  # when we last started each container
        self.backoff = restarts.Backoff(base=settings.restart_backoff_base, cap=settings.restart_backoff_cap)
        # Fault tolerance hooks: the node Lease with self-fencing, and the stale-copy guard.
        self.lease = NodeLease(
            client, settings.node_name, settings.lease,
            on_fence=lambda: self.guard.fence(), on_recover=lambda: self.guard.recover(), on_reconnect=self._reconnected,
        )
        self.guard = StaleGuard(self, self.lease)
        self.image_gc = ImageGC(runtime, images, unused_for=settings.image_gc_after)
        self.node = NodeStatus(client, settings, containers=self.containers, runtime=runtime, images=images, resync=self.resync)
        self.sampler = MetricsSampler(runtime, settings, containers=self.containers, enqueue=self.enqueue)
        self.drift = DriftPoller(settings.lxc_path, interval=settings.state_poll_interval, enqueue=self.enqueue)
        self.backups = BackupAgent(self)  # Backups of containers bound here (kubelet/backups.py)
        self.restores = Restorer(self)  # rootfs from a backup instead of the image (kubelet/restores.py)
        self.snapshots = SnapshotAgent(self)  # snapshots asked for in annotations (kubelet/snapshots.py)

    # ---- work queue: one worker per container at a time, many containers in parallel ----

    def enqueue(self, name: str, *, metrics_only: bool = False) -> None:
        """Queue a reconcile of `name` (or, with metrics_only, just a status write of its latest sample)."""
        if not metrics_only:
            self.full.add(name)
        if name in self.dirty:
            return
        self.dirty.add(name)
        if name not in self.busy:
            self.queue.put_nowait(name)

    async def _on_container(self, name: str, old: Obj | None, new: Obj | None) -> None:
        if (old is None) != (new is None):
            self.node.count_changed.set()  # the Node's container count is stale: post it soon, not at the next interval
        if old is not None and new is not None and same_but_status(old, new):
            return  # our own status write coming back (or another writer's): nothing to reconcile
        self.enqueue(name)

    async def _worker(self) -> None:
        while True:
            name = await self.queue.get()
            self.dirty.discard(name)
            self.busy.add(name)
            full = name in self.full
            self.full.discard(name)
            try:
                if full:
                    await self.reconcile(name)
                else:
                    await self._write_metrics(name)
                self.failures.pop(name, None)
            except ApiError as exc:
                delay = self._retry_delay(name)
                log.warning("reconcile %s: %s; retrying in %.1fs", name, exc.message, delay)
                asyncio.get_running_loop().call_later(delay, self.enqueue, name)
            except Exception:
                delay = self._retry_delay(name)
                log.exception("reconcile %s failed; retrying in %.1fs", name, delay)
                asyncio.get_running_loop().call_later(delay, self.enqueue, name)
            finally:
                self.busy.discard(name)
                if name in self.dirty:
                    self.queue.put_nowait(name)

    def _retry_delay(self, name: str) -> float:
        """1 s doubling to 30 s per container while its reconciles keep failing (an apiserver outage, say)."""
        count = self.failures.get(name, 0)
        self.failures[name] = count + 1
        return min(30.0, 2.0 ** count) * random.uniform(0.8, 1.2)

    async def _reconnected(self) -> None:
        # The apiserver is back before any fence: compare everything now, not at the next resync.
        log.info("apiserver reachable again; resyncing")
        await self.resync()

    # ---- containers ----

    def _bridge_of(self, container: Container) -> str | None:
        network = container.spec.network
        if network is not None and network.type == "none":
            return None
        return (network.bridge if network and network.bridge else None) or self.settings.bridge

    def desired(self, container: Container) -> Desired:
        """Render the spec into LXC config; raise RenderError when this node cannot host it."""
        name = container.metadata.name
        bridge = self._bridge_of(container)
        if bridge is not None and not self.network.bridge_exists(bridge):
            raise RenderError(f"bridge {bridge!r} does not exist on node {self.settings.node_name}")
        ip = gateway = None
        with self.allocator.lock:
            if bridge == self.settings.bridge:
                ip = self.allocator.allocate_ip(name)
                if ip is None:
                    raise RenderError(f"no free address left in {self.settings.subnet.network} on node {self.settings.node_name}")
                gateway = self.settings.subnet.ip
            cpuset = self.allocator.pin_cpus(name, lxcconfig.whole_cores(container.spec.cpu))
        adopted = adopted_rootfs(container)
        restored = self.restores.rootfs(container) if adopted is None else None
        if restored is not None:
            rootfs_value, init = restored, images.resolve(container.spec.image).init
        elif adopted is not None:
            rootfs_value = adopted
            # Keep halting it the way its own config did.
            found = self.runtime.inspect(name)
            halt = dict(found.items).get("lxc.signal.halt") if found else None
            init = "busybox" if halt in (None, "SIGUSR1") else "systemd"
        else:
            lower = self.images.ensure(container.spec.image, idmap=None if container.spec.privileged else self.idmap)
            rootfs_value = f"overlay:{lower}:{self.settings.lxc_path / name / 'delta0'}"
            init = images.resolve(container.spec.image).init
        items = lxcconfig.render_config(
            container.spec,
            name=name,
            rootfs=rootfs_value,
            cgroup_version=self.cgroup_version,
            default_bridge=self.settings.bridge,
            ip=ip,
            gateway=gateway,
            idmap=None if container.spec.privileged else self.idmap,
            cpuset=cpuset,
            init=init,
            idmapped_mounts=self.host.idmapped_mounts,
            lxcfs=self.host.lxcfs,
        )
        return Desired(
            name=name,
            items=tuple(items),
            running=container.spec.state == "Running",
            live_keys=frozenset(key for key, _ in items if lxcconfig.is_live_key(key)),
        )

    def _adoption_problem(self, container: Container, observed: Observed) -> str | None:
        """Why an adopted container cannot be taken over as its spec says, or None."""
        have = sorted(v for k, v in observed.items if k == "lxc.idmap")
        if container.spec.privileged:
            return None
        want = sorted([f"u 0 {self.idmap.host_uid_start} {self.idmap.count}", f"g 0 {self.idmap.host_gid_start} {self.idmap.count}"])
        if have != want:
            return (f"adopted container {container.metadata.name} maps ids as {have or 'privileged (no lxc.idmap)'}; "
                    f"this node maps unprivileged containers as {want}: set spec.privileged to match, or shift its rootfs")
        return None

    def observe(self, name: str) -> Observed | None:
        found = self.runtime.inspect(name)
        if found is None:
            return None
        return Observed(name=name, state=found.state, items=tuple(found.items), init_pid=found.init_pid or -1)

    def execute(self, action: Action) -> None:
        """Run one action against LXC; each is idempotent (blocking: called in a thread)."""
        rt, name = self.runtime, action.name
        if isinstance(action, Create):
            rt.create(name, list(action.items))
        elif isinstance(action, Destroy):
            rt.destroy(name)
            self.allocator.release(name)
        elif isinstance(action, Reconfigure):
            rt.write_config(name, list(action.items))
        elif isinstance(action, SetCgroup):
            rt.set_cgroup(name, action.key, action.value)
        elif isinstance(action, Start):
            self.started[name] = datetime.now(timezone.utc)
            rt.start(name, timeout=30)
        elif isinstance(action, Stop):
            rt.stop(name, timeout=30)
        elif isinstance(action, Restart):
            rt.stop(name, timeout=30)
            self.started[name] = datetime.now(timezone.utc)
            rt.start(name, timeout=30)
        elif isinstance(action, Unfreeze):
            rt.unfreeze(name)
        else:
            raise TypeError(f"unknown action {action!r}")

    def _latest(self, name: str) -> Obj | None:
        """The newest copy we know: the watch may not have brought back our own last status write yet."""
        cached = self.containers.cache.get(name)
        mine = self.reported.get(name)
        if cached is None or mine is None:
            return cached
        if mine["metadata"].get("uid") != cached["metadata"].get("uid"):
            return cached
        return mine if int(mine["metadata"]["resourceVersion"]) > int(cached["metadata"]["resourceVersion"]) else cached

    async def reconcile(self, name: str) -> None:
        """Level-triggered: re-read the object and LXC, plan, act, report."""
        obj = self._latest(name)
        observed = await asyncio.to_thread(self.observe, name)
        if observed is None or observed.state not in ("RUNNING", "FROZEN"):
            self.drift.forget(name)
        if obj is None or obj["spec"].get("nodeName") != self.settings.node_name:
            # Not ours (deleted while we were away, or moved): remove what LXC still holds, if we made it.
            if observed is not None and await asyncio.to_thread(self.runtime.managed, name):
                for action in plan(None, observed):
                    await asyncio.to_thread(self.execute, action)
            self.reported.pop(name, None)
            self.started.pop(name, None)
            self.drift.forget(name)
            return
        meta = obj["metadata"]
        if meta.get("deletionTimestamp"):
            # A container dlxc did not make (a name clash, or an adoption not yet taken over) is left alone.
            if observed is not None and await asyncio.to_thread(self.runtime.managed, name):
                for action in plan(None, observed):
                    await asyncio.to_thread(self.execute, action)
            await self._remove_finalizer(obj)
            return
        if LXC_FINALIZER not in meta.get("finalizers", []):
            # Claim the object before creating anything, so a delete waits for our cleanup.
            await self.client.patch(
                "containers",
                name,
                {"metadata": {"finalizers": [*meta.get("finalizers", []), LXC_FINALIZER], "resourceVersion": meta["resourceVersion"]}},
            )
            return  # the watch brings the updated object back to us
        container = Container.model_validate(obj)
        takeover = False
        if observed is not None and not await asyncio.to_thread(self.runtime.managed, name):
            if adopted_rootfs(container) is None:
                await self._report(obj, phase="Failed", message=(
                    f"an LXC container {name} that dlxc did not make exists on node {self.settings.node_name}; "
                    f"adopt it with `dlxc adopt {self.settings.node_name} {name}` or choose another name"))
                return
            problem = self._adoption_problem(container, observed)
            if problem:
                await self._report(obj, phase="Failed", message=problem)
                return
            takeover = True
        status: Obj = dict(obj.get("status") or {})
        idmap = None if container.spec.privileged else self.idmap
        preparing = False
        try:
            if adopted_rootfs(container) is None and not await asyncio.to_thread(
                    self.images.is_cached, container.spec.image, idmap=idmap):
                preparing = True
                set_condition(status, "ImageReady", "False", "Preparing",
                               f"preparing image {container.spec.image} on node {self.settings.node_name}")
                await self._report(obj, phase="Creating" if observed is None else status.get("phase"),
                                   message=f"preparing image {container.spec.image}", status=status)
            elif observed is None:
                await self._report(obj, phase="Creating", message="creating the container", status=status)
            desired = await asyncio.to_thread(self.desired, container)
        except (RenderError, ValueError) as exc:
            await self._report(obj, phase="Failed", message=str(exc), status=status)
            return
        except images.ImageError as exc:
            set_condition(status, "ImageReady", "False", "Failed", str(exc))
            await self._report(obj, phase="Failed", message=str(exc), status=status)
            # Building again at once would fail the same way (no network, no mirror): wait a while.
            asyncio.get_running_loop().call_later(self.settings.image_retry_interval, self.enqueue, name)
            return
        if preparing or any(c.get("type") == "ImageReady" and c.get("status") != "True" for c in status.get("conditions", [])):
            set_condition(status, "ImageReady", "True", "Prepared", f"image {container.spec.image} is in the node's cache")
        now = datetime.now(timezone.utc)
        generation = meta.get("generation")
        policy = container.spec.restart_policy

        # A run that ended on its own since we last looked: record how, and when to start it again.
        if desired.running and observed is not None and observed.state == "STOPPED" and ran_since_last_exit(status):
            ended = restarts.parse_exit(await asyncio.to_thread(self.runtime.exit_log, name))
            previous = status.get("lastExit")
            started = parse_time(status.get("startedAt"))
            delay = 0.0
            if restarts.restart_wanted(policy, ended):
                delay = restarts.next_backoff(
                    previous.get("backoffSeconds") if previous else None,
                    (now - started).total_seconds() if started else None,
                    self.backoff,
                )
            status["lastExit"] = {
                k: v for k, v in {
                    "reason": ended.reason, "exitCode": ended.exit_code, "signal": ended.signal,
                    "startedAt": status.get("startedAt"), "finishedAt": iso_time(now),
                    "generation": generation, "backoffSeconds": delay,
                }.items() if v is not None
            }
            status.pop("startedAt", None)
            log.info("%s: %s; restartPolicy %s", name, ended.describe(), policy)

        requested = meta.get("annotations", {}).get(RESTART_ANNOTATION)
        restart_asked = bool(requested) and requested != status.get("observedRestartAt")
        if restart_asked and (observed is None or not desired.running or restarted_after(observed, requested)):
            # Nothing running to restart, or it already started after the request (we did it, then died).
            status["observedRestartAt"] = requested
            restart_asked = False

        # Held down after an exit: by the policy, or until its backoff runs out.
        wait = 0.0
        held = False
        last_exit = status.get("lastExit")
        pending_exit = (
            last_exit is not None and not ran_since_last_exit(status) and observed is not None
            and observed.state == "STOPPED" and last_exit.get("generation") == generation
        )
        if pending_exit and desired.running and not restart_asked:
            ended = restarts.ExitInfo(exit_code=last_exit.get("exitCode"), signal=last_exit.get("signal"))
            if not restarts.restart_wanted(policy, ended):
                held = True
            else:
                wait = restarts.restart_due(parse_time(last_exit["finishedAt"]), last_exit.get("backoffSeconds", 0), now)
        if held or wait > 0:
            desired = replace(desired, running=False)
        if restart_asked:
            desired = replace(desired, restart=True)

        actions = plan(desired, observed)
        if not takeover and any(isinstance(a, Destroy) for a in actions):
            # Only an image change moves the rootfs: say so where a user looks.
            before = dict(observed.items).get("lxc.rootfs.path", "") if observed else ""
            message = f"rootfs rebuilt from image {container.spec.image} (the old one, {before}, was removed)"
            set_condition(status, "RootfsRebuilt", "True", "ImageChanged", message)
            await self._record_event(obj, "ImageChanged", message)
        if takeover:
            if any(isinstance(a, Destroy) for a in actions):
                await self._report(obj, phase="Failed", status=status, message=(
                    f"adopted rootfs {adopted_rootfs(container)!r} is not the container's own "
                    f"({dict(observed.items).get('lxc.rootfs.path')!r}); not taking it over, nothing was changed"))
                return
            # Taken over in place: dlxc's config is written now and used from the next start on;
            # the running container is not restarted for it.
            actions = [a for a in actions if not isinstance(a, Restart)]
            set_condition(status, "Adopted", "True", "TakenOver",
                           "config rewritten by dlxc; it takes effect at the container's next start")
        if any(isinstance(a, (Create, Start, Restart)) for a in actions) and not await self.guard.may_start(obj):
            return  # fenced, or no longer bound here: never start a copy that may run elsewhere
        try:
            for action in actions:
                log.info("%s: %s", name, type(action).__name__)
                await asyncio.to_thread(self.execute, action)
        except Exception as exc:
            # Say why on the object; the worker retries with a delay.
            await self._report(obj, phase="Failed", message=error_summary(exc), status=status)
            raise
        started_now = any(isinstance(a, (Start, Restart, Create)) and desired.running for a in actions)
        if restart_asked:
            status["observedRestartAt"] = requested
        if pending_exit and started_now and not restart_asked:
            status["restartCount"] = int(status.get("restartCount") or 0) + 1
            set_condition(status, "CrashLoopBackOff", "False", "Restarted",
                           f"restarted after it {describe_exit(last_exit)} (restartPolicy {policy})")
        if wait > 0:
            set_condition(status, "CrashLoopBackOff", "True", "BackOff",
                           f"back-off {last_exit['backoffSeconds']:g}s restarting: it {describe_exit(last_exit)}")
            asyncio.get_running_loop().call_later(wait + 0.05, self.enqueue, name)
            await self._report(obj, phase="Failed", message=f"back-off {wait:.0f}s before restart {int(status.get('restartCount') or 0) + 1}: "
                               f"it {describe_exit(last_exit)}", status=status, observed_generation=generation, ip=None)
            return
        if held:
            failed = last_exit.get("reason") != "Completed"
            await self._report(obj, phase="Failed" if failed else "Stopped",
                               message=f"it {describe_exit(last_exit)}; restartPolicy {policy} does not restart it",
                               status=status, observed_generation=generation, ip=None)
            return
        await self._report_observed(obj, desired, status=status)

    async def _record_event(self, obj: Obj, reason: str, message: str) -> None:
        """An Event about the container (deduplicated with a count by the server); the condition says it too."""
        try:
            await self.client.record_event(
                {"kind": "Container", **obj}, reason=reason, message=message,
                component="kubelet", host=self.settings.node_name,
            )
        except ApiError as exc:
            log.info("%s: event %s not recorded (%s); the status condition carries it", obj["metadata"]["name"], reason, exc.message)

    async def _write_metrics(self, name: str) -> None:
        obj = self._latest(name)
        if obj is None or obj["spec"].get("nodeName") != self.settings.node_name or obj["metadata"].get("deletionTimestamp"):
            return
        status = obj.get("status") or {}
        if status.get("phase") == "Running":
            await self._report(obj, phase=None, message=status.get("message", ""))

    async def _remove_finalizer(self, obj: Obj) -> None:
        meta = obj["metadata"]
        if LXC_FINALIZER not in meta.get("finalizers", []):
            return
        rest = [f for f in meta["finalizers"] if f != LXC_FINALIZER]
        try:
            await self.client.patch(
                "containers", meta["name"], {"metadata": {"finalizers": rest, "resourceVersion": meta["resourceVersion"]}}
            )
        except NotFound:
            pass

    async def _report_observed(self, obj: Obj, desired: Desired, *, status: Obj) -> None:
        name = obj["metadata"]["name"]
        observed = await asyncio.to_thread(self.observe, name)
        if observed is None:
            await self._report(obj, phase="Failed", message="the LXC container disappeared", status=status)
            return
        if observed.state in ("RUNNING", "FROZEN") and observed.init_pid > 0:
            await asyncio.to_thread(self.drift.watch, name, observed.init_pid)
        else:
            self.drift.forget(name)
        started = None
        if observed.state in ("RUNNING", "FROZEN") and observed.init_pid > 0:
            started = init_started(observed.init_pid)
        if desired.running and observed.state not in ("RUNNING", "FROZEN"):
            # It stopped between our start and this look: the next reconcile records the exit.
            started = self.started.get(name)
            phase, message = "Failed", f"container did not stay running (state {observed.state})"
            asyncio.get_running_loop().call_later(0.2, self.enqueue, name)
        elif observed.state == "RUNNING":
            phase, message = "Running", ""
        elif observed.state == "FROZEN":
            phase, message = "Running", "frozen"
        else:
            phase, message = "Stopped", ""
        ip = self.allocator.ips.get(observed.name)
        await self._report(
            obj,
            phase=phase,
            message=message,
            status=status,
            ip=str(ip.ip) if ip and phase == "Running" else None,
            started_at=iso_time(started) if started else None,
            observed_generation=obj["metadata"].get("generation"),
        )

    async def _report(self, obj: Obj, *, phase: str | None, message: str, status: Obj | None = None, **fields: Any) -> None:
        name = obj["metadata"]["name"]
        base = obj.get("status") or {}
        status = dict(base if status is None else status)
        if phase is not None:
            status["phase"] = phase
        status["message"] = message
        status["nodeName"] = self.settings.node_name
        for arg, key in (("ip", "ip"), ("started_at", "startedAt"), ("observed_generation", "observedGeneration")):
            if arg in fields:
                if fields[arg] is None:
                    status.pop(key, None)
                else:
                    status[key] = fields[arg]
        sample = self.sampler.latest.get(name)
        if status.get("phase") != "Running":
            status.pop("metrics", None)
            status.pop("metricsTime", None)
        elif sample is not None:
            status["metrics"], status["metricsTime"] = sample
        status["conditions"] = [c for c in status.get("conditions", []) if c.get("type") != "Scheduled"]
        if status == base:
            return
        try:
            updated = await self.client.replace_status(
                "containers", {"metadata": {"name": name}, "spec": obj["spec"], "status": status}
            )
            self.reported[name] = updated
        except NotFound:
            pass

    # ---- loops ----

    async def _resync_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.resync_interval)
            await self.resync()

    async def resync(self) -> None:
        names = set(self.containers.cache) | set(await asyncio.to_thread(self.runtime.names))
        for name in names:
            self.enqueue(name)

    async def run(self, *, ready: Callable[[], None] | None = None) -> None:
        # Every LXC call, image build and metrics read is a blocking call in a thread; the default
        # pool (cores + 4) would let a long image build or a metrics sweep hold up the heartbeat.
        asyncio.get_running_loop().set_default_executor(
            concurrent.futures.ThreadPoolExecutor(max_workers=max(32, self.settings.workers * 2), thread_name_prefix="kubelet"))
        self.settings.lxc_path.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(self.network.ensure_bridge, self.settings.bridge, self.settings.subnet)
        await asyncio.to_thread(self.allocator.recover, self.runtime)
        tasks: list[asyncio.Task[Any]] = []
        try:
            while True:
                try:
                    await self.node.register()
                    break
                except ApiError as exc:
                    log.warning("cannot register node: %s; retrying", exc.message)
                    await asyncio.sleep(1.0)
            tasks.append(asyncio.create_task(self.lease.run()))
            self.restores.bind_loop()
            tasks.append(asyncio.create_task(self.backups.run()))
            tasks.append(asyncio.create_task(self.snapshots.run()))
            tasks.append(asyncio.create_task(self.containers.run()))
            await self.containers.synced.wait()
            await self.guard.remove_stale_copies_first()  # before any reconcile can start a stale copy
            tasks += [asyncio.create_task(self._worker()) for _ in range(self.settings.workers)]
            tasks += [
                asyncio.create_task(self.node.run()),
                asyncio.create_task(self._resync_loop()),
                asyncio.create_task(self.drift.run()),
            ]
            if self.settings.metrics_interval > 0:
                tasks.append(asyncio.create_task(self.sampler.run()))
            if self.settings.image_gc_after > 0:
                tasks.append(asyncio.create_task(self.image_gc.run()))
            if self.settings.metrics_port:
                exporter.serve(self.sampler.collector, host=self.settings.metrics_host, port=self.settings.metrics_port)
            await self.resync()  # orphans: LXC containers whose objects are gone
            if ready:
                ready()
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
