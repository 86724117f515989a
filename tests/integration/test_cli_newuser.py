"""What a new user trips over (issue 18): start of a halted container, waits that cannot end, restarts
seen as drift, image changes that lose the rootfs. Real apiserver over real etcd; exact output and exit codes."""
from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest

from dlxc.cli.console import format_table
from schemas.wire import LAST_APPLIED_ANNOTATION, RESTART_ANNOTATION
from cli_process import dlxc_acting_on

pytestmark = pytest.mark.timeout(60)

WEB = "name: web\nimage: busybox\nmemory_limit: 256\n"


def _call(api, fn):
    async def go():
        async with api.client() as c:
            return await fn(c)

    return asyncio.run(go())


def _live(api, name: str) -> dict:
    return _call(api, lambda c: c.get("containers", name))


def _set_status(api, name: str, **status: object) -> None:
    async def go(c) -> None:
        obj = await c.get("containers", name)
        obj["status"] = {**obj["status"], **status}
        await c.replace_status("containers", obj)

    _call(api, go)


HALTED = {
    "phase": "Stopped",
    "message": "it halted; restartPolicy OnFailure does not restart it",
    "lastExit": {"reason": "Completed", "exitCode": 0, "finishedAt": "2026-01-01T00:00:00Z"},
}


# --- item 2: start of a container that halted while its spec says Running ---------------------


def test_start_of_a_halted_container_requests_a_start(cli, api) -> None:
    assert cli("apply", "-f", "-", input=WEB + "restart_policy: OnFailure\n").exit_code == 0
    _call(api, lambda c: c.bind("web", "n1"))
    _set_status(api, "web", **HALTED)
    result = cli("start", "web")
    assert (result.exit_code, result.stdout) == (0, "container/web start requested (it was Stopped)\n")
    live = _live(api, "web")
    assert live["spec"]["state"] == "Running"
    assert RESTART_ANNOTATION in live["metadata"]["annotations"]
    # A container that is merely stopped by its spec is started by the spec, as before.
    assert cli("stop", "web").exit_code == 0
    before = live["metadata"]["annotations"][RESTART_ANNOTATION]
    result = cli("start", "web")
    assert (result.exit_code, result.stdout) == (0, "container/web started\n")
    assert _live(api, "web")["metadata"]["annotations"][RESTART_ANNOTATION] == before


# --- item 10: waits that cannot end ----------------------------------------------------------


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("phase=running", "container/web condition met: phase Running"),
        ("phase=RUNNING", "container/web condition met: phase Running"),
    ],
    ids=["lower", "upper"],
)
def test_wait_phase_is_case_insensitive(cli, api, spec: str, expected: str) -> None:
    assert cli("apply", "-f", "-", input=WEB).exit_code == 0
    _set_status(api, "web", phase="Running")
    result = cli("wait", "container", "web", "--for", spec, "--timeout", "5s")
    assert (result.exit_code, result.stdout.splitlines()[-1]) == (0, expected)


def test_wait_refuses_a_phase_that_does_not_exist(cli) -> None:
    result = cli("wait", "container", "web", "--for", "phase=Runing")
    assert (result.exit_code, result.stderr) == (
        1,
        "error: --for 'phase=Runing': no such phase 'Runing'; use one of Pending, Scheduled, Creating, Running, "
        "Stopped, Failed, Terminating\n",
    )


def test_wait_for_condition_ready(cli, api) -> None:
    assert cli("apply", "-f", "-", input=WEB).exit_code == 0
    _set_status(api, "web", phase="Running", conditions=[{"type": "Ready", "status": "True"}])
    result = cli("wait", "container", "web", "--for", "condition=Ready", "--timeout", "5s")
    assert (result.exit_code, result.stdout.splitlines()[-1]) == (0, "container/web condition met: condition Ready=True")


@pytest.mark.parametrize(
    "status, reason",
    [
        ({"phase": "Failed", "message": "image nosuch not found"}, "Failed: image nosuch not found"),
        (HALTED, "Stopped: it halted; restartPolicy OnFailure does not restart it"),
        (
            {
                "phase": "Failed",
                "message": "it killed by signal 9; restartPolicy Never does not restart it",
                "lastExit": {"reason": "Signaled", "signal": 9, "finishedAt": "2026-01-01T00:00:00Z"},
            },
            "Failed: it killed by signal 9; restartPolicy Never does not restart it",
        ),
    ],
    ids=["failed", "halted", "never"],
)
def test_wait_stops_at_once_on_a_terminal_failure(cli, api, status: dict, reason: str) -> None:
    assert cli("apply", "-f", "-", input=WEB + "restart_policy: OnFailure\n").exit_code == 0
    _set_status(api, "web", **status)
    began = time.monotonic()
    result = cli("wait", "container", "web", "--for", "phase=Running", "--timeout", "30s")
    assert time.monotonic() - began < 5
    assert (result.exit_code, result.stderr) == (1, f"error: container/web will not reach phase Running: {reason}\n")


def test_wait_goes_on_through_a_crash_loop_back_off(cli, api) -> None:
    assert cli("apply", "-f", "-", input=WEB).exit_code == 0
    _set_status(
        api, "web", phase="Failed", message="back-off 2s before restart 2: it exited with code 1",
        conditions=[{"type": "CrashLoopBackOff", "status": "True", "reason": "BackOff"}],
    )

    def restarted() -> None:
        time.sleep(0.6)
        _set_status(api, "web", phase="Running", message="", conditions=[])

    helper = threading.Thread(target=restarted)
    helper.start()
    result = cli("wait", "container", "web", "--for", "phase=Running", "--timeout", "10s")
    helper.join()
    assert (result.exit_code, result.stdout.splitlines()[-1]) == (0, "container/web condition met: phase Running")


def test_apply_wait_stops_at_once_on_a_terminal_failure(api, tmp_path: Path) -> None:
    (tmp_path / "web.yaml").write_text(WEB)
    # The kubelet's Failed is written once the CLI has shown Pending (so the container exists, and
    # the Pending line is there to see however slow the machine).
    began = time.monotonic()
    result = dlxc_acting_on(
        api, tmp_path, ["apply", "-f", str(tmp_path / "web.yaml"), "--wait", "--timeout", "30s"],
        "container/web Pending", lambda: _set_status(api, "web", phase="Failed", message="image busybox not found"),
    )
    assert time.monotonic() - began < 10
    assert result == (
        1,
        "container/web created\ncontainer/web Pending\ncontainer/web Failed (image busybox not found)\n",
        "error: container/web will not reach phase Running: Failed: image busybox not found\n",
    )


# --- item 11: a restart is not drift, and sync keeps it ----------------------------------------


def test_restart_is_not_drift_and_sync_keeps_it(cli, api, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "web.yaml").write_text(WEB)
    assert cli("sync", str(repo)).exit_code == 0
    assert cli("restart", "web").exit_code == 0
    stamp = _live(api, "web")["metadata"]["annotations"][RESTART_ANNOTATION]
    result = cli("sync", "status", str(repo))
    table = format_table(["OBJECT", "SOURCE", "SYNC", "HEALTH", "DETAIL"], [["container/web", str(repo / "web.yaml"), "InSync", "Pending", ""]])
    assert (result.exit_code, result.stdout) == (0, "\n".join(table) + "\n")
    result = cli("diff", "-f", str(repo / "web.yaml"))
    assert (result.exit_code, result.stdout) == (0, "")
    # A real change is applied, and the restart request survives it.
    (repo / "web.yaml").write_text(WEB.replace("256", "512"))
    result = cli("sync", str(repo))
    table = format_table(
        ["OBJECT", "SOURCE", "SYNC", "ACTION", "HEALTH", "DETAIL"],
        [["container/web", str(repo / "web.yaml"), "Drifted", "configured", "Pending", "spec.memory"]],
    )
    assert (result.exit_code, result.stdout) == (0, "\n".join([*table, "sync: 1 object(s), 1 changed, 0 failed, 0 file error(s)"]) + "\n")
    live = _live(api, "web")
    annotations = {k: v for k, v in live["metadata"]["annotations"].items() if k != LAST_APPLIED_ANNOTATION}
    assert (live["spec"]["memory"], annotations) == ("512Mi", {RESTART_ANNOTATION: stamp})
    result = cli("apply", "-f", str(repo / "web.yaml"))
    assert (result.exit_code, result.stdout) == (0, "container/web unchanged\n")
    # A manifest that sets the annotation itself owns it.
    (repo / "web.yaml").write_text(
        "apiVersion: dlxc.io/v1\nkind: Container\n"
        f"metadata: {{name: web, annotations: {{'{RESTART_ANNOTATION}': '2020-01-01T00:00:00Z'}}}}\n"
        "spec: {image: busybox, memory: 512Mi}\n"
    )
    result = cli("apply", "-f", str(repo / "web.yaml"))
    assert (result.exit_code, result.stdout) == (0, "container/web configured\n")
    annotations = _live(api, "web")["metadata"]["annotations"]
    assert (annotations[RESTART_ANNOTATION], len(annotations)) == ("2020-01-01T00:00:00Z", 2)  # and apply's record


# --- item 9: an image change rebuilds the rootfs ------------------------------------------------


def test_image_change_warns_and_needs_force_rebuild(cli, api, tmp_path: Path) -> None:
    web, db = tmp_path / "web.yaml", tmp_path / "db.yaml"
    web.write_text(WEB)
    db.write_text("name: db\nimage: busybox\n")
    assert cli("apply", "-f", str(web), "-f", str(db)).exit_code == 0
    web.write_text(WEB.replace("busybox", "alpine"))
    db.write_text("name: db\nimage: busybox\ncpu_limit: 2\n")
    warning = (
        "warning: container/web: image busybox -> alpine: the rootfs is rebuilt from the new image "
        "and the data in it is lost (mounts are kept)"
    )
    result = cli("diff", "-f", str(web))
    assert (result.exit_code, result.stderr) == (1, warning + "; apply needs --force-rebuild\n")
    assert "-  image: busybox\n+  image: alpine\n" in result.stdout
    result = cli("apply", "-f", str(db), "-f", str(web), "--dry-run=client")
    assert (result.exit_code, result.stdout, result.stderr) == (
        0, "container/db configured (dry run)\ncontainer/web configured (dry run)\n", warning + "\n"
    )
    result = cli("apply", "-f", str(db), "-f", str(web))
    assert (result.exit_code, result.stdout, result.stderr) == (
        1,
        "",
        f"error: {web}: container/web: spec.image: changing the image from busybox to alpine rebuilds the rootfs "
        "and loses the data in it; apply with --force-rebuild to do it\n"
        "error: 1 image change(s) need --force-rebuild; nothing was applied\n",
    )
    assert (_live(api, "web")["spec"]["image"], _live(api, "db")["spec"].get("cpu")) == ("busybox", None)
    result = cli("apply", "-f", str(db), "-f", str(web), "--force-rebuild")
    assert (result.exit_code, result.stdout, result.stderr) == (
        0, "container/db configured\ncontainer/web configured\n", warning + "\n"
    )
    assert (_live(api, "web")["spec"]["image"], _live(api, "db")["spec"]["cpu"]) == ("alpine", 2)


def test_sync_refuses_an_image_change_without_force_rebuild(cli, api, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "web.yaml").write_text(WEB)
    assert cli("sync", str(repo)).exit_code == 0
    (repo / "web.yaml").write_text(WEB.replace("busybox", "alpine"))
    source = str(repo / "web.yaml")
    warning = (
        "warning: container/web: image busybox -> alpine: the rootfs is rebuilt from the new image "
        "and the data in it is lost (mounts are kept)\n"
    )
    result = cli("sync", "status", str(repo))
    assert (result.exit_code, result.stdout, result.stderr) == (
        1,
        "\n".join(format_table(["OBJECT", "SOURCE", "SYNC", "HEALTH", "DETAIL"], [["container/web", source, "Drifted", "Pending", "spec.image"]])) + "\n",
        warning,
    )
    result = cli("sync", str(repo))
    refusal = (
        "spec.image: changing the image from busybox to alpine rebuilds the rootfs and loses the data in it; "
        "apply with --force-rebuild to do it"
    )
    table = format_table(
        ["OBJECT", "SOURCE", "SYNC", "ACTION", "HEALTH", "DETAIL"], [["container/web", source, "Failed", "failed", "Pending", refusal]]
    )
    assert (result.exit_code, result.stdout) == (2, "\n".join([*table, "sync: 1 object(s), 0 changed, 1 failed, 0 file error(s)"]) + "\n")
    assert _live(api, "web")["spec"]["image"] == "busybox"
    result = cli("sync", str(repo), "--force-rebuild")
    assert (result.exit_code, result.stderr) == (0, warning)
    assert _live(api, "web")["spec"]["image"] == "alpine"
