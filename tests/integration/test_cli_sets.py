"""`dlxc apply/get/describe/scale/rollout/delete` on ContainerSets: real apiserver, real controller in a thread."""
from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from controller.containerset import ContainerSetController, ContainerSetSettings
from dlxc.cli.main import app
from schemas.wire import SET_LABEL

pytestmark = pytest.mark.timeout(90)

SET = """apiVersion: dlxc.io/v1
kind: ContainerSet
metadata: {name: web}
spec:
  replicas: 2
  template:
    metadata: {labels: {app: web}}
    spec: {image: busybox}
"""


@pytest.fixture
def cli(api: Any, tmp_path: Path) -> Any:
    env = {**api.env(), "DLXC_INVENTORY_DIR": str(tmp_path / "inventory"), "XDG_STATE_HOME": str(tmp_path / "state")}
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None) -> Any:
        return runner.invoke(app, list(args), env=env, input=input, catch_exceptions=False)

    return invoke


@pytest.fixture
def controller(api: Any) -> Iterator[None]:
    """The set controller plus a stand-in kubelet that marks members Running, on their own loop."""
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def kubelet(c: Any) -> None:
        while True:
            items, _ = await c.list("containers")
            for item in items:
                if (item.get("status") or {}).get("phase") == "Pending":
                    await c.patch_status("containers", item["metadata"]["name"], {"phase": "Running"})
            await asyncio.sleep(0.1)

    async def main() -> None:
        async with api.client() as c:
            tasks = [asyncio.create_task(ContainerSetController(c, ContainerSetSettings(resync=1.0)).run()),
                     asyncio.create_task(kubelet(c))]
            await stop.wait()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    try:
        yield
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        loop.close()


def _call(api: Any, fn: Any) -> Any:
    async def go() -> Any:
        async with api.client() as c:
            return await fn(c)

    return asyncio.run(go())


def _members(api: Any) -> list[str]:
    items, _ = _call(api, lambda c: c.list("containers", label_selector=f"{SET_LABEL}=web"))
    return sorted(i["metadata"]["name"] for i in items)


def _until(what: str, check: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def test_set_verbs(api: Any, cli: Any, controller: None, tmp_path: Path) -> None:
    manifest = tmp_path / "web.yaml"
    manifest.write_text(SET)
    assert cli("apply", "-f", str(manifest)).exit_code == 0
    _until("2 members", lambda: _members(api) == ["web-0", "web-1"])
    assert cli("apply", "-f", str(manifest)).stdout == "containerset/web unchanged\n"
    assert cli("rollout", "status", "set/web", "--timeout", "20s").stdout.splitlines()[-1] == (
        "set/web: rolled out, 2 of 2 members on revision 1 and Running")
    got = cli("get", "sets")
    assert got.stdout.splitlines()[0].split() == ["NAME", "READY", "UP-TO-DATE", "AGE"]
    assert got.stdout.splitlines()[1].split()[:3] == ["web", "2/2", "2"]

    result = cli("scale", "set/web", "--replicas", "3")
    assert (result.exit_code, result.stdout) == (0, "set/web scaled from 2 to 3\n")
    _until("3 members", lambda: _members(api) == ["web-0", "web-1", "web-2"])

    # A new template, then back with undo.
    manifest.write_text(SET.replace("image: busybox", "image: debian").replace("replicas: 2", "replicas: 3"))
    assert cli("apply", "-f", str(manifest)).exit_code == 0
    status = cli("rollout", "status", "set/web", "--timeout", "30s")
    assert status.exit_code == 0, status.stdout
    assert status.stdout.splitlines()[-1] == "set/web: rolled out, 3 of 3 members on revision 2 and Running"
    undo = cli("rollout", "undo", "set/web")
    assert (undo.exit_code, undo.stdout) == (0, "set/web rolled back to revision 1\n")
    assert cli("rollout", "status", "set/web", "--timeout", "30s").exit_code == 0
    images = {i["spec"]["image"] for i in _call(api, lambda c: c.list("containers"))[0]}
    assert images == {"busybox"}

    described = cli("describe", "set", "web").stdout
    assert "Revisions:" in described
    progressing = next(line.split() for line in described.splitlines() if line.strip().startswith("Progressing"))
    assert progressing[:3] == ["Progressing", "True", "RolloutComplete"]
    # Going back made a new revision of the old template, as kubectl's undo does.
    assert [line.split()[::2] for line in described.split("Revisions:\n")[1].splitlines()[1:3]] == [["2", "debian"], ["3", "busybox"]]

    assert cli("delete", "set/web").exit_code == 0
    _until("members gone", lambda: _members(api) == [])


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("scale", "set/web", "--replicas", "-1"), 2, "error: --replicas must be 0 or more, got -1\n"),
        (("scale", "container/web-0", "--replicas", "2"), 2, "error: container/web-0 cannot be scaled; only sets can (set/NAME)\n"),
        (("scale", "set/nope", "--replicas", "2"), 1, "error: containersets/nope not found\n"),
        (("rollout", "undo", "set/web"), 1, "error: set/web has no previous revision to go back to\n"),
    ],
    ids=["below-zero", "not-a-set", "no-such-set", "nothing-to-undo"],
)
def test_set_verbs_refuse_bad_input(api: Any, cli: Any, tmp_path: Path, args: tuple[str, ...], code: int, message: str) -> None:
    manifest = tmp_path / "web.yaml"
    manifest.write_text(SET)
    assert cli("apply", "-f", str(manifest)).exit_code == 0
    _call(api, lambda c: c.patch_status("containersets", "web", {"observedGeneration": 1, "currentRevision": 1, "revisions": [
        {"revision": 1, "hash": "h", "template": {"spec": {"image": "busybox"}}}]}))
    before = _call(api, lambda c: c.get("containersets", "web"))
    result = cli(*args)
    assert (result.exit_code, result.stderr) == (code, message)
    after = _call(api, lambda c: c.get("containersets", "web"))
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]


BEHIND = ("error: set/web: the controller has not seen generation 3 yet; "
          "try again in a moment (or `dlxc rollout status set/web` first)\n")


@pytest.mark.parametrize(
    ("args", "behind", "code", "out", "err"),
    [
        (("--to-revision", "2"), False, 0, "container set web is already at revision 2 (nothing changed)\n", ""),
        ((), True, 1, "", BEHIND),
        (("--to-revision", "1"), True, 1, "", BEHIND),
    ],
    ids=["already-at-revision", "controller-behind", "controller-behind-to-revision"],
)
def test_rollout_undo_writes_nothing_when_it_would_be_wrong_or_idle(
    api: Any, cli: Any, tmp_path: Path, args: tuple[str, ...], behind: bool, code: int, out: str, err: str
) -> None:
    """Revisions 1 (busybox) and 2 (debian, current) as the controller wrote them at generation 2;
    `behind`: a third template applied since (generation 3 not yet seen), so "previous" is unknown."""
    manifest = tmp_path / "web.yaml"
    manifest.write_text(SET.replace("busybox", "debian"))
    assert cli("apply", "-f", str(manifest)).exit_code == 0
    _call(api, lambda c: c.patch("containersets", "web", {"spec": {"replicas": 3}}))  # generation 2
    _call(api, lambda c: c.patch_status("containersets", "web", {"observedGeneration": 2, "currentRevision": 2, "revisions": [
        {"revision": 1, "hash": "h1", "template": {"spec": {"image": "busybox"}}},
        {"revision": 2, "hash": "h2", "template": {"spec": {"image": "debian"}}}]}))
    if behind:
        manifest.write_text(SET.replace("busybox", "alpine").replace("replicas: 2", "replicas: 3"))
        assert cli("apply", "-f", str(manifest)).exit_code == 0
    before = _call(api, lambda c: c.get("containersets", "web"))
    assert before["metadata"]["generation"] == (3 if behind else 2)
    result = cli("rollout", "undo", "set/web", *args)
    assert (result.exit_code, result.stdout, result.stderr) == (code, out, err)
    after = _call(api, lambda c: c.get("containersets", "web"))
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]


def test_apply_of_a_bad_template_names_each_field_and_creates_nothing(api: Any, cli: Any, tmp_path: Path) -> None:
    manifest = tmp_path / "bad.yaml"
    manifest.write_text(SET.replace("replicas: 2", "replicas: -2").replace("{image: busybox}", '{image: "no such", cpu: 0}'))
    result = cli("apply", "-f", str(manifest))
    where = f"error: {manifest} (document 1) containerset/web"
    assert (result.exit_code, result.stderr.splitlines()) == (1, [
        f"{where}: spec.replicas: Input should be greater than or equal to 0",
        f"{where}: spec.template.spec.image: 'no such' is not an image reference (e.g. busybox, debian:bookworm)",
        f"{where}: spec.template.spec.cpu: Input should be greater than 0",
        "error: 3 error(s); nothing was applied",
    ])
    assert _call(api, lambda c: c.list("containersets"))[0] == []
