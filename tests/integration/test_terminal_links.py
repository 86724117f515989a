"""Browser terminal links through the real apiserver and etcd, without LXC: who may make one, and
that a link (and the session it is traded for) works once across several apiservers."""
from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

BASE = "/apis/dlxc.io/v1"


def admin(api: Any) -> httpx.Client:
    return httpx.Client(base_url=api.url, headers={"Authorization": f"Bearer {api.token}"}, timeout=10)


def running(api: Any, name: str) -> None:
    """A container bound to node n1 and reported Running, as a kubelet would (no kubelet here)."""
    with admin(api) as http:
        if http.get(f"{BASE}/nodes/n1").status_code == 404:
            http.post(f"{BASE}/nodes", json={"metadata": {"name": "n1"}, "spec": {}}).raise_for_status()
        http.post(f"{BASE}/containers", json={"metadata": {"name": name}, "spec": {"image": "busybox"}}).raise_for_status()
        http.post(f"{BASE}/containers/{name}/binding", json={"nodeName": "n1"}).raise_for_status()
        http.patch(f"{BASE}/containers/{name}/status", json={"status": {"phase": "Running"}}).raise_for_status()


def link(api: Any, name: str, **body: Any) -> httpx.Response:
    with admin(api) as http:
        return http.post(f"{BASE}/containers/{name}/terminal", json=body)


def token_of(response: httpx.Response) -> str:
    assert response.status_code == 201, response.text
    return response.json()["url"].split("#", 1)[1]


def exchange(api: Any, token: str) -> httpx.Response:
    return httpx.post(f"{api.url}/terminal/session", json={"token": token}, timeout=10)


def stream_status(api: Any, session: str) -> dict[str, Any]:
    """Open the terminal's WebSocket with a session; the Failure status it is answered with."""
    url = api.url.replace("http", "ws", 1) + "/terminal/stream?width=80&height=24"
    with connect(url, subprotocols=["v5.channel.k8s.io", f"dlxc.terminal.session.{session}"]) as ws:  # type: ignore[list-item]
        message = ws.recv(timeout=10)
    assert isinstance(message, bytes) and message[0] == 3, message
    return json.loads(message[1:])


def test_who_may_make_a_link_and_for_what(api: Any) -> None:
    running(api, "web")
    with admin(api) as http:
        http.post(f"{BASE}/containers", json={"metadata": {"name": "idle"}, "spec": {"image": "busybox"}}).raise_for_status()
    viewer = api.new_token("alice", "viewer")
    answer = httpx.post(f"{api.url}{BASE}/containers/web/terminal", headers={"Authorization": f"Bearer {viewer}"})
    assert (answer.status_code, answer.json()["message"]) == (403, "alice (viewer) may not open a terminal in containers/web")
    assert httpx.post(f"{api.url}{BASE}/containers/web/terminal").status_code == 401
    assert link(api, "nosuch").status_code == 404
    assert (link(api, "idle").status_code, link(api, "idle").json()["message"]) == (409, "container idle is not scheduled to a node yet (Pending)")
    bad = link(api, "web", ttlSeconds=0)
    assert (bad.status_code, bad.json()["details"][0]["field"]) == (400, "ttlSeconds")
    made = link(api, "web", ttlSeconds=60, user="nobody")
    assert made.status_code == 201 and made.json()["url"].startswith(f"{api.url}/terminal/#")
    with admin(api) as http:
        events = [e["spec"] for e in http.get(f"{BASE}/events").json()["items"] if e["spec"]["reason"] == "TerminalLink"]
    assert [e["message"].rsplit(",", 1)[0] for e in events] == ["admin (admin): made a browser terminal link as nobody"]


def test_a_link_works_once_across_apiservers(make_api: Any) -> None:
    one = make_api()
    two = make_api(etcd_prefix=one.prefix)  # a second apiserver of the same cluster
    running(one, "web")

    token = token_of(link(one, "web"))
    traded = exchange(two, token)
    assert traded.status_code == 201, traded.text
    assert (traded.json()["container"], traded.json()["user"]) == ("web", None)
    again = exchange(one, token)
    assert again.status_code == 410 and again.json()["message"].startswith("this terminal link was already used (at ")
    assert exchange(one, "not-a-link").status_code == 404

    # Racing uses of one link, through both apiservers: exactly one wins.
    token = token_of(link(two, "web"))
    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = sorted(pool.map(lambda i: exchange((one, two)[i % 2], token).status_code, range(8)))
    assert codes == [201] + [410] * 7

    # The session opens the stream once. No kubelet is reachable here, so that first use is answered
    # in the session with why (a browser cannot read a refused upgrade); the second is refused as a replay.
    session = traded.json()["session"]
    first = stream_status(one, session)
    assert (first["status"], first["code"]) == ("Failure", 503), first
    replay = stream_status(two, session)
    assert replay["code"] == 410 and "already opened" in replay["message"], replay
    assert stream_status(one, session.split(".")[0] + ".wrong")["code"] == 401

    # A link is for one container: deleted and made again under the same name, it is not the same one.
    token = token_of(link(one, "web"))
    session = exchange(one, token).json()["session"]
    with admin(one) as http:
        http.delete(f"{BASE}/containers/web").raise_for_status()
        if http.get(f"{BASE}/containers/web").status_code == 200:  # finalizers: finish the delete as a kubelet would
            http.patch(f"{BASE}/containers/web", json={"metadata": {"finalizers": []}}).raise_for_status()
    running(one, "web")
    other = stream_status(two, session)
    assert other["code"] == 410 and "was deleted and made again" in other["message"], other
