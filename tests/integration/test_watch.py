"""Watch semantics over a real etcd: the shared watch cache, bookmarks, 410 after compaction, slow
watchers dropped, and a client that resumes across an apiserver restart."""
from __future__ import annotations

import asyncio
import re

import aetcd
import httpx
import pytest

from dlxc.client.errors import Gone
from dlxc.client.informer import Informer

pytestmark = pytest.mark.timeout(90)


def ct(name: str, **annotations: str) -> dict:
    return {"metadata": {"name": name, "annotations": annotations}, "spec": {"image": "busybox"}}


def etcd_watchers(endpoint: str) -> int:
    text = httpx.get(f"{endpoint}/metrics").text
    return int(float(re.search(r"^etcd_debugging_mvcc_watcher_total (\S+)$", text, re.M).group(1)))


async def compact(endpoint: str) -> int:
    host, _, port = endpoint.rpartition("//")[2].partition(":")
    async with aetcd.Client(host=host, port=int(port)) as etcd:
        revision = (await etcd.get_prefix(b"/\x00none/")).header.revision
        await etcd.compact(revision, physical=True)
        return revision


def test_many_http_watchers_share_one_etcd_watch(api) -> None:
    async def go() -> None:
        async with api.client() as c:
            _, rv = await c.list("containers")
            before = etcd_watchers(api.etcd.endpoint)
            seen: list[list[str]] = [[] for _ in range(40)]

            async def watch(i: int) -> None:
                async for _, obj in c.watch("containers", resource_version=rv):
                    seen[i].append(obj["metadata"]["name"])
                    if len(seen[i]) == 3:
                        return

            tasks = [asyncio.create_task(watch(i)) for i in range(40)]
            await asyncio.sleep(0.5)
            during = etcd_watchers(api.etcd.endpoint)
            for name in ("a", "b", "c"):
                await c.create("containers", ct(name))
            await asyncio.wait_for(asyncio.gather(*tasks), 20)
            assert seen == [["a", "b", "c"]] * 40
            assert during - before <= 1  # the cache's own watch of containers, nothing per watcher

    asyncio.run(go())


def test_resource_version_in_the_window_is_served_in_order_with_bookmarks(make_api) -> None:
    api = make_api(bookmark_interval=0.2)

    async def go() -> None:
        async with api.client() as c:
            first = await c.create("containers", ct("a"))
            await c.patch("containers", "a", {"metadata": {"labels": {"x": "1"}}})
            await c.create("containers", ct("b"))
            await c.delete("containers", "a")
            events = []
            async for kind, obj in c.watch("containers", resource_version=first["metadata"]["resourceVersion"], bookmarks=True):
                events.append((kind, obj["metadata"].get("name")))
                if kind == "BOOKMARK":
                    bookmark_rv = int(obj["metadata"]["resourceVersion"])
                    break
            assert events == [("MODIFIED", "a"), ("ADDED", "b"), ("DELETED", "a"), ("BOOKMARK", None)]
            _, now = await c.list("containers")
            assert bookmark_rv <= int(now)
            # Resuming from the bookmark misses nothing and repeats nothing.
            await c.create("containers", ct("c"))
            async for kind, obj in c.watch("containers", resource_version=str(bookmark_rv)):
                assert (kind, obj["metadata"]["name"]) == ("ADDED", "c")
                break

    asyncio.run(go())


def test_watcher_paused_past_a_compaction_gets_410_relists_and_matches_a_fresh_list(make_api) -> None:
    api = make_api(watch_cache_size=5)

    async def go() -> None:
        async with api.client() as c:
            for i in range(3):
                await c.create("containers", ct(f"keep-{i}"))
            calls: list[tuple[str, bool, bool]] = []

            async def handler(name: str, old: dict | None, new: dict | None) -> None:
                calls.append((name, old is not None, new is not None))

            informer = Informer(c, "containers", handler)
            task = asyncio.create_task(informer.run())
            await asyncio.wait_for(informer.synced.wait(), 10)
            task.cancel()  # paused: its cache and resourceVersion stay as they were
            paused_at = informer.resource_version

            await c.delete("containers", "keep-0")
            for i in range(8):  # more changes than the watch cache keeps
                await c.create("containers", ct(f"new-{i}"))
            await c.patch("containers", "keep-1", {"metadata": {"labels": {"v": "2"}}})
            await compact(api.etcd.endpoint)

            with pytest.raises(Gone):
                async for _ in c.watch("containers", resource_version=paused_at):
                    pass

            calls.clear()
            informer.synced.clear()
            task = asyncio.create_task(informer.run())
            await asyncio.wait_for(informer.synced.wait(), 10)
            task.cancel()
            items, _ = await c.list("containers")
            assert informer.cache == {o["metadata"]["name"]: o for o in items}
            assert sorted(calls) == sorted(
                [("keep-0", True, False), ("keep-1", True, True)] + [(f"new-{i}", False, True) for i in range(8)]
            )

    asyncio.run(go())


def test_client_resumes_across_an_apiserver_restart_without_missing_or_repeating(api) -> None:
    async def go() -> None:
        async with api.client() as writer, api.client() as reader:
            await writer.create("containers", ct("before"))
            seen: list[tuple[str, str]] = []
            relists = 0

            class CountingInformer(Informer):
                async def _relist(self) -> None:
                    nonlocal relists
                    relists += 1
                    await super()._relist()

            async def handler(name: str, old: dict | None, new: dict | None) -> None:
                seen.append((name, (new or old)["metadata"]["resourceVersion"]))

            informer = CountingInformer(reader, "containers", handler)
            task = asyncio.create_task(informer.run())
            await asyncio.wait_for(informer.synced.wait(), 10)
            expected = [("before", (await writer.get("containers", "before"))["metadata"]["resourceVersion"])]
            for i in range(5):
                obj = await writer.create("containers", ct(f"a{i}"))
                expected.append((f"a{i}", obj["metadata"]["resourceVersion"]))
            while len(seen) < len(expected):
                await asyncio.sleep(0.05)
            await asyncio.to_thread(api.restart)
            for i in range(5):
                obj = await writer.create("containers", ct(f"b{i}"))
                expected.append((f"b{i}", obj["metadata"]["resourceVersion"]))
            obj = await writer.patch("containers", "a0", {"metadata": {"labels": {"x": "y"}}})
            expected.append(("a0", obj["metadata"]["resourceVersion"]))
            deadline = asyncio.get_running_loop().time() + 20
            while len(seen) < len(expected) and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.3)  # anything repeated would arrive now
            task.cancel()
            assert seen == expected
            assert relists == 1  # the first list only: the restart was resumed, not relisted

    asyncio.run(go())


def test_a_slow_watcher_is_dropped_with_410_and_others_get_everything(make_api) -> None:
    api = make_api(watch_queue_size=5)

    async def go() -> None:
        async with api.client() as c, api.client() as slow_client:
            _, rv = await c.list("containers")
            fast_seen: list[str] = []

            async def fast() -> None:
                async for _, obj in c.watch("containers", resource_version=rv):
                    fast_seen.append(obj["metadata"]["name"])
                    if len(fast_seen) == 61:
                        return

            fast_task = asyncio.create_task(fast())
            slow = slow_client.watch("containers", resource_version=rv)
            await c.create("containers", ct("first"))
            assert (await slow.__anext__())[1]["metadata"]["name"] == "first"
            big = "x" * 250_000
            for i in range(60):  # ~15 MB that the slow watcher does not read
                await c.create("containers", ct(f"big-{i}", blob=big))
            await asyncio.wait_for(fast_task, 30)
            assert fast_seen == ["first"] + [f"big-{i}" for i in range(60)]
            received = 0
            with pytest.raises(Gone, match="fell more than 5 events behind"):
                async for _ in slow:
                    received += 1
            assert received < 60
            await slow.aclose()

    asyncio.run(go())


def test_timeout_seconds_ends_a_watch_cleanly(api) -> None:
    headers = {"Authorization": f"Bearer {api.token}"}
    with httpx.Client(base_url=api.url, headers=headers, timeout=10) as http:
        rv = http.get("/apis/dlxc.io/v1/containers").json()["metadata"]["resourceVersion"]
        with http.stream("GET", "/apis/dlxc.io/v1/containers", params={"watch": "1", "resourceVersion": rv, "timeoutSeconds": "0.3"}) as response:
            assert response.status_code == 200
            assert list(response.iter_lines()) == []
        bad = http.get("/apis/dlxc.io/v1/containers", params={"watch": "1", "timeoutSeconds": "-1"})
        assert bad.status_code == 400
        assert bad.json()["details"] == [{"field": "timeoutSeconds", "message": "must be > 0 and <= 86400"}]
        bad = http.get("/apis/dlxc.io/v1/containers", params={"watch": "1", "resourceVersion": "12a"})
        assert bad.status_code == 400
        assert bad.json()["details"] == [{"field": "resourceVersion", "message": "must be a number"}]


def test_an_object_larger_than_a_read_buffer_arrives_whole_through_a_watch(api) -> None:
    async def go() -> None:
        async with api.client() as c:
            _, rv = await c.list("containers")
            big = "x" * 600_000  # one NDJSON line far longer than any socket read
            await c.create("containers", ct("big", note=big))
            await c.create("containers", ct("small"))
            seen = []
            async for _, obj in c.watch("containers", resource_version=rv):
                seen.append(obj)
                if len(seen) == 2:
                    break
            assert [o["metadata"]["name"] for o in seen] == ["big", "small"]
            assert seen[0]["metadata"]["annotations"]["note"] == big

    asyncio.run(go())
