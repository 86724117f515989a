"""The Backup kind on a real apiserver: every verb, the label the server sets, OpenAPI, and what a kubelet may write."""
from __future__ import annotations

import httpx
import pytest

from schemas.wire import BACKUP_FINALIZER, LXC_FINALIZER

pytestmark = pytest.mark.timeout(60)

BASE = "/apis/dlxc.io/v1"


def test_backup_verbs_label_status_and_node_rights(api) -> None:
    with httpx.Client(base_url=api.url, headers={"Authorization": f"Bearer {api.token}"}) as admin, \
            httpx.Client(base_url=api.url, headers={"Authorization": f"Bearer {api.new_token('kubelet-n1', 'node:n1')}"}) as node:
        _check(admin, node)


def _check(admin: httpx.Client, node: httpx.Client) -> None:
    made = admin.post(f"{BASE}/backups", json={"metadata": {"name": "web-20260101-030000"}, "spec": {"container": "web"},
                                              "status": {"phase": "Completed"}})
    assert made.status_code == 201, made.text
    obj = made.json()
    # The server labels it by container and starts it Pending, whatever the client sent.
    assert obj["metadata"]["labels"] == {"dlxc.io/container": "web"} and obj["status"] == {"phase": "Pending"}
    listed = admin.get(f"{BASE}/backups", params={"labelSelector": "dlxc.io/container=web"}).json()["items"]
    assert [o["metadata"]["name"] for o in listed] == ["web-20260101-030000"]
    assert admin.get(f"{BASE}/backups", params={"labelSelector": "dlxc.io/container=db"}).json()["items"] == []

    bad = admin.post(f"{BASE}/backups", json={"metadata": {"name": "x"}, "spec": {"container": "Not_A_Name"}})
    assert bad.status_code == 422 and bad.json()["details"][0]["field"] == "spec.container"

    # A kubelet may claim it (its finalizer), and write its status; not its spec, not another finalizer.
    rv = obj["metadata"]["resourceVersion"]
    claimed = node.patch(f"{BASE}/backups/web-20260101-030000", json={"metadata": {"finalizers": [BACKUP_FINALIZER], "resourceVersion": rv}})
    assert claimed.status_code == 200, claimed.text
    foreign = node.patch(f"{BASE}/backups/web-20260101-030000", json={"metadata": {"finalizers": [BACKUP_FINALIZER, LXC_FINALIZER]}})
    assert foreign.status_code == 403
    assert node.patch(f"{BASE}/backups/web-20260101-030000", json={"spec": {"container": "db"}}).status_code == 403
    running = node.patch(f"{BASE}/backups/web-20260101-030000/status", json={"status": {"phase": "Running", "node": "n1"}})
    assert running.status_code == 200 and running.json()["status"] == {"phase": "Running", "node": "n1", "message": ""}
    wrong = node.patch(f"{BASE}/backups/web-20260101-030000/status", json={"status": {"phase": "Done"}})
    assert wrong.status_code == 422 and wrong.json()["details"][0]["field"] == "status.phase"
    assert node.delete(f"{BASE}/backups/web-20260101-030000").status_code == 403

    # Deleting waits for the archive's finalizer.
    assert admin.delete(f"{BASE}/backups/web-20260101-030000").status_code == 200
    assert admin.get(f"{BASE}/backups/web-20260101-030000").json()["metadata"]["deletionTimestamp"]
    assert node.patch(f"{BASE}/backups/web-20260101-030000", json={"metadata": {"finalizers": []}}).status_code == 200
    assert admin.get(f"{BASE}/backups/web-20260101-030000").status_code == 404

    spec = admin.get("/openapi.json").json()
    assert "Backup" in spec["components"]["schemas"]
    assert {"get", "post"} <= set(spec["paths"][f"{BASE}/backups"]) and "patch" in spec["paths"][f"{BASE}/backups/{{name}}/status"]


def test_get_backups_table(api) -> None:
    from conftest import dlxc

    with httpx.Client(base_url=api.url, headers={"Authorization": f"Bearer {api.token}"}) as admin:
        assert admin.post(f"{BASE}/backups", json={"metadata": {"name": "db-20260101-030000"}, "spec": {"container": "db"}}).status_code == 201
    listed = dlxc("get", "backups", env=api.env())
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines()[0].split() == ["NAME", "CONTAINER", "PHASE", "SIZE", "NODE", "AGE"]
    assert listed.stdout.splitlines()[1].split()[:5] == ["db-20260101-030000", "db", "Pending", "-", "-"]
    mine = dlxc("backup", "list", "db", env=api.env())
    assert mine.returncode == 0 and mine.stdout.splitlines()[1].split()[:6] == ["db-20260101-030000", "db", "Pending", "-", "-", "-"]
    bad = dlxc("backup", "list", "-o", "xml", env=api.env())
    assert (bad.returncode, bad.stderr) == (2, "error: unknown output format 'xml'; use table, json or yaml\n")


def test_a_node_reads_an_archive_only_for_a_container_it_restores_from_it(api) -> None:
    from schemas.wire import RESTORE_ANNOTATION

    name = "src-20260101-030000"
    archive = f"{BASE}/backups/{name}/archive"
    with httpx.Client(base_url=api.url, headers={"Authorization": f"Bearer {api.token}"}) as admin, \
            httpx.Client(base_url=api.url, headers={"Authorization": f"Bearer {api.new_token('kubelet-n1', 'node:n1')}"}) as n1, \
            httpx.Client(base_url=api.url, headers={"Authorization": f"Bearer {api.new_token('kubelet-n2', 'node:n2')}"}) as n2:
        assert admin.post(f"{BASE}/backups", json={"metadata": {"name": name}, "spec": {"container": "src"}}).status_code == 201
        assert n1.patch(f"{BASE}/backups/{name}/status", json={"status": {"phase": "Completed", "node": "n1"}}).status_code == 200
        made = admin.post(f"{BASE}/containers", json={"metadata": {"name": "copy", "annotations": {RESTORE_ANNOTATION: name}},
                                                      "spec": {"image": "busybox", "nodeName": "n2"}})
        assert made.status_code == 201, made.text

        plain = n2.get(archive)
        assert plain.status_code == 403 and plain.json()["message"] == "kubelet-n2 (node:n2) may not create backups/" + name + "/archive"
        ghost = n2.get(archive, params={"for": "ghost"})
        assert (ghost.status_code, ghost.json()["message"]) == (
            403, f"kubelet-n2 may not read the archive of backup {name}: container ghost does not exist")
        elsewhere = n1.get(archive, params={"for": "copy"})
        assert (elsewhere.status_code, elsewhere.json()["message"]) == (
            403, f"kubelet-n1 may not read the archive of backup {name}: it is not restoring container copy from it on node n1")
        # The node that restores `copy` from it passes; here the archive's node is not registered.
        allowed = n2.get(archive, params={"for": "copy"})
        assert (allowed.status_code, allowed.json()["message"]) == (409, f"backup {name} is on node n1, which is not registered")
        assert n2.put(archive, params={"for": "copy"}, content=b"x").status_code == 403  # reading only


def test_a_backup_whose_node_is_gone_is_marked_then_released_by_the_controller(api) -> None:
    from conftest import run
    from controller.backups import BackupScheduler
    from dlxc.client.api import Client
    from dlxc.client.config import ClientConfig

    name = "lost-20260101-030000"
    with httpx.Client(base_url=api.url, headers={"Authorization": f"Bearer {api.token}"}) as admin, \
            httpx.Client(base_url=api.url, headers={"Authorization": f"Bearer {api.new_token('kubelet-n9', 'node:n9')}"}) as node:
        made = admin.post(f"{BASE}/backups", json={"metadata": {"name": name}, "spec": {"container": "lost"}}).json()
        rv = made["metadata"]["resourceVersion"]
        assert node.patch(f"{BASE}/backups/{name}", json={"metadata": {"finalizers": [BACKUP_FINALIZER], "resourceVersion": rv}}).status_code == 200
        assert node.patch(f"{BASE}/backups/{name}/status", json={"status": {
            "phase": "Completed", "node": "n9", "location": f"/var/lib/dlxc/backups/{name}.tar.zst"}}).status_code == 200

        async def settle() -> list:
            async with Client(ClientConfig(server=api.url, token=api.token)) as client:
                return await BackupScheduler(client).settle()

        # Node n9 was never registered (as after `dlxc node remove`): its archive is unreachable.
        assert len(run(settle())) == 1
        status = admin.get(f"{BASE}/backups/{name}").json()["status"]
        assert status["phase"] == "Completed" and status["message"] == (
            f"archive unreachable: node n9 is gone (no longer registered); /var/lib/dlxc/backups/{name}.tar.zst on node n9 "
            "cannot be read or restored")
        assert run(settle()) == []  # said once

        assert admin.delete(f"{BASE}/backups/{name}").status_code == 200
        assert admin.get(f"{BASE}/backups/{name}").status_code == 200  # held by the finalizer nobody else will drop
        assert len(run(settle())) == 1
        assert admin.get(f"{BASE}/backups/{name}").status_code == 404
        events = {e["spec"]["reason"]: e["spec"]["message"] for e in admin.get(f"{BASE}/events").json()["items"]
                  if e["spec"]["involvedObject"]["name"] == name}
        assert events["ArchiveAbandoned"] == (f"node n9 is gone: /var/lib/dlxc/backups/{name}.tar.zst on node n9 could not be "
                                              "removed (it stays there if the node returns); the backup is deleted without it")
        assert "ArchiveUnreachable" in events
