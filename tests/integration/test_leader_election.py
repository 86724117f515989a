"""Leader election over a real apiserver: one leader, handover after death or SIGSTOP, late writes fenced."""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dlxc.client.errors import Conflict, Fenced
from dlxc.client.leaderelection import LeaderElection, expired
from schemas.base import now_iso

pytestmark = pytest.mark.timeout(120)

FAST = {"duration": 1.0, "renew_interval": 0.2, "renew_deadline": 0.6}


@pytest.mark.parametrize(
    ("now", "seen", "duration", "result"),
    [(10.0, 9.5, 4.0, False), (13.9, 10.0, 4.0, False), (14.0, 10.0, 4.0, True)],
    ids=["fresh", "just-before", "at-duration"],
)
def test_expired(now: float, seen: float, duration: float, result: bool) -> None:
    assert expired(now=now, last_change_seen=seen, duration=duration) is result


def test_timers_must_be_ordered(api: Any) -> None:
    with pytest.raises(ValueError, match="renew interval < renew deadline < lease duration"):
        LeaderElection(api.client(), "x", duration=1.0, renew_interval=1.0, renew_deadline=2.0)


def test_one_leader_then_handover_and_the_old_token_is_refused(api: Any) -> None:
    async def go() -> None:
        async with api.client() as ca, api.client() as cb:
            leaders: list[str] = []

            def work(who: str):
                async def lead() -> None:
                    leaders.append(who)
                    await asyncio.Event().wait()
                return lead

            a = LeaderElection(ca, "dlxc-scheduler", identity="a", **FAST)
            run_a = asyncio.create_task(a.run(work("a")))
            while not a.leading:
                await asyncio.sleep(0.02)
            b = LeaderElection(cb, "dlxc-scheduler", identity="b", **FAST)
            run_b = asyncio.create_task(b.run(work("b")))
            await asyncio.sleep(1.5)  # longer than the lease: a renews, b must not take over
            assert (leaders, a.leading, b.leading) == (["a"], True, False)
            old_token = a.token
            run_a.cancel()  # a dies without a word
            await asyncio.gather(run_a, return_exceptions=True)
            died = time.monotonic()
            while not b.leading:
                await asyncio.sleep(0.02)
            assert time.monotonic() - died <= FAST["duration"] + 1.0
            assert leaders == ["a", "b"] and b.token != old_token
            lease = await cb.get("leases", "dlxc-scheduler")
            assert (lease["spec"]["holderIdentity"], lease["spec"]["leaseTransitions"]) == ("b", 1)
            ca.fence = ("dlxc-scheduler", old_token)  # a late write of the old leader
            with pytest.raises(Fenced):
                await ca.create("containers", {"metadata": {"name": "late"}, "spec": {"image": "busybox"}})
            await cb.create("containers", {"metadata": {"name": "ok"}, "spec": {"image": "busybox"}})
            run_b.cancel()
            await asyncio.gather(run_b, return_exceptions=True)

    asyncio.run(go())


async def until(what: str, check: Callable[[], Any], *, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (got := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)
    return got


def count_attempts(election: LeaderElection) -> list[list[Any]]:
    """Each try_acquire (the candidate's one read of the Lease, then maybe a takeover) as
    [the _seen it started with, its start, its end] on the candidate's own clock."""
    attempts: list[list[Any]] = []
    attempt = election.try_acquire

    async def counted() -> bool:
        mark: list[Any] = [election._seen, election.clock()]
        attempts.append(mark)
        got = await attempt()
        mark.append(election.clock())
        return got

    election.try_acquire = counted  # type: ignore[method-assign]
    return attempts


def test_a_candidate_sees_each_renewal_at_once_and_takes_over_one_duration_after_the_last(api: Any) -> None:
    # The candidate reads the Lease only every 1.5 s here; it must still see each renewal the moment it lands
    # (its watch), or every handover would come up to one poll period late.
    timers = {"duration": 3.0, "renew_interval": 2.9, "renew_deadline": 2.95}  # reads every 1.45 s

    async def go() -> None:
        async with api.client() as owner, api.client() as cb:
            await owner.create("leases", {"metadata": {"name": "dlxc-watched"}, "spec": {
                "holderIdentity": "elsewhere", "leaseDurationSeconds": 3, "renewTime": "2026-01-01T00:00:00Z"}})
            b = LeaderElection(cb, "dlxc-watched", identity="b", **timers)
            attempts = count_attempts(b)
            run_b = asyncio.create_task(b.run(asyncio.Event().wait))
            await until("the first read", lambda: attempts and len(attempts[-1]) == 3 and b._seen is not None)
            reads = len(attempts)
            for _ in range(4):  # renewals 0.7 s apart: never unchanged for the duration
                renewed = await owner.patch("leases", "dlxc-watched", {"spec": {"renewTime": now_iso()}})
                landed = time.monotonic()
                rv = renewed["metadata"]["resourceVersion"]
                await until("the renewal noted", lambda rv=rv: b._seen is not None and b._seen[0] == rv)
                # Noted without a read: only the watch can have seen it. (Each change the watch brings puts the
                # next read off by 1.45 s, so with renewals 0.7 s apart a watching candidate reads not at all;
                # one that saw renewals only by reading would read here.)
                assert len(attempts) == reads, "the candidate saw the renewal only on a read"
                assert not b.leading
                await asyncio.sleep(max(0.0, landed + 0.7 - time.monotonic()))  # pacing, not waiting for anything
            last_seen = b._seen[1]  # when the candidate noted the last renewal, on its own clock
            deadline = time.monotonic() + timers["duration"] + 10
            while not b.leading:
                assert time.monotonic() < deadline, "no takeover"
                await asyncio.sleep(0.02)
            _, start, end = attempts[-1]  # the attempt that took over (leading is set within it)
            # Not early: it took over only after the Lease was unchanged for the duration on its clock ...
            assert end - last_seen >= timers["duration"], (end - last_seen)
            # ... and when it could first expire, not at a later read. Reads here fall 1.45 s and 2.9 s after
            # the last renewal, so a candidate that did not wake for the expiry would try next at 4.35 s,
            # 1.35 s late; measured from its own noted time (no delivery or request latency in it), 1.0 s of
            # slack for a loaded box, whose apiserver shares this process, still tells the two apart.
            assert start - last_seen <= timers["duration"] + 1.0, (start - last_seen)
            run_b.cancel()
            await asyncio.gather(run_b, return_exceptions=True)

    asyncio.run(go())


def test_the_candidate_that_lost_the_first_race_times_the_term_from_its_create(api: Any) -> None:
    # Two candidates start at once and both try to create the Lease: the loser must time the new term from
    # the create its watch saw, not from its next read (a kill right after the election handed over 1 s late).
    async def go() -> None:
        for round_ in range(5):
            async with api.client() as ca, api.client() as cb:
                began: dict[str, float] = {}

                def work(who: str):
                    async def lead() -> None:
                        began[who] = time.monotonic()
                        await asyncio.Event().wait()
                    return lead

                name = f"dlxc-race-{round_}"
                timers = {"duration": 3.0, "renew_interval": 1.9, "renew_deadline": 2.5}  # reads every 0.95 s
                a = LeaderElection(ca, name, identity="a", **timers)
                b = LeaderElection(cb, name, identity="b", **timers)
                attempts = {"a": count_attempts(a), "b": count_attempts(b)}
                runs = [asyncio.create_task(a.run(work("a"))), asyncio.create_task(b.run(work("b")))]
                await until("a leader", lambda began=began: began)
                leader, follower = (a, b) if a.leading else (b, a)
                # The loser's next read is due 0.95 s after the create it saw, before the leader's first renewal
                # (1.9 s): what it had noted when that read began is what it knew without it.
                await until("the loser's second read", lambda mine=attempts[follower.identity]: len(mine) >= 2)
                seen = attempts[follower.identity][1][0]
                assert seen is not None, "the loser noted the term only on a later read"
                assert seen[0] == leader.token, (seen, leader.token)
                for run in runs:
                    run.cancel()
                await asyncio.gather(*runs, return_exceptions=True)

    asyncio.run(go())


def test_a_renewal_that_timed_out_but_landed_keeps_the_term(api: Any) -> None:
    # Under load a renewal can time out on our side and still be written: the next renewal then meets
    # a newer resourceVersion. That is our own write, not a takeover: the leader must not step down
    # (it did, and each needless handover stalled the scheduler for seconds). A real takeover still ends it.
    async def go() -> None:
        async with api.client() as ca, api.client() as cb:
            a = LeaderElection(ca, "dlxc-lost-answer", identity="a", **FAST)
            assert await a.try_acquire()
            landed = await cb.patch("leases", "dlxc-lost-answer", {"spec": {"renewTime": "2026-01-01T00:00:00Z"}})
            await a.renew()
            lease = await cb.get("leases", "dlxc-lost-answer")
            assert lease["spec"]["holderIdentity"] == "a"
            assert int(lease["metadata"]["resourceVersion"]) > int(landed["metadata"]["resourceVersion"])
            # Taken over: deleted and re-created by b, even naming a as holder it is another term.
            await cb.delete("leases", "dlxc-lost-answer")
            await cb.create("leases", {"metadata": {"name": "dlxc-lost-answer"},
                                       "spec": {**lease["spec"], "holderIdentity": "a"}})
            with pytest.raises(Conflict):
                await a.renew()

    asyncio.run(go())


def spawn(api: Any, tmp: Path, identity: str, component: str = "scheduler") -> subprocess.Popen:
    with (tmp / f"{component}-{identity}.log").open("ab") as log:
        return subprocess.Popen([sys.executable, "-m", "dlxc", component, "--identity", identity], env=api.env(),
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


async def holder(c: Any, lease: str = "dlxc-scheduler") -> str | None:
    try:
        return (await c.get("leases", lease))["spec"]["holderIdentity"]
    except Exception:
        return None


def stop_all(procs: dict[str, subprocess.Popen]) -> None:
    """SIGCONT (a stopped one cannot act on SIGTERM), SIGTERM, then SIGKILL after 10 s, each process group."""
    for proc in procs.values():
        try:
            os.killpg(proc.pid, signal.SIGCONT)
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.mark.parametrize("how", ["kill", "sigstop"])
def test_scheduler_leader_lost_during_a_burst_binds_each_container_once(api: Any, tmp_path: Path, how: str) -> None:
    procs = {who: spawn(api, tmp_path, who) for who in ("s1", "s2")}

    async def go() -> None:
        async with api.client() as c:
            for n in ("n1", "n2"):
                await c.create("nodes", {"metadata": {"name": n}, "spec": {}, "status": {
                    "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"}],
                    "allocatable": {"cpu": 64, "memory": 2**40, "disk": 2**42, "containers": 500}}})
            deadline = time.monotonic() + 20
            while await holder(c) not in procs:
                assert time.monotonic() < deadline, "no scheduler became leader"
                await asyncio.sleep(0.1)
            leader = await holder(c)
            for i in range(60):
                await c.create("containers", {"metadata": {"name": f"b-{i}"}, "spec": {"image": "busybox", "cpu": 0.1}})
                if i == 20:
                    if how == "kill":
                        os.killpg(procs[leader].pid, signal.SIGKILL)
                    else:
                        os.killpg(procs[leader].pid, signal.SIGSTOP)
                    lost_at = time.monotonic()
            while await holder(c) == leader:
                assert time.monotonic() - lost_at < 10, "no handover within 10s"
                await asyncio.sleep(0.1)
            handover = time.monotonic() - lost_at
            assert handover <= 4.0 + 2.0, handover
            deadline = time.monotonic() + 30
            while True:
                items, _ = await c.list("containers")
                if all(o["spec"].get("nodeName") for o in items):
                    break
                assert time.monotonic() < deadline, [o["metadata"]["name"] for o in items if not o["spec"].get("nodeName")]
                await asyncio.sleep(0.2)
            if how == "sigstop":
                os.killpg(procs[leader].pid, signal.SIGCONT)  # the old leader wakes up and tries to go on
                await asyncio.sleep(3.0)
            items, _ = await c.list("containers")
            # Bound exactly once: created (1) + one bind (2); a second bind would be 3 or a 409.
            assert sorted({o["metadata"]["generation"] for o in items}) == [2]
            assert await holder(c) != leader

    try:
        asyncio.run(go())
    finally:
        stop_all(procs)


def test_two_controllers_one_leads_and_hands_over_when_it_dies(api: Any, tmp_path: Path) -> None:
    procs = {who: spawn(api, tmp_path, who, "controller") for who in ("c1", "c2")}

    async def lease_holder(c: Any) -> str | None:
        return await holder(c, "dlxc-controller")

    async def go() -> None:
        async with api.client() as c:
            deadline = time.monotonic() + 20
            while (leader := await lease_holder(c)) not in procs:
                assert time.monotonic() < deadline, "no controller became leader"
                await asyncio.sleep(0.1)
            os.killpg(procs[leader].pid, signal.SIGKILL)
            killed = time.monotonic()
            # A takeover deletes the expired Lease and creates its own (a new term): between the two there is none.
            while (now := await lease_holder(c)) in (leader, None):
                assert time.monotonic() - killed < 10, "no handover within 10s"
                await asyncio.sleep(0.1)
            assert now == ({"c1", "c2"} - {leader}).pop()
            lease = await c.get("leases", "dlxc-controller")
            assert lease["spec"]["leaseTransitions"] == 1

    try:
        asyncio.run(go())
    finally:
        stop_all(procs)
