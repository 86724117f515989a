"""The web dashboard in a real browser (Debian's chromium under Playwright) against a real apiserver and etcd;
one test against a whole cluster with a real kubelet, for a stop that a kubelet carries out."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from browsers import chromium
from conftest import Api, Cluster, Etcd, start_api

playwright_api = pytest.importorskip("playwright.sync_api", reason="the test extras install playwright")
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect  # noqa: E402

expect.set_options(timeout=10_000)  # the machine is shared: waits, not bounds
pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless chromium for the module: starting a browser costs more than most tests here."""
    with playwright_api.sync_playwright() as pw, chromium(pw) as launched:
        yield launched


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    ctx.set_default_timeout(10_000)
    try:
        yield ctx
    finally:
        ctx.close()


def log_in(page: Page, api: Api, token: str, path: str = "/ui/") -> None:
    page.goto(api.url + path)
    expect(page.get_by_label("API token")).to_be_visible()
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    page.wait_for_load_state()  # the page's scripts run: htmx and app.js have attached their handlers


def confirm(page: Page, button: Locator) -> str:
    """Click a button that asks first, accept, and return the question (failing when none was asked)."""
    page.once("dialog", lambda d: d.accept())
    with page.expect_event("dialog") as shown:
        button.click()
    return shown.value.message


def container(name: str, **spec: object) -> dict:
    return {"metadata": {"name": name}, "spec": {"image": "busybox", **spec}}


def csrf_of(page: Page) -> str:
    return json.loads(page.locator("body").get_attribute("hx-headers") or "{}")["X-CSRF-Token"]


def test_without_a_token_every_page_is_the_login_page(context: BrowserContext, module_api: Api) -> None:
    page = context.new_page()
    for path in ("/ui/", "/ui/containers?phase=Running", "/ui/containers/web", "/ui/nodes", "/ui/apply"):
        page.goto(module_api.url + path)
        assert page.url.startswith(module_api.url + "/ui/login?next="), page.url
        expect(page.get_by_label("API token")).to_be_visible()
    page.get_by_label("API token").fill("not-a-token")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_have_text("that token is not valid")
    # After logging in, the page asked for first (a filtered table) comes back: its URL is bookmarkable.
    page.goto(module_api.url + "/ui/containers?phase=Running")
    page.get_by_label("API token").fill(module_api.token)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_label("Phase")).to_have_value("Running")
    assert page.url == module_api.url + "/ui/containers?phase=Running"
    cookie = next(c for c in context.cookies() if c["name"] == "dlxc_session")
    assert (cookie["httpOnly"], cookie["secure"], cookie["sameSite"]) == (True, True, "Strict")


def test_dlxc_dashboard_prints_a_one_time_login_link(context: BrowserContext, module_api: Api) -> None:
    done = subprocess.run([sys.executable, "-m", "dlxc", "dashboard"], env=module_api.env(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    link = done.stdout.strip()
    assert link.startswith(module_api.url + "/ui/login?code=")
    page = context.new_page()
    page.goto(link)
    assert page.url == module_api.url + "/ui/"
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    expect(page.locator(".who")).to_contain_text("admin · admin")
    other = context.browser.new_context()  # type: ignore[union-attr]
    try:
        again = other.new_page()
        again.goto(link)
        expect(again.get_by_role("alert")).to_contain_text("used up or expired")
    finally:
        other.close()
    refused = subprocess.run([sys.executable, "-m", "dlxc", "dashboard"], env={**module_api.env(), "DLXC_TOKEN": "wrong"},
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1 and "not valid" in refused.stderr


def test_keyboard_only_login_skip_link_and_sorting(context: BrowserContext, module_api: Api) -> None:
    page = context.new_page()
    page.goto(module_api.url + "/ui/containers")
    expect(page.get_by_label("API token")).to_be_focused()  # autofocus: no mouse needed
    page.keyboard.type(module_api.token)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Containers")).to_be_visible()
    # Loaded first: a fragment followed while the page still loads is focused again when the load ends,
    # which took the focus back from the sort link below (a person does not press keys that fast).
    page.wait_for_load_state("load")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    page.get_by_role("link", name="Name").focus()
    page.keyboard.press("Enter")
    page.wait_for_url("**/ui/containers?sort=name&desc=1")
    expect(page.locator('th[aria-sort="descending"]')).to_have_text("Name ▼")


def test_an_api_made_token_logs_in_and_its_revocation_ends_the_session(context: BrowserContext, module_api: Api) -> None:
    admin = {"Authorization": f"Bearer {module_api.token}"}
    made = httpx.post(f"{module_api.url}/apis/dlxc.io/v1/tokens", headers=admin, timeout=10,
                      json={"metadata": {"name": "ui-grace"}, "spec": {"role": "viewer"}})
    assert made.status_code == 201, made.text
    page = context.new_page()
    log_in(page, module_api, made.json()["status"]["token"], "/ui/nodes")
    expect(page.locator(".who")).to_contain_text("ui-grace · viewer")
    assert httpx.delete(f"{module_api.url}/apis/dlxc.io/v1/tokens/ui-grace", headers=admin, timeout=10).status_code == 200
    for _ in range(30):  # revocation reaches every apiserver within a second
        page.goto(module_api.url + "/ui/nodes")
        if "/ui/login" in page.url:
            break
        page.wait_for_timeout(100)
    assert page.url.startswith(module_api.url + "/ui/login?next=")


def test_a_post_without_the_csrf_token_is_refused(context: BrowserContext, module_api: Api) -> None:
    _create(module_api, container("csrf-target"))
    page = context.new_page()
    log_in(page, module_api, module_api.token)
    url = module_api.url + "/ui/containers/csrf-target/action"
    refused = context.request.post(url, form={"action": "stop"})
    assert refused.status == 403 and "CSRF" in refused.text()
    wrong = context.request.post(url, form={"action": "stop"}, headers={"X-CSRF-Token": "0" * 64})
    assert wrong.status == 403
    assert _get(module_api, "csrf-target")["spec"]["state"] == "Running"
    done = context.request.post(url, form={"action": "stop"}, headers={"X-CSRF-Token": csrf_of(page)})
    assert done.status == 200, done.text()
    assert _get(module_api, "csrf-target")["spec"]["state"] == "Stopped"


def test_a_viewer_sees_no_actions_and_a_forged_write_gets_403(context: BrowserContext, module_api: Api) -> None:
    _create(module_api, container("viewer-target"))
    viewer = module_api.new_token("ui-viewer", "viewer")
    page = context.new_page()
    log_in(page, module_api, viewer, "/ui/containers")
    expect(page.locator("#row-viewer-target")).to_be_visible()
    assert page.locator("button[name=action]").count() == 0
    assert page.locator('input[name="name"]').count() == 0
    page.goto(module_api.url + "/ui/containers/viewer-target")
    expect(page.locator("#phase")).to_be_visible()
    assert page.locator("button[name=action]").count() == 0
    assert page.locator("button[name=mode]").count() == 0
    expect(page.get_by_role("tab", name="Logs")).to_be_visible()  # a viewer reads the log, but gets no terminal
    assert page.get_by_role("tab", name="Terminal").count() == 0
    _create_node(module_api, "viewer-node")
    page.goto(module_api.url + "/ui/nodes")
    expect(page.locator("#node-viewer-node")).to_be_visible()
    assert page.get_by_role("button", name="Cordon").count() == 0
    assert page.get_by_role("button", name="Drain").count() == 0
    # The server refuses anyway: forged POSTs with the viewer's own session and CSRF token.
    csrf = {"X-CSRF-Token": csrf_of(page)}
    forged = context.request.post(module_api.url + "/ui/containers/viewer-target/action", form={"action": "delete"}, headers=csrf)
    assert forged.status == 403, forged.text()
    assert "ui-viewer (viewer) may not patch containers/viewer-target" in forged.text() or "may not delete" in forged.text()
    _get(module_api, "viewer-target")  # still there
    drain = context.request.post(module_api.url + "/ui/nodes/viewer-node/drain", headers=csrf)
    assert drain.status == 403 and "ui-viewer (viewer) may not patch nodes" in drain.text(), drain.text()
    terminal = context.request.post(module_api.url + "/ui/containers/viewer-target/terminal", headers=csrf)
    assert terminal.status == 403, terminal.text()
    assert not _node(module_api, "viewer-node")["spec"].get("unschedulable")


def test_a_bad_field_shows_the_error_the_cli_prints(context: BrowserContext, module_api: Api, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: dlxc.io/v1\nkind: Container\nmetadata:\n  name: bad-field\nspec:\n  image: busybox\n  cpu: lots\n")
    cli = subprocess.run([sys.executable, "-m", "dlxc", "apply", "-f", "bad.yaml"], cwd=tmp_path, env=module_api.env(),
                         capture_output=True, text=True, timeout=60)
    assert cli.returncode == 1
    line = next(ln for ln in cli.stderr.splitlines() if "spec.cpu" in ln)
    line = line.removeprefix("error: ")
    page = context.new_page()
    log_in(page, module_api, module_api.token, "/ui/apply")
    page.get_by_label("Upload a file").set_input_files(str(bad))
    expect(page.get_by_label("YAML")).to_have_value(bad.read_text())
    page.get_by_role("button", name="Preview diff").click()
    expect(page.locator(".field-error")).to_have_text(line)
    assert "bad.yaml (document 1) container/bad-field: spec.cpu:" in line
    # Pasted, the source is <pasted>; a good manifest shows its diff, then applies.
    page.get_by_label("YAML").fill("apiVersion: dlxc.io/v1\nkind: Container\nmetadata:\n  name: from-ui\nspec:\n  image: busybox\n  cpu: 0.5\n")
    page.get_by_role("button", name="Preview diff").click()
    expect(page.locator("#apply-result")).to_contain_text("container/from-ui created (server dry run)")
    expect(page.locator("pre.diff")).to_contain_text("+  cpu: 0.5")
    with pytest.raises(LookupError):
        _get(module_api, "from-ui")
    confirm(page, page.get_by_role("button", name="Apply", exact=True))
    expect(page.locator("#apply-result")).to_contain_text("container/from-ui created")
    assert _get(module_api, "from-ui")["spec"]["cpu"] == 0.5


def test_selected_rows_are_stopped_after_a_confirmation(context: BrowserContext, module_api: Api) -> None:
    for name in ("bulk-a", "bulk-b", "bulk-c"):
        _create(module_api, container(name))
    page = context.new_page()
    log_in(page, module_api, module_api.token, "/ui/containers?q=bulk-")
    expect(page.locator("#rows tr")).to_have_count(3)
    page.get_by_label("Select bulk-a").check()
    page.get_by_label("Select bulk-c").check()
    page.once("dialog", lambda d: d.dismiss())
    with page.expect_event("dialog") as shown:
        page.get_by_role("button", name="Stop", exact=True).click()
    assert shown.value.message == "Stop the selected containers?"
    expect(page.locator("#action-result")).to_be_empty()
    assert _get(module_api, "bulk-a")["spec"]["state"] == "Running"  # dismissed: nothing happened
    confirm(page, page.get_by_role("button", name="Stop", exact=True))
    expect(page.locator("#action-result")).to_have_text("stop: bulk-a, bulk-c")
    assert [_get(module_api, n)["spec"]["state"] for n in ("bulk-a", "bulk-b", "bulk-c")] == ["Stopped", "Running", "Stopped"]


def test_a_container_spec_edit_shows_the_server_dry_run_diff_before_it_applies(context: BrowserContext, module_api: Api) -> None:
    _create(module_api, container("edit-me", cpu=1))
    page = context.new_page()
    log_in(page, module_api, module_api.token, "/ui/containers/edit-me")
    editor = page.get_by_label("Container manifest (YAML)")
    editor.fill(editor.input_value().replace("cpu: 1", "cpu: 2"))
    page.get_by_role("button", name="Preview diff").click()
    expect(page.locator("#spec-result pre.diff")).to_contain_text("-  cpu: 1")
    expect(page.locator("#spec-result pre.diff")).to_contain_text("+  cpu: 2")
    assert _get(module_api, "edit-me")["spec"]["cpu"] == 1  # a dry run changed nothing
    confirm(page, page.get_by_role("button", name="Apply", exact=True))
    expect(page.locator("#spec-result")).to_contain_text("container/edit-me configured")
    assert _get(module_api, "edit-me")["spec"]["cpu"] == 2
    # Another object in this editor is refused, naming what the page edits.
    editor.fill(editor.input_value().replace("name: edit-me", "name: someone-else"))
    page.get_by_role("button", name="Preview diff").click()
    expect(page.locator("#spec-result .field-error")).to_have_text(
        "container/edit-me: this page edits container/edit-me only; use the Apply page for other objects")


def test_a_container_deleted_while_its_page_is_open_says_so(context: BrowserContext, module_api: Api) -> None:
    _create(module_api, container("gone-soon"))
    page = context.new_page()
    log_in(page, module_api, module_api.token, "/ui/containers/gone-soon")
    expect(page.locator("html[data-live=open]")).to_have_count(1)
    _delete(module_api, "gone-soon")
    expect(page.locator("#live")).to_contain_text("Container gone-soon does not exist (any more).")


def test_the_table_shows_a_new_container_and_its_phase_live(context: BrowserContext, module_api: Api) -> None:
    page = context.new_page()
    log_in(page, module_api, module_api.token, "/ui/containers")
    expect(page.locator("html[data-live=open]")).to_have_count(1)
    count = int(page.locator("#count").inner_text())
    page.evaluate("window.__stay = 1")  # a reload would drop it: the row must come through the open stream
    _create(module_api, container("live-one"))
    expect(page.locator("#row-live-one")).to_be_visible()
    assert page.evaluate("window.__stay") == 1, "the row came with a page reload, not through the stream"
    expect(page.locator("#count")).to_have_text(str(count + 1))
    expect(page.locator("#row-live-one .phase")).to_have_text("Pending")
    _set_phase(module_api, "live-one", "Running")
    expect(page.locator("#row-live-one .phase")).to_have_text("Running", timeout=5000)
    _delete(module_api, "live-one")
    expect(page.locator("#row-live-one")).to_have_count(0, timeout=5000)
    expect(page.locator("#count")).to_have_text(str(count))
    # Live rows land where the table's sort puts them, and only if they match its filter.
    page.goto(module_api.url + "/ui/containers?q=order-&sort=image&desc=1")
    expect(page.locator("html[data-live=open]")).to_have_count(1)
    for name, image in (("order-a", "img-2"), ("order-b", "img-3"), ("other-c", "img-9"), ("order-d", "img-1")):
        _create(module_api, {"metadata": {"name": name}, "spec": {"image": image}})
    names = page.locator("#rows tr td:nth-child(2)")  # after the selection checkbox
    expect(names).to_have_text(["order-b", "order-a", "order-d"])
    _call(module_api, "PATCH", "/order-d", {"spec": {"image": "img-4"}})
    expect(names).to_have_text(["order-d", "order-b", "order-a"])
    expect(page.locator("#count")).to_have_text("3")


def test_the_overview_counts_live_and_a_node_is_cordoned_from_the_nodes_page(context: BrowserContext, module_api: Api) -> None:
    _call(module_api, "POST", "", {"metadata": {"name": "count-me"}, "spec": {"image": "busybox"}})
    _create_node(module_api, "ui-node")
    page = context.new_page()
    log_in(page, module_api, module_api.token, "/ui/")
    expect(page.locator("html[data-live=open]")).to_have_count(1)
    pending = page.locator("a.phase-pending .n")
    before = int(pending.inner_text())
    _create(module_api, container("count-me-too"))
    expect(pending).to_have_text(str(before + 1), timeout=5000)
    expect(page.locator(".etcd")).to_contain_text(f"1 member configured ({module_api.etcd.endpoint} in use)")
    # etcd's members as etcd itself reports them: the one member leads, is healthy, and has a database.
    member = page.locator("#etcd-members tbody tr")
    expect(member).to_have_count(1)
    expect(member.locator("td").nth(1)).to_have_text(module_api.etcd.endpoint)
    expect(member.locator("td").nth(2)).to_have_text("Leader")
    expect(member.locator("td").nth(3)).to_have_text("Healthy")
    expect(member.locator("td").nth(4)).to_have_text(re.compile(r"^\d+(\.\d)?(Ki|Mi|Gi)$"))
    page.goto(module_api.url + "/ui/nodes")
    card = page.locator("#node-ui-node")
    confirm(page, card.get_by_role("button", name="Cordon"))
    expect(card.locator(".cordoned")).to_be_visible()
    assert _node(module_api, "ui-node")["spec"]["unschedulable"] is True
    card.get_by_role("button", name="Uncordon").click()
    expect(card.locator(".cordoned")).to_have_count(0)
    # Drain, as `dlxc drain` does it: a container with failover: Never blocks it and nothing changes...
    _create(module_api, container("ui-pinned", nodeName="ui-node", failover="Never"))
    expect(card.get_by_text("1 container", exact=True)).to_be_visible()  # the card is live
    assert "is cordoned, and each of its 1 containers" in confirm(page, card.get_by_role("button", name="Drain"))
    expect(page.locator("#action-result")).to_have_text(
        "containers with failover: Never are on ui-node: ui-pinned; they block the drain (nothing was changed): "
        "move them yourself, or drain it with `dlxc drain --force`")
    assert not _node(module_api, "ui-node")["spec"].get("unschedulable")
    # ...and a node with nothing on it is cordoned and reported drained.
    _delete(module_api, "ui-pinned")
    expect(card.get_by_text("0 containers", exact=True)).to_be_visible()
    confirm(page, card.get_by_role("button", name="Drain"))
    expect(page.locator("#action-result")).to_contain_text("draining node/ui-node: moving 0 containers")
    expect(card.locator(".drain summary")).to_have_text("node/ui-node drained: 0 moved, 0 not", timeout=15_000)
    expect(card.locator(".cordoned")).to_be_visible()


def test_the_groups_page_follows_container_sets_live(context: BrowserContext, module_api: Api) -> None:
    sets = f"{module_api.url}/apis/dlxc.io/v1/containersets"
    admin = {"Authorization": f"Bearer {module_api.token}"}

    def body(name: str, replicas: int) -> dict:
        return {"metadata": {"name": name}, "spec": {"replicas": replicas, "template": {
            "metadata": {"labels": {"app": name}}, "spec": {"image": "busybox"}}}}

    made = httpx.post(sets, json=body("ui-set-a", 2), headers=admin, timeout=10)
    assert made.status_code == 201, made.text
    page = context.new_page()
    log_in(page, module_api, module_api.token, "/ui/groups")
    expect(page.locator("#set-ui-set-a td").nth(1)).to_have_text("2")
    expect(page.locator("html[data-live=open]")).to_have_count(1)
    assert httpx.post(sets, json=body("ui-set-b", 1), headers=admin, timeout=10).status_code == 201
    expect(page.locator("#set-ui-set-b")).to_be_visible()
    httpx.patch(f"{sets}/ui-set-a", json={"spec": {"replicas": 5}}, headers=admin, timeout=10).raise_for_status()
    expect(page.locator("#set-ui-set-a td").nth(1)).to_have_text("5")
    expect(page.locator("#set-ui-set-a a")).to_have_attribute("href", "/ui/containers?q=ui-set-a-")


def test_the_dashboard_is_served_over_the_apiservers_tls(browser: Browser, etcd: Etcd, tmp_path: Path) -> None:
    api = start_api(etcd, tmp_path, tls=True)
    try:
        ctx = browser.new_context(ignore_https_errors=True)  # the test's own CA is not in chromium's store
        try:
            page = ctx.new_page()
            assert api.url.startswith("https://")
            log_in(page, api, api.token, "/ui/containers")
            assert page.url == api.url + "/ui/containers"
            cookie = next(c for c in ctx.cookies() if c["name"] == "dlxc_session")
            assert (cookie["secure"], cookie["httpOnly"], cookie["path"]) == (True, True, "/ui")
        finally:
            ctx.close()
    finally:
        assert api.server is not None
        api.server.stop()


@pytest.mark.lxc
def test_a_real_container_charts_its_usage_and_stops_from_its_page(context: BrowserContext, cluster: Cluster) -> None:
    cluster.add_node(args=["--metrics-interval", "1"])
    api = cluster.api
    _create(api, container("ui-stop"))
    page = context.new_page()
    log_in(page, api, api.token, "/ui/containers/ui-stop")
    expect(page.locator("#phase")).to_have_text("Running", timeout=90_000)
    expect(page.get_by_text("Placed on")).to_be_visible()
    # The kubelet's samples (kept in its memory, asked through the API; every second here) become the two charts, live.
    expect(page.locator(".chart .uplot")).to_have_count(2, timeout=30_000)
    # The logs tab follows the console log through the API's own log route, live, as `dlxc logs -f`.
    page.get_by_role("tab", name="Logs").click()
    expect(page.locator("#log-state")).to_have_text("Following the log live")
    marker = subprocess.run([sys.executable, "-m", "dlxc", "exec", "ui-stop", "--", "/bin/sh", "-c", "echo ui-log-marker > /dev/console"],
                            env=api.env(), capture_output=True, text=True, timeout=60)
    assert marker.returncode == 0, marker.stderr
    expect(page.locator("pre.log")).to_contain_text("ui-log-marker", timeout=15_000)
    # The terminal tab: a login shell in the page, on a one-time session made for this admin; leaving
    # the logs tab for it ends the followed log.
    page.get_by_role("tab", name="Terminal").click()
    expect(page.locator("#panel-logs")).to_be_hidden()
    expect(page.locator("#terminal-state")).to_have_text("Connected to ui-stop", timeout=30_000)
    page.locator("#terminal").click()
    page.keyboard.type("echo term-$((6*7))\n")
    expect(page.locator("#terminal .xterm-rows")).to_contain_text("term-42", timeout=15_000)
    page.get_by_role("tab", name="Terminal").click()  # closes the tab: the shell ends
    expect(page.locator("#panel-terminal")).to_be_hidden()
    assert confirm(page, page.get_by_role("button", name="Stop", exact=True)) == "Stop ui-stop?"
    expect(page.locator("#action-result")).to_contain_text("stop: ui-stop")
    expect(page.locator("#phase")).to_have_text("Stopped", timeout=30_000)


# ---------------------------------------------------------------- API helpers
# Plain HTTP calls: Playwright's sync API keeps an event loop running in this thread, so no asyncio.run.


def _call(api: Api, method: str, path: str, body: dict | None = None) -> dict:
    response = httpx.request(method, f"{api.url}/apis/dlxc.io/v1/containers{path}", json=body,
                             headers={"Authorization": f"Bearer {api.token}"}, verify=api.verify(), timeout=10)
    if response.status_code == 404:
        raise LookupError(path)
    response.raise_for_status()
    return response.json()


def _create(api: Api, obj: dict) -> dict:
    return _call(api, "POST", "", obj)


def _create_node(api: Api, name: str) -> None:
    httpx.post(f"{api.url}/apis/dlxc.io/v1/nodes", json={"metadata": {"name": name}, "spec": {}},
               headers={"Authorization": f"Bearer {api.token}"}, timeout=10).raise_for_status()


def _node(api: Api, name: str) -> dict:
    got = httpx.get(f"{api.url}/apis/dlxc.io/v1/nodes/{name}", headers={"Authorization": f"Bearer {api.token}"}, timeout=10)
    got.raise_for_status()
    return got.json()


def _get(api: Api, name: str) -> dict:
    return _call(api, "GET", f"/{name}")


def _delete(api: Api, name: str) -> dict:
    return _call(api, "DELETE", f"/{name}")


def _set_phase(api: Api, name: str, phase: str) -> dict:
    obj = _get(api, name)
    obj["status"] = {**(obj.get("status") or {}), "phase": phase}
    return _call(api, "PUT", f"/{name}/status", obj)
