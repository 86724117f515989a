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
