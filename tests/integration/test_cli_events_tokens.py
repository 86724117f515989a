"""`dlxc token create` and `dlxc get events [--for KIND/NAME]` as a user types them."""
from __future__ import annotations

import asyncio
import re
import subprocess
import sys

import httpx
import pytest

pytestmark = pytest.mark.timeout(60)


def dlxc(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dlxc", *args], env=env, capture_output=True, text=True, timeout=30)


def test_token_create_prints_a_working_token_and_stores_only_its_hash(api) -> None:
    result = dlxc("token", "create", "carol", "--role", "viewer", "--token-file", str(api.token_file), env=api.env())
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token)
    assert token not in api.token_file.read_text()
    headers = {"Authorization": f"Bearer {token}"}
    assert httpx.get(f"{api.url}/apis/dlxc.io/v1/containers", headers=headers).status_code == 200
    created = httpx.post(f"{api.url}/apis/dlxc.io/v1/containers", headers=headers, json={"metadata": {"name": "x"}, "spec": {"image": "busybox"}})
    assert created.status_code == 403


@pytest.mark.parametrize(
    ("role", "message"),
    [("root", "error: unknown role 'root'; use admin, viewer or node:NAME\n"), ("node:Bad", "error: unknown role 'node:Bad'; use admin, viewer or node:NAME\n")],
    ids=["unknown", "bad-node-name"],
)
def test_token_create_refuses_unknown_roles(api, role: str, message: str) -> None:
    before = api.token_file.read_text()
    result = dlxc("token", "create", "x", "--role", role, "--token-file", str(api.token_file), env=api.env())
    assert (result.returncode, result.stdout, result.stderr) == (2, "", message)
    assert api.token_file.read_text() == before


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
