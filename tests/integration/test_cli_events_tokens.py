"""`dlxc token create` and `dlxc get events [--for KIND/NAME]` as a user types them."""
from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import time

import httpx
import pytest

pytestmark = pytest.mark.timeout(60)


def dlxc(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dlxc", *args], env=env, capture_output=True, text=True, timeout=30)


def create_node(api, name: str) -> None:
    response = httpx.post(f"{api.url}/apis/dlxc.io/v1/nodes", headers={"Authorization": f"Bearer {api.token}"}, json={"metadata": {"name": name}, "spec": {}})
    assert response.status_code == 201, response.text


def test_token_create_asks_the_api_and_prints_a_working_token_once(api) -> None:
    file_before = api.token_file.read_text()
    result = dlxc("token", "create", "carol", "--role", "viewer", env=api.env())
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token)
    assert api.token_file.read_text() == file_before  # the bootstrap file is the apiserver's, not the CLI's
    headers = {"Authorization": f"Bearer {token}"}
    assert httpx.get(f"{api.url}/apis/dlxc.io/v1/containers", headers=headers).status_code == 200
    created = httpx.post(f"{api.url}/apis/dlxc.io/v1/containers", headers=headers, json={"metadata": {"name": "x"}, "spec": {"image": "busybox"}})
    assert created.status_code == 403
    stored = httpx.get(f"{api.url}/apis/dlxc.io/v1/tokens/carol", headers={"Authorization": f"Bearer {api.token}"}).json()
    assert set(stored) == {"apiVersion", "kind", "metadata", "spec", "status"}
    assert token not in str(stored) and "secretHash" not in str(stored)
    assert stored["spec"] == {"role": "viewer"} and stored["status"] == {}


def test_a_viewer_cannot_mint_an_admin_token(api) -> None:
    viewer = dlxc("token", "create", "peek", "--role", "viewer", env=api.env()).stdout.strip()
    result = dlxc("token", "create", "x", "--role", "admin", env={**api.env(), "DLXC_TOKEN": viewer})
    assert (result.returncode, result.stdout, result.stderr) == (1, "", "error: peek (viewer) may not create tokens; only an admin may\n")


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--role", "root"], 2, "error: unknown role 'root'; use admin, viewer, node:NAME or join\n"),
        (["--role", "node:Bad"], 2, "error: unknown role 'node:Bad'; use admin, viewer, node:NAME or join\n"),
        (["--role", "node:n9"], 1, "error: Token is invalid: spec.role: node 'n9' does not exist; a node token is for a registered Node\n"),
        (["--role", "viewer", "--ttl", "soon"], 2, "error: --ttl 'soon' is not a duration; use a positive number with s, m, h or d (e.g. 1h, 7d)\n"),
    ],
    ids=["unknown", "bad-node-name", "unknown-node", "bad-ttl"],
)
def test_token_create_refuses_bad_roles_and_ttls(api, args: list[str], code: int, message: str) -> None:
    result = dlxc("token", "create", "x", *args, env=api.env())
    assert (result.returncode, result.stdout, result.stderr) == (code, "", message)
    assert dlxc("token", "list", "-o", "json", env=api.env()).stdout.strip() == "[]"


def test_token_names_are_unique_and_node_tokens_need_the_node(api) -> None:
    create_node(api, "n1")
    assert dlxc("token", "create", "kubelet-n1", "--role", "node:n1", env=api.env()).returncode == 0
    again = dlxc("token", "create", "kubelet-n1", "--role", "viewer", env=api.env())
    assert (again.returncode, again.stderr) == (1, "error: tokens/kubelet-n1 already exists\n")
    bootstrap = dlxc("token", "create", "admin", "--role", "viewer", env=api.env())
    assert (bootstrap.returncode, bootstrap.stderr) == (1, "error: tokens/admin already exists (in the apiserver's token file)\n")


def test_token_list_ttl_expiry_and_revoke(api) -> None:
    forever = dlxc("token", "create", "dave", "--role", "admin", env=api.env()).stdout.strip()
    brief = dlxc("token", "create", "erin", "--role", "viewer", "--ttl", "1s", env=api.env()).stdout.strip()
    listed = dlxc("token", "list", env=api.env())
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert re.split(r"\s{3,}", lines[0]) == ["NAME", "ROLE", "CREATED", "EXPIRES", "USES"]
    rows = [re.split(r"\s{3,}", line) for line in lines[1:]]
    assert [(r[0], r[1], r[3] == "never") for r in rows] == [("dave", "admin", True), ("erin", "viewer", False)]
    assert forever not in listed.stdout and brief not in listed.stdout
    time.sleep(1.2)
    expired = httpx.get(f"{api.url}/apis/dlxc.io/v1/nodes", headers={"Authorization": f"Bearer {brief}"})
    assert expired.status_code == 401
    assert re.fullmatch(r"the bearer token 'erin' expired at \S+Z; ask an admin for a new one", expired.json()["message"])
    assert httpx.get(f"{api.url}/apis/dlxc.io/v1/nodes", headers={"Authorization": f"Bearer {forever}"}).status_code == 200
    revoked = dlxc("token", "revoke", "dave", env=api.env())
    assert (revoked.returncode, revoked.stdout) == (0, "token/dave revoked\n")
    refused = httpx.get(f"{api.url}/apis/dlxc.io/v1/nodes", headers={"Authorization": f"Bearer {forever}"})
    assert (refused.status_code, refused.json()["message"]) == (401, "the bearer token is not valid")
    gone = dlxc("token", "revoke", "dave", env=api.env())
    assert (gone.returncode, gone.stderr) == (1, "error: tokens/dave not found\n")


def test_get_events_for_one_container(api) -> None:
    async def record() -> None:
        async with api.client() as c:
            web = {"kind": "Container", "metadata": {"name": "web"}}
            await c.record_event(web, reason="Pulled", message="image busybox ready", component="kubelet", host="n1")
            await c.record_event(web, reason="Started", message="started", component="kubelet", host="n1")
            await c.record_event(web, reason="Started", message="started", component="kubelet", host="n1")
            await c.record_event({"kind": "Container", "metadata": {"name": "db"}}, reason="Failed", message="no image", type="Warning")

    asyncio.run(record())
    result = dlxc("get", "events", "--for", "container/web", env=api.env())
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert re.split(r"\s{3,}", lines[0]) == ["LAST SEEN", "TYPE", "REASON", "OBJECT", "COUNT", "MESSAGE"]
    rows = [re.split(r"\s{3,}", line)[1:] for line in lines[1:]]
    assert rows == [["Normal", "Pulled", "container/web", "1", "image busybox ready"], ["Normal", "Started", "container/web", "2", "started"]]
    everything = dlxc("get", "events", "-o", "name", env=api.env())
    assert len(everything.stdout.splitlines()) == 3
    wrong = dlxc("get", "containers", "--for", "container/web", env=api.env())
    assert (wrong.returncode, wrong.stderr) == (2, "error: --for only applies to events\n")
    bad = dlxc("get", "events", "--for", "widget/web", env=api.env())
    assert (bad.returncode, bad.stderr) == (2, "error: --for 'widget/web': unknown kind 'widget'; use e.g. container/NAME or node/NAME\n")


def test_status_lists_the_recent_warnings_the_server_holds(api) -> None:
    async def record() -> None:
        async with api.client() as c:
            web = {"kind": "Container", "metadata": {"name": "web"}}
            await c.record_event(web, reason="Started", message="started on node n1", component="kubelet", host="n1")
            for _ in range(3):
                await c.record_event(web, reason="FailedMount", message="start failed: mount /srv/x: Permission denied",
                                     type="Warning", component="kubelet", host="n1")

    asyncio.run(record())
    result = dlxc("status", env=api.env())
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    at = lines.index("Recent warnings: 1")
    assert re.split(r"\s{3,}", lines[at + 1].strip()) == ["AGE", "OBJECT", "REASON", "COUNT", "MESSAGE"]
    assert re.split(r"\s{3,}", lines[at + 2].strip())[1:] == [
        "container/web", "FailedMount", "3", "start failed: mount /srv/x: Permission denied"]


def test_an_api_token_works_and_is_revoked_on_every_apiserver(make_api) -> None:
    # Why tokens live in etcd and not in one apiserver's file: two apiservers, one cluster.
    first = make_api()
    second = make_api(etcd_prefix=first.prefix, token_file=first.token_file)
    admin = {"Authorization": f"Bearer {first.token}"}
    made = httpx.post(f"{first.url}/apis/dlxc.io/v1/tokens", headers=admin, json={"metadata": {"name": "frank"}, "spec": {"role": "viewer"}})
    assert made.status_code == 201, made.text
    frank = {"Authorization": f"Bearer {made.json()['status']['token']}"}
    assert httpx.get(f"{second.url}/apis/dlxc.io/v1/nodes", headers=frank).status_code == 200
    assert httpx.delete(f"{first.url}/apis/dlxc.io/v1/tokens/frank", headers=admin).status_code == 200
    deadline = time.monotonic() + 3
    while httpx.get(f"{second.url}/apis/dlxc.io/v1/nodes", headers=frank).status_code == 200:
        assert time.monotonic() < deadline, "the second apiserver still accepts a revoked token"
        time.sleep(0.1)
    assert httpx.get(f"{second.url}/apis/dlxc.io/v1/nodes", headers=frank).status_code == 401
