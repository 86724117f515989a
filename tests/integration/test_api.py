"""The apiserver over a real etcd: CRUD, optimistic concurrency, finalizers, binding, watch, auth."""
from __future__ import annotations

import asyncio

import httpx
import pytest

from dlxc.client.verbs import event_body
from dlxc.client.errors import (
    AlreadyExists,
    BadRequest,
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    Unauthorized,
)

pytestmark = pytest.mark.timeout(60)


def container(name: str = "web", **spec: object) -> dict:
    return {"metadata": {"name": name, "labels": {"app": name}}, "spec": {"image": "busybox", **spec}}


def test_crud_and_resource_versions(api) -> None:
    async def go() -> None:
        async with api.client() as c:
            created = await c.create("containers", container(memory=256))
            meta = created["metadata"]
            assert meta["generation"] == 1 and meta["uid"] and meta["creationTimestamp"]
            assert created["spec"]["memory"] == "256Mi"
            assert created["status"]["phase"] == "Pending"
            got = await c.get("containers", "web")
            assert got == created
            items, rv = await c.list("containers")
            assert [i["metadata"]["name"] for i in items] == ["web"]
            assert int(rv) >= int(meta["resourceVersion"])

            got["spec"]["memory"] = "512Mi"
            updated = await c.replace("containers", got)
            assert updated["metadata"]["generation"] == 2
            assert int(updated["metadata"]["resourceVersion"]) > int(meta["resourceVersion"])
            with pytest.raises(Conflict):
                await c.replace("containers", got)  # got carries the old resourceVersion

            same = dict(updated, metadata={**updated["metadata"], "labels": {"app": "x"}})
            relabeled = await c.replace("containers", same)
            assert relabeled["metadata"]["generation"] == 2  # labels are not spec

            await c.delete("containers", "web")
            with pytest.raises(NotFound):
                await c.get("containers", "web")
            with pytest.raises(NotFound):
                await c.delete("containers", "web")

    asyncio.run(go())


def test_create_twice_is_already_exists(api) -> None:
    async def go() -> None:
        async with api.client() as c:
            await c.create("containers", container())
            with pytest.raises(AlreadyExists):
                await c.create("containers", container())

    asyncio.run(go())


def test_invalid_object_gets_422_naming_the_field_and_nothing_is_written(api) -> None:
    response = httpx.post(
        f"{api.url}/apis/dlxc.io/v1/containers",
        json={"metadata": {"name": "web"}, "spec": {"image": "busybox", "memory": "lots", "env": {"A": "x\nlxc.cap.drop="}}},
        headers={"Authorization": f"Bearer {api.token}"},
    )
    assert response.status_code == 422
    body = response.json()
    assert body["reason"] == "Invalid"
    assert {d["field"] for d in body["details"]} == {"spec.memory", "spec.env.A"}
    assert httpx.get(f"{api.url}/apis/dlxc.io/v1/containers/web", headers={"Authorization": f"Bearer {api.token}"}).status_code == 404


def test_finalizers_hold_deletion_until_removed(api) -> None:
    async def go() -> None:
        async with api.client() as c:
            obj = await c.create("containers", container())
            obj = await c.patch("containers", "web", {"metadata": {"finalizers": ["x/y"], "resourceVersion": obj["metadata"]["resourceVersion"]}})
            marked = await c.delete("containers", "web")
            assert marked["metadata"]["deletionTimestamp"]
            assert marked["status"]["phase"] == "Terminating"
            still = await c.get("containers", "web")
            with pytest.raises(Conflict):
                await c.patch("containers", "web", {"metadata": {"finalizers": ["x/y", "a/b"]}})
            await c.patch("containers", "web", {"metadata": {"finalizers": [], "resourceVersion": still["metadata"]["resourceVersion"]}})
            with pytest.raises(NotFound):
                await c.get("containers", "web")

    asyncio.run(go())


def test_binding_happens_once(api) -> None:
    async def go() -> None:
        async with api.client() as c:
            await c.create("containers", container())
            bound = await c.bind("web", "node-a")
            assert bound["spec"]["nodeName"] == "node-a"
            assert bound["status"]["phase"] == "Scheduled"
            with pytest.raises(Conflict):
                await c.bind("web", "node-b")
            # a spec writer who does not know the binding keeps it
            live = await c.get("containers", "web")
            spec = {k: v for k, v in live["spec"].items() if k != "nodeName"}
            kept = await c.replace("containers", {**live, "spec": {**spec, "memory": "1Gi"}})
            assert kept["spec"]["nodeName"] == "node-a"
            with pytest.raises(Invalid):
                await c.replace("containers", {**kept, "spec": {**kept["spec"], "nodeName": "node-b"}})

    asyncio.run(go())


def test_a_bind_records_its_event_in_the_same_write(api) -> None:
    async def go() -> None:
        async with api.client() as c:
            scheduled = event_body({"kind": "Container", "metadata": {"name": "web"}}, reason="Scheduled",
                                   message="assigned to node node-a", component="scheduler")
            await c.create("containers", container())
            bound = await c.bind("web", "node-a", event=scheduled)
            # One transaction for both: the Event was written at the bound container's resourceVersion.
            event = await c.get("events", scheduled["metadata"]["name"])
            assert bound["metadata"]["resourceVersion"] == event["metadata"]["resourceVersion"]
            assert (event["spec"]["reason"], event["spec"]["source"]["component"], event["status"]["count"]) == (
                "Scheduled", "scheduler", 1)
            assert event["metadata"]["uid"] and event["status"]["firstTimestamp"]

            # A bind that loses writes no event either.
            await c.create("containers", container("late"))
            late = event_body({"kind": "Container", "metadata": {"name": "late"}}, reason="Scheduled", message="to b")
            await c.bind("late", "node-a")
            with pytest.raises(Conflict):
                await c.bind("late", "node-b", event=late)
            with pytest.raises(NotFound):
                await c.get("events", late["metadata"]["name"])

            # The same event again (bound, unbound, bound the same way) raises the count; the bind stands.
            await c.unbind("web", "node-a", reason="NodeLost", message="gone")
            again = await c.bind("web", "node-a", event=scheduled)
            assert again["spec"]["nodeName"] == "node-a"
            assert (await c.get("events", scheduled["metadata"]["name"]))["status"]["count"] == 2

            # An event about another object, or not an Event, is refused before anything is written.
            await c.create("containers", container("other"))
            for wrong, field in ((scheduled, "event.spec.involvedObject"), ({"spec": {"reason": "x y"}}, "event.metadata")):
                with pytest.raises(Invalid) as refused:
                    await c.bind("other", "node-a", event=wrong)
                assert field in [d["field"] for d in refused.value.details]
            assert "nodeName" not in (await c.get("containers", "other"))["spec"]

    asyncio.run(go())


def test_a_binding_batch_binds_each_item_as_its_own_bind(api) -> None:
    """POST .../bindingbatches: each item is a bind of its own (conditioned, with its Event in the same
    write, authorized as a single bind); one small answer per item, in order."""
    viewer = api.new_token("dave", "viewer")

    async def go() -> None:
        async with api.client() as c, api.client(viewer) as v:
            made = {name: await c.create("containers", container(name)) for name in ("a", "b", "c", "d", "e")}
            await c.bind("b", "node-x")  # bound already: its item loses
            scheduled = event_body({"kind": "Container", "metadata": {"name": "a"}}, reason="Scheduled",
                                   message="assigned to node node-a", component="scheduler")
            wrong_event = event_body({"kind": "Container", "metadata": {"name": "a"}}, reason="Scheduled", message="x")
            answers = await c.bind_batch([
                {"name": "a", "nodeName": "node-a", "resourceVersion": made["a"]["metadata"]["resourceVersion"],
                 "event": scheduled, "placement": {"node": "node-a", "message": "node node-a scored 90.0 of 100"}},
                {"name": "b", "nodeName": "node-b"},
                {"name": "c", "nodeName": "node-c", "resourceVersion": "1"},  # changed since: 409
                {"name": "gone", "nodeName": "node-a"},
                {"name": "d", "nodeName": "Not A Node"},
                {"name": "e", "nodeName": "node-e", "event": wrong_event},  # an event about another container
                {"name": "a/../b", "nodeName": "node-a"},
                "not a binding",
            ])
            assert [(x.get("name"), x["code"], x.get("reason")) for x in answers] == [
                ("a", 201, None), ("b", 409, "Conflict"), ("c", 409, "Conflict"), ("gone", 404, "NotFound"),
                ("d", 422, "Invalid"), ("e", 422, "Invalid"), ("a/../b", 422, "Invalid"), (None, 422, "Invalid")]
            assert set(answers[0]) == {"name", "code", "resourceVersion"}  # not the whole object
            a = await c.get("containers", "a")
            assert (a["spec"]["nodeName"], a["status"]["placement"]["node"]) == ("node-a", "node-a")
            assert answers[0]["resourceVersion"] == a["metadata"]["resourceVersion"]
            event = await c.get("events", scheduled["metadata"]["name"])
            assert event["metadata"]["resourceVersion"] == a["metadata"]["resourceVersion"]  # the same transaction
            assert (await c.get("containers", "b"))["spec"]["nodeName"] == "node-x"
            for name in ("c", "d", "e"):
                assert "nodeName" not in (await c.get("containers", name))["spec"]
            assert [d["field"] for d in answers[5]["details"]] == ["event.spec.involvedObject"]

            # Authorized item by item, exactly as POST .../containers/NAME/binding: a viewer binds nothing.
            refused = await v.bind_batch([{"name": "c", "nodeName": "node-c"}])
            assert [(x["name"], x["code"], x["reason"]) for x in refused] == [("c", 403, "Forbidden")]
            assert "nodeName" not in (await c.get("containers", "c"))["spec"]

            # A dry run writes nothing; a batch is 1 to 100 items and nothing else.
            dry = await c.request("POST", c.path("bindingbatches"), body={"items": [{"name": "c", "nodeName": "n"}]},
                                  params={"dryRun": "All"})
            assert dry["items"][0]["code"] == 201 and "nodeName" not in (await c.get("containers", "c"))["spec"]
            for body in ({"items": []}, {"items": [{"name": "c", "nodeName": "n"}] * 101}, {"items": "c"},
                         {"items": [{"name": "c", "nodeName": "n"}], "dryRun": True}, []):
                with pytest.raises(BadRequest):
                    await c.request("POST", c.path("bindingbatches"), body=body)

    asyncio.run(go())


def test_status_subresource_changes_only_status(api) -> None:
    async def go() -> None:
        async with api.client() as c:
            obj = await c.create("containers", container(memory=128))
            obj["spec"]["memory"] = "1Gi"
            obj["status"]["phase"] = "Running"
            written = await c.replace_status("containers", obj)
            assert written["status"]["phase"] == "Running"
            assert written["spec"]["memory"] == "128Mi"
            assert written["metadata"]["generation"] == 1
            spec_write = dict(written, status={"phase": "Failed"})
            spec_write["spec"] = {**written["spec"], "memory": "256Mi"}
            after = await c.replace("containers", spec_write)
            assert after["status"]["phase"] == "Running"

    asyncio.run(go())


def test_watch_streams_changes_in_order_with_selectors(api) -> None:
    async def go() -> None:
        async with api.client() as c:
            _, rv = await c.list("containers")
            seen: list[tuple[str, str]] = []

            async def watch() -> None:
                async for kind, obj in c.watch("containers", resource_version=rv, field_selector="spec.nodeName=n1"):
                    seen.append((kind, obj["metadata"]["name"]))
                    if len(seen) == 3:
                        return

            task = asyncio.create_task(watch())
            await asyncio.sleep(0.2)
            await c.create("containers", container("a"))
            await c.create("containers", container("b"))
            await c.bind("b", "n1")  # enters the selection: ADDED
            live = await c.get("containers", "b")
            live["spec"]["memory"] = "64Mi"
            await c.replace("containers", live)  # MODIFIED
            await c.delete("containers", "b")  # DELETED
            await asyncio.wait_for(task, 10)
            assert seen == [("ADDED", "b"), ("MODIFIED", "b"), ("DELETED", "b")]

    asyncio.run(go())


def test_auth_roles(api) -> None:
    viewer = api.new_token("carol", "viewer")
    node = api.new_token("kubelet-n1", "node:n1")

    async def go() -> None:
        async with api.client() as admin, api.client(viewer) as v, api.client(node) as n:
            await admin.create("containers", container("mine"))
            await admin.create("containers", container("other"))
            await admin.bind("mine", "n1")
            await admin.bind("other", "n2")
            await v.list("containers")
            with pytest.raises(Forbidden):
                await v.create("containers", container("x"))
            await n.create("nodes", {"metadata": {"name": "n1"}})
            with pytest.raises(Forbidden):
                await n.create("nodes", {"metadata": {"name": "n2"}})
            mine = await n.get("containers", "mine")
            mine["status"]["phase"] = "Running"
            await n.replace_status("containers", mine)
            other = await n.get("containers", "other")
            with pytest.raises(Forbidden):
                await n.replace_status("containers", other)
            with pytest.raises(Forbidden):
                await n.replace("containers", mine)
            with pytest.raises(Forbidden):
                await n.delete("containers", "mine")

    asyncio.run(go())
    assert httpx.get(f"{api.url}/apis/dlxc.io/v1/containers").status_code == 401
    assert httpx.get(f"{api.url}/apis/dlxc.io/v1/containers", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert httpx.get(f"{api.url}/healthz").status_code == 200


def test_oversized_body_is_413(api) -> None:
    response = httpx.post(
        f"{api.url}/apis/dlxc.io/v1/containers",
        content=b"{" + b" " * (1024 * 1024 + 10) + b"}",
        headers={"Authorization": f"Bearer {api.token}", "Content-Type": "application/json"},
    )
    assert response.status_code == 413


def test_concurrent_creates_of_one_name_make_exactly_one(api) -> None:
    async def go() -> list[object]:
        async with api.client() as c:
            return await asyncio.gather(*(c.create("containers", container("race")) for _ in range(20)), return_exceptions=True)

    results = asyncio.run(go())
    assert sum(1 for r in results if isinstance(r, dict)) == 1
    assert all(isinstance(r, AlreadyExists) for r in results if not isinstance(r, dict))
    _ = Unauthorized
