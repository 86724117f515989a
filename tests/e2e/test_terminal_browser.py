"""`dlxc terminal`: a real browser (Playwright driving Debian's chromium) opens the one-time URL,
types into the shell of a real LXC container and reads the answer from the page's DOM."""
from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from browsers import chromium
from conftest import Cluster, dlxc
from kubelet_helpers import PREFIX, Api, wait_for

pytestmark = [pytest.mark.lxc, pytest.mark.timeout(300)]

ROWS = "() => [...document.querySelectorAll('.xterm-rows > div')].map(r => r.textContent.replace(/\\u00a0/g, ' ').trimEnd())"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless chromium for the module."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright, chromium(playwright) as launched:
        yield launched


def prompt(page: Any) -> None:
    """Wait for the shell's prompt on the last line. busybox's line editor then asks the terminal where
    its cursor is (ESC[6n) and drops what is typed while it reads xterm.js's answer: give it a moment."""
    page.wait_for_function(f"() => (({ROWS})().filter(line => line).pop() || '').endsWith('#')", timeout=30_000)  # no line yet: wait
    time.sleep(0.3)


def refusal(browser: Any, url: str) -> str:
    """What the page says when it refuses a link."""
    page = browser.new_page()
    try:
        page.goto(url)
        page.locator("#refused").wait_for(state="visible", timeout=15_000)
        assert page.locator("#terminal").is_hidden()
        return page.locator("#reason").inner_text()
    finally:
        page.close()


def test_browser_terminal_once_per_link(cluster: Cluster, browser: Any) -> None:
    node = cluster.add_node()
    api = Api(cluster)
    env = cluster.api.env()
    try:
        api.create("term", node, network={"type": "none"})
        wait_for(lambda: api.phase("term") == "Running", timeout=90, what="term Running")

        # Admin only: a viewer is refused (403), no token at all is 401; no link is made.
        viewer = {**env, "DLXC_TOKEN": cluster.api.new_token("alice", "viewer")}
        result = dlxc("terminal", "term", env=viewer)
        assert (result.returncode, result.stdout, result.stderr.strip()) == (
            1, "", "error: alice (viewer) may not open a terminal in containers/term"
        )
        answer = httpx.post(f"{cluster.api.url}{PREFIX}/containers/term/terminal", headers={"Authorization": f"Bearer {viewer['DLXC_TOKEN']}"})
        assert answer.status_code == 403
        assert httpx.post(f"{cluster.api.url}{PREFIX}/containers/term/terminal").status_code == 401

        result = dlxc("terminal", "term", env=env)
        assert result.returncode == 0, result.stderr
        url = result.stdout.strip()
        assert url.startswith(f"{cluster.api.url}/terminal/#") and "\n" not in url

        # The browser: a login shell with a terminal; what it prints is text in the page's DOM.
        page = browser.new_page(viewport={"width": 900, "height": 500})
        page.goto(url)
        page.locator(".xterm-rows").wait_for(timeout=15_000)
        assert page.evaluate("location.hash") == ""  # the spent token left the address bar
        page.wait_for_function("() => document.getElementById('state').textContent.startsWith('Connected')", timeout=30_000)
        page.locator(".xterm").click()
        prompt(page)
        page.keyboard.type("echo $((6*7))")
        page.keyboard.press("Enter")
        page.wait_for_function(f"() => ({ROWS})().includes('42')", timeout=30_000)
        # The shell's terminal has the page's size, and follows the window when it changes.
        sizes = f"() => ({ROWS})().filter(line => /^\\d+ \\d+$/.test(line))"
        prompt(page)
        page.keyboard.type("stty size")
        page.keyboard.press("Enter")
        page.wait_for_function(f"() => ({sizes})().length === 1", timeout=30_000)
        page.set_viewport_size({"width": 600, "height": 400})
        time.sleep(0.5)
        prompt(page)
        page.keyboard.type("stty size")
        page.keyboard.press("Enter")
        page.wait_for_function(f"() => ({sizes})().length === 2", timeout=30_000)
        (rows1, cols1), (rows2, cols2) = [map(int, line.split()) for line in page.evaluate(sizes)]
        assert cols1 > 60 and rows1 > 10 and cols2 < cols1 and rows2 < rows1, (rows1, cols1, rows2, cols2)
        page.close()

        # The audit Event names who made the link and the container.
        events = [e["spec"] for e in api.list("events") if e["spec"]["involvedObject"]["name"] == "term"]
        assert [e["message"].split(",")[0] for e in events if e["reason"] == "TerminalLink"] == ["admin (admin): made a browser terminal link"]
        (opened,) = [e["message"] for e in events if e["reason"] == "Terminal"]
        assert opened.startswith("admin (admin): browser terminal, from the link made at ")

        # The same URL again: refused with a page that says why.
        assert "already used" in refusal(browser, url)

        # An expired link: refused.
        result = dlxc("terminal", "term", "--ttl", "1s", env=env)
        assert result.returncode == 0, result.stderr
        time.sleep(1.5)
        assert "expired" in refusal(browser, result.stdout.strip())
        assert "no terminal link" in refusal(browser, f"{cluster.api.url}/terminal/")

        # The session a link is exchanged for opens one WebSocket, once: it cannot be replayed.
        from websockets.sync.client import connect

        token = dlxc("terminal", "term", env=env).stdout.strip().split("#", 1)[1]
        exchanged = httpx.post(f"{cluster.api.url}/terminal/session", json={"token": token})
        assert exchanged.status_code == 201, exchanged.text
        again = httpx.post(f"{cluster.api.url}/terminal/session", json={"token": token})
        assert again.status_code == 410 and "already used" in again.json()["message"]
        ws_url = cluster.api.url.replace("http", "ws", 1) + "/terminal/stream"
        protocols = ["v5.channel.k8s.io", "dlxc.terminal.session." + exchanged.json()["session"]]
        with connect(ws_url + "?width=80&height=24", subprotocols=protocols) as first:  # type: ignore[arg-type]
            seen = b""
            sent = False
            while b"\nreplay-2\r" not in seen:
                if not sent and seen.endswith(b"# \x1b[6n"):
                    # busybox's line editor asks where the cursor is (a browser's xterm.js answers by itself).
                    first.send(b"\x00\x1b[1;3R")
                    time.sleep(0.5)  # ash drops what arrives while it reads the answer
                    first.send(b"\x00echo replay-$((1+1))\r")
                    sent = True
                try:
                    message = first.recv(timeout=20)
                except TimeoutError:
                    raise AssertionError(f"no replay-2 from the shell; it sent {seen!r}") from None
                assert isinstance(message, bytes) and message[0] in (1, 2), message
                seen += message[1:]
        with connect(ws_url, subprotocols=protocols) as second:  # type: ignore[arg-type]
            message = second.recv(timeout=20)
        assert isinstance(message, bytes) and message[0] == 3
        status = json.loads(message[1:])
        assert (status["status"], status["code"]) == ("Failure", 410) and "already opened" in status["message"], status
        # A bearer token is not a terminal session.
        bearer = "base64url.bearer.authorization.k8s.io." + base64.urlsafe_b64encode(cluster.api.token.encode()).decode().rstrip("=")
        with connect(ws_url, subprotocols=["v5.channel.k8s.io", bearer]) as third:  # type: ignore[arg-type]
            status = json.loads(third.recv(timeout=20)[1:])
        assert status["code"] == 401
    finally:
        api.close()
