"""Every kind over a real etcd: all verbs, status subresource, generation, dry runs, events with counts, leases."""
from __future__ import annotations

import asyncio

import httpx
import pytest

from dlxc.client.errors import AlreadyExists, BadRequest, Conflict, Forbidden, Invalid, NotFound
from dlxc.client.verbs import event_body

pytestmark = pytest.mark.timeout(60)

OBJECTS = {
    "containers": {"metadata": {"name": "x1", "labels": {"a": "b"}}, "spec": {"image": "busybox"}},
    "nodes": {"metadata": {"name": "x1"}, "spec": {}},
    "events": {"metadata": {"name": "x1"}, "spec": {"involvedObject": {"kind": "Container", "name": "web"}, "reason": "Started"}},
    "leases": {"metadata": {"name": "x1"}, "spec": {"holderIdentity": "a", "leaseDurationSeconds": 10}},
}
SPEC_CHANGE = {
    "containers": {"memory": "64Mi"},
    "nodes": {"unschedulable": True},
    "events": {"message": "again"},
    "leases": {"holderIdentity": "b"},
}
STATUS_CHANGE = {
    "containers": {"phase": "Running"},
    "nodes": {"containerCount": 3},
    "events": {"count": 7},
    "leases": {},
}


@pytest.mark.parametrize("plural", list(OBJECTS), ids=list(OBJECTS))
def test_every_verb_on_every_kind(api, plural: str) -> None:
    async def go() -> None:
        async with api.client() as c:
            dry = await c.create(plural, OBJECTS[plural], dry_run=True)
            assert dry["metadata"]["generation"] == 1 and "resourceVersion" not in dry["metadata"]
            with pytest.raises(NotFound):
                await c.get(plural, "x1")
            created = await c.create(plural, OBJECTS[plural])
            assert created["metadata"]["uid"] and created["metadata"]["creationTimestamp"]
            items, _ = await c.list(plural)
            assert [i["metadata"]["name"] for i in items] == ["x1"]
            if plural != "events":  # a duplicate event only counts again
                with pytest.raises(AlreadyExists):
                    await c.create(plural, OBJECTS[plural], dry_run=True)

            # PUT: spec change bumps generation; stale resourceVersion is 409.
            new = {**created, "spec": {**created["spec"], **SPEC_CHANGE[plural]}}
            replaced = await c.replace(plural, new)
            assert replaced["metadata"]["generation"] == 2
            with pytest.raises(Conflict):
                await c.replace(plural, new)

            # merge PATCH: metadata only does not bump generation; spec does.
            labelled = await c.patch(plural, "x1", {"metadata": {"labels": {"z": "1"}}})
            assert labelled["metadata"]["generation"] == 2
            assert labelled["metadata"]["labels"]["z"] == "1"
            dry_patch = await c.patch(plural, "x1", {"spec": SPEC_CHANGE[plural]}, dry_run=True)
            assert dry_patch["metadata"]["resourceVersion"] == labelled["metadata"]["resourceVersion"]

            # status: a spec writer cannot change it, a status writer cannot change the spec.
            ignored = await c.patch(plural, "x1", {"status": STATUS_CHANGE[plural]})
            assert ignored["status"] == labelled["status"]
            status = await c.patch_status(plural, "x1", STATUS_CHANGE[plural])
            for key, value in STATUS_CHANGE[plural].items():
                assert status["status"][key] == value
            assert status["metadata"]["generation"] == 2
            whole = {**status, "spec": OBJECTS[plural]["spec"]}
            put_status = await c.replace_status(plural, whole)
            assert put_status["spec"] == status["spec"]
            with pytest.raises(Conflict):
                await c.patch_status(plural, "x1", STATUS_CHANGE[plural], resource_version=created["metadata"]["resourceVersion"])

            assert (await c.delete(plural, "x1", dry_run=True))["metadata"]["name"] == "x1"
            await c.get(plural, "x1")
            await c.delete(plural, "x1")
            with pytest.raises(NotFound):
                await c.get(plural, "x1")

    asyncio.run(go())


def test_status_patch_refuses_anything_but_status(api) -> None:
    async def go() -> None:
        async with api.client() as c:
            await c.create("containers", OBJECTS["containers"])
            with pytest.raises(BadRequest) as err:
                await c.request("PATCH", c.path("containers", "x1", "status"), body={"spec": {"image": "other"}})
            assert err.value.details == [{"field": "spec", "message": "cannot be changed through /status"}]
            with pytest.raises(Invalid) as err:
                await c.patch_status("containers", "x1", {"phase": "Sleeping"})
            assert [d["field"] for d in err.value.details] == ["status.phase"]

    asyncio.run(go())


def test_generation_bumps_on_bind_and_only_on_spec(api) -> None:
    async def go() -> None:
        async with api.client() as c:
            await c.create("containers", OBJECTS["containers"])
            same = await c.patch("containers", "x1", {"spec": {"image": "busybox"}})
            assert same["metadata"]["generation"] == 1
            bound = await c.bind("x1", "n1")
            assert bound["metadata"]["generation"] == 2
            forged = await c.patch("containers", "x1", {"metadata": {"generation": 99, "uid": "forged", "creationTimestamp": "2000-01-01T00:00:00Z"}})
            assert forged["metadata"]["generation"] == 2
            assert forged["metadata"]["uid"] == bound["metadata"]["uid"]
            assert forged["metadata"]["creationTimestamp"] == bound["metadata"]["creationTimestamp"]

    asyncio.run(go())


def test_finalizers_and_deletion_timestamp_on_a_lease(api) -> None:
    async def go() -> None:
        async with api.client() as c:
            await c.create("leases", {"metadata": {"name": "l1", "finalizers": ["a/one", "a/two"]}})
            marked = await c.delete("leases", "l1")
            stamp = marked["metadata"]["deletionTimestamp"]
            again = await c.delete("leases", "l1")
            assert again["metadata"]["deletionTimestamp"] == stamp
            forged = await c.patch("leases", "l1", {"metadata": {"deletionTimestamp": None}})
            assert forged["metadata"]["deletionTimestamp"] == stamp
            await c.patch("leases", "l1", {"metadata": {"finalizers": ["a/two"]}})
            await c.get("leases", "l1")
            await c.patch("leases", "l1", {"metadata": {"finalizers": None}})
            with pytest.raises(NotFound):
                await c.get("leases", "l1")

    asyncio.run(go())


def test_duplicate_events_raise_the_count(api) -> None:
    async def go() -> None:
        async with api.client() as c:
            web = {"kind": "Container", "metadata": {"name": "web"}}
            first = await c.record_event(web, reason="Started", message="started", component="kubelet", host="n1")
            second = await c.record_event(web, reason="Started", message="started", component="kubelet", host="n1")
            other = await c.record_event(web, reason="Failed", message="no image", type="Warning")
            assert second["metadata"]["name"] == first["metadata"]["name"]
            assert (first["status"]["count"], second["status"]["count"]) == (1, 2)
            assert second["status"]["firstTimestamp"] == first["status"]["firstTimestamp"]
            assert other["metadata"]["name"] != first["metadata"]["name"]
            clash = {"metadata": {"name": first["metadata"]["name"]}, "spec": {**first["spec"], "message": "else"}}
            with pytest.raises(AlreadyExists):
                await c.create("events", clash)
            items, _ = await c.list("events", field_selector="involvedObject.name=web,involvedObject.kind=Container")
            assert sorted(i["spec"]["reason"] for i in items) == ["Failed", "Started"]
            none, _ = await c.list("events", field_selector="involvedObject.name=db")
            assert none == []

    asyncio.run(go())


def test_an_event_batch_creates_each_as_one_post_would(api) -> None:
    """POST .../eventbatches: one answer per item, in order; a duplicate raises the count, a bad item
    fails alone; authorized once, as a create of events."""
    async def go() -> None:
        async with api.client() as c:
            web = {"kind": "Container", "metadata": {"name": "web"}}
            started = event_body(web, reason="Started", message="started", component="kubelet", host="n1")
            bad = {"metadata": {"name": "x"}, "spec": {**started["spec"], "type": "Loud"}}
            answers = await c.record_events([started, bad, event_body(web, reason="Failed", message="no image", type="Warning")])
            assert [a["code"] for a in answers] == [201, 422, 201]
            assert answers[0]["object"]["status"]["count"] == 1 and answers[2]["object"]["spec"]["reason"] == "Failed"
            assert answers[1]["details"][0]["field"] == "spec.type"
            again = await c.record_events([started, started])
            assert sorted(a["object"]["status"]["count"] for a in again) == [2, 3]
            items, _ = await c.list("events", field_selector="involvedObject.name=web")
            assert sorted(i["spec"]["reason"] for i in items) == ["Failed", "Started"]
            with pytest.raises(BadRequest):
                await c.request("POST", c.path("eventbatches"), body={"items": []})
            with pytest.raises(BadRequest):
                await c.request("POST", c.path("eventbatches"), body={"items": [started], "dryRun": True})
        async with api.client(api.new_token("watcher", "viewer")) as viewer:
            with pytest.raises(Forbidden):
                await viewer.record_events([started])

    asyncio.run(go())


@pytest.mark.parametrize(
    ("labels", "fields", "expected"),
    [
        ("tier=front", "", ["a", "b"]),
        ("tier!=front", "", ["c", "d"]),
        ("tier in (front,back)", "", ["a", "b", "c"]),
        ("tier notin (front)", "", ["c", "d"]),
        ("tier", "", ["a", "b", "c"]),
        ("!tier", "", ["d"]),
        ("", "metadata.name=c", ["c"]),
        ("", "spec.nodeName=n1", ["a"]),
        ("", "spec.nodeName!=n1", ["b", "c", "d"]),
        ("", "status.phase=Scheduled", ["a"]),
        ("tier=front", "status.phase=Pending", ["b"]),
    ],
    ids=["eq", "neq", "in", "notin", "exists", "not-exists", "name", "node", "node-neq", "phase", "label-and-field"],
)
def test_selectors_on_list_and_watch(api, labels: str, fields: str, expected: list[str]) -> None:
    async def go() -> None:
        async with api.client() as c:
            tiers = {"a": "front", "b": "front", "c": "back", "d": None}
            for name, tier in tiers.items():
                await c.create("containers", {"metadata": {"name": name, "labels": {"tier": tier} if tier else {}}, "spec": {"image": "busybox"}})
            await c.bind("a", "n1")
            items, _ = await c.list("containers", label_selector=labels or None, field_selector=fields or None)
            assert [i["metadata"]["name"] for i in items] == expected
            seen = []
            async for kind, obj in c.watch("containers", resource_version="0", label_selector=labels or None, field_selector=fields or None):
                seen.append((kind, obj["metadata"]["name"]))
                if len(seen) == len(expected):
                    break
            assert seen == [("ADDED", n) for n in expected]

    asyncio.run(go())


def test_bad_selectors_are_400_naming_the_parameter(api) -> None:
    headers = {"Authorization": f"Bearer {api.token}"}
    for params, field in (({"fieldSelector": "spec.image=x"}, "fieldSelector"), ({"labelSelector": "a in b c"}, "labelSelector")):
        response = httpx.get(f"{api.url}/apis/dlxc.io/v1/containers", params=params, headers=headers)
        assert response.status_code == 400
        assert response.json()["details"][0]["field"] == field
