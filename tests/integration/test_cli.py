"""Every CLI verb against a real apiserver over a real etcd: exact output and exit codes."""
from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from pathlib import Path

import pytest

from dlxc.cli.completion import complete_names, object_names
from schemas.wire import APPLYSET_LABEL
from cli_process import dlxc_acting_on

pytestmark = pytest.mark.timeout(60)

WEB = "name: web\nimage: busybox\nmemory_limit: 256\n"
DB = "apiVersion: dlxc.io/v1\nkind: Container\nmetadata: {name: db, labels: {tier: db}}\nspec: {image: busybox, cpu: 0.5}\n"


def _live(api, name: str) -> dict:
    async def go() -> dict:
        async with api.client() as c:
            return await c.get("containers", name)

    return asyncio.run(go())


def _names(api) -> list[str]:
    async def go() -> list[str]:
        async with api.client() as c:
            items, _ = await c.list("containers")
        return sorted(i["metadata"]["name"] for i in items)

    return asyncio.run(go())


def _set_status(api, name: str, **status: object) -> None:
    async def go() -> None:
        async with api.client() as c:
            obj = await c.get("containers", name)
            obj["status"] = {**obj["status"], **status}
            await c.replace_status("containers", obj)

    asyncio.run(go())


def test_apply_created_unchanged_configured_and_dry_runs(cli, api, tmp_path: Path) -> None:
    folder = tmp_path / "app"
    folder.mkdir()
    (folder / "web.yaml").write_text(WEB)
    (folder / "db.yaml").write_text(DB)
    result = cli("apply", "-f", str(folder), "--dry-run=client")
    assert (result.exit_code, result.stdout) == (0, "container/db created (dry run)\ncontainer/web created (dry run)\n")
    result = cli("apply", "-f", str(folder), "--dry-run=server")
    assert (result.exit_code, result.stdout) == (0, "container/db created (server dry run)\ncontainer/web created (server dry run)\n")
    assert _names(api) == []
    result = cli("apply", "-f", str(folder))
    assert (result.exit_code, result.stdout) == (0, "container/db created\ncontainer/web created\n")
    result = cli("apply", "-f", str(folder))
    assert (result.exit_code, result.stdout) == (0, "container/db unchanged\ncontainer/web unchanged\n")
    (folder / "web.yaml").write_text(WEB.replace("256", "512"))
    result = cli("apply", "-f", str(folder / "web.yaml"), "--dry-run=client")
    assert (result.exit_code, result.stdout) == (0, "container/web configured (dry run)\n")
    assert _live(api, "web")["spec"]["memory"] == "256Mi"
    result = cli("apply", "-f", str(folder / "web.yaml"))
    assert (result.exit_code, result.stdout) == (0, "container/web configured\n")
    assert _live(api, "web")["spec"]["memory"] == "512Mi"


def test_apply_from_stdin_and_recursive(cli, api, tmp_path: Path) -> None:
    result = cli("apply", "-f", "-", input=WEB + "---\n" + DB)
    assert (result.exit_code, result.stdout) == (0, "container/web created\ncontainer/db created\n")
    nested = tmp_path / "tree" / "deep"
    nested.mkdir(parents=True)
    (nested / "x.yaml").write_text("name: x\nimage: busybox\n")
    result = cli("apply", "-f", str(tmp_path / "tree"))
    assert (result.exit_code, result.stderr) == (1, f"error: no objects found in {tmp_path / 'tree'}\n")
    result = cli("apply", "-R", "-f", str(tmp_path / "tree"))
    assert (result.exit_code, result.stdout) == (0, "container/x created\n")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: web\nimage: busybox\ncpu_limit: -1\n", "(document 1) container/web: cpu_limit: Input should be greater than 0"),
        ("name: web\nimage: [busybox\n", "not valid YAML"),
        ("apiVersion: dlxc.io/v1\nkind: Pod\nmetadata: {name: p}\n", "(document 1) object/p: kind: unknown kind 'Pod'; known: Container, Node"),
    ],
    ids=["field", "syntax", "kind"],
)
def test_apply_errors_name_file_document_object_and_field(cli, api, tmp_path: Path, text: str, message: str) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    result = cli("apply", "-f", str(bad))
    assert result.exit_code == 1
    first, last = result.stderr.splitlines()[0], result.stderr.splitlines()[-1]
    assert first.startswith(f"error: {bad}") and message in first
    assert last == "error: 1 error(s); nothing was applied"
    assert _names(api) == []


def test_apply_rejects_bad_dry_run(cli) -> None:
    result = cli("apply", "-f", "x.yaml", "--dry-run=maybe")
    assert (result.exit_code, result.stderr) == (1, "error: --dry-run must be none, client or server, not 'maybe'\n")


def test_prune_deletes_only_recorded_members(cli, api, tmp_path: Path) -> None:
    folder = tmp_path / "set"
    folder.mkdir()
    (folder / "web.yaml").write_text(WEB)
    (folder / "db.yaml").write_text(DB)
    assert cli("apply", "-f", str(folder), "--prune", "--applyset", "demo").exit_code == 0
    assert _live(api, "web")["metadata"]["labels"] == {APPLYSET_LABEL: "demo"}
    record = json.loads((tmp_path / "inventory" / "demo.json").read_text())
    assert [(m["kind"], m["name"]) for m in record["members"]] == [("Container", "db"), ("Container", "web")]
    # An object carrying the label that this set never created is not ours: never pruned.
    stranger = "apiVersion: dlxc.io/v1\nkind: Container\nmetadata: {name: stranger, labels: {dlxc.io/applyset: demo}}\nspec: {image: busybox}\n"
    assert cli("apply", "-f", "-", input=stranger).exit_code == 0
    (folder / "db.yaml").unlink()
    result = cli("apply", "-f", str(folder), "--prune", "--applyset", "demo", "--dry-run=client")
    assert (result.exit_code, result.stdout) == (0, "container/web unchanged (dry run)\ncontainer/db pruned (dry run)\n")
    assert _names(api) == ["db", "stranger", "web"]
    # diff shows the prune too, when asked, as apply --prune would do it: all removed lines.
    assert (cli("diff", "-f", str(folder), "--applyset", "demo").exit_code, _names(api)) == (0, ["db", "stranger", "web"])
    diffed = cli("diff", "-f", str(folder), "--prune", "--applyset", "demo")
    assert diffed.exit_code == 1
    assert diffed.stdout.startswith("--- live/container/db\n+++ /dev/null\n"), diffed.stdout
    assert "-  name: db\n" in diffed.stdout and "stranger" not in diffed.stdout and "web" not in diffed.stdout
    assert _names(api) == ["db", "stranger", "web"]
    result = cli("apply", "-f", str(folder), "--applyset", "demo")
    assert (result.exit_code, result.stdout) == (0, "container/web unchanged\n")
    assert _names(api) == ["db", "stranger", "web"]  # without --prune nothing is deleted
    result = cli("apply", "-f", str(folder), "--prune", "--applyset", "demo")
    assert (result.exit_code, result.stdout) == (0, "container/web unchanged\ncontainer/db pruned\n")
    assert _names(api) == ["stranger", "web"]


def test_apply_refuses_an_object_of_another_set(cli, api, tmp_path: Path) -> None:
    (tmp_path / "web.yaml").write_text(WEB)
    assert cli("apply", "-f", str(tmp_path / "web.yaml"), "--applyset", "one").exit_code == 0
    result = cli("apply", "-f", str(tmp_path / "web.yaml"), "--applyset", "two")
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: {tmp_path / 'web.yaml'}: container/web: belongs to applyset 'one', not 'two'; "
        "delete it or apply it with --applyset one\n"
    )


def test_apply_wait_shows_progress_until_running(api, tmp_path: Path) -> None:
    (tmp_path / "web.yaml").write_text(WEB)
    # The kubelet's Running is written once the CLI has shown Pending (so the container exists, and
    # the Pending line is there to see however slow the machine).
    code, stdout, stderr = dlxc_acting_on(
        api, tmp_path, ["apply", "-f", str(tmp_path / "web.yaml"), "--wait", "--timeout", "10s"],
        "container/web Pending", lambda: _set_status(api, "web", phase="Running"),
    )
    assert (code, stdout) == (0, "container/web created\ncontainer/web Pending\ncontainer/web Running\n"), stderr


def test_apply_wait_after_a_change_waits_for_the_report_on_the_new_spec(cli, api, tmp_path: Path) -> None:
    """The Running of the old spec is no answer for the new one; the kubelet's Failed on the new one is."""
    (tmp_path / "web.yaml").write_text(WEB)
    assert cli("apply", "-f", str(tmp_path / "web.yaml")).exit_code == 0
    _set_status(api, "web", phase="Running", observedGeneration=1)
    (tmp_path / "web.yaml").write_text(WEB.replace("memory_limit: 256", "memory_limit: 512"))

    def kubelet_later() -> None:
        time.sleep(0.8)
        _set_status(api, "web", phase="Failed", message="start failed: no such bridge br9", observedGeneration=2)

    helper = threading.Thread(target=kubelet_later)
    helper.start()
    began = time.monotonic()
    result = cli("apply", "-f", str(tmp_path / "web.yaml"), "--wait", "--timeout", "10s")
    helper.join()
    assert time.monotonic() - began >= 0.7  # not ended by the old Running
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert result.stdout.startswith("container/web configured\n")
    assert "start failed: no such bridge br9" in result.stderr


def test_apply_wait_timeout_bounds_the_whole_apply(cli, api, tmp_path: Path) -> None:
    """Three containers no kubelet runs: --timeout 1.5s is the wait of the apply, not of each (4.5 s)."""
    (tmp_path / "three.yaml").write_text("\n---\n".join(WEB.replace("web", name) for name in ("a", "b", "c")))
    began = time.monotonic()
    result = cli("apply", "-f", str(tmp_path / "three.yaml"), "--wait", "--timeout", "1.5s")
    took = time.monotonic() - began
    assert result.exit_code == 1 and result.stderr.count("not Running, after 1.5s") == 3, result.stderr
    assert took < 3.5, took


def test_diff_exit_codes_and_output(cli, api, tmp_path: Path) -> None:
    web = tmp_path / "web.yaml"
    web.write_text(WEB)
    result = cli("diff", "-f", str(web))
    assert result.exit_code == 1
    assert result.stdout == (
        "--- /dev/null\n+++ desired/container/web\n@@ -0,0 +1,14 @@\n"
        "+metadata:\n+  annotations: {}\n+  labels: {}\n+  name: web\n+spec:\n+  env: {}\n+  failover: Always\n+  image: busybox\n"
        "+  memory: 256Mi\n+  mounts: []\n+  nodeSelector: {}\n+  privileged: false\n+  restartPolicy: Always\n+  state: Running\n"
    )
    assert cli("apply", "-f", str(web)).exit_code == 0
    result = cli("diff", "-f", str(web))
    assert (result.exit_code, result.stdout) == (0, "")
    web.write_text(WEB.replace("256", "512"))
    result = cli("diff", "-f", str(web))
    assert result.exit_code == 1
    assert result.stdout == (
        "--- live/container/web\n+++ desired/container/web\n@@ -6,7 +6,7 @@\n"
        "   env: {}\n   failover: Always\n   image: busybox\n-  memory: 256Mi\n+  memory: 512Mi\n   mounts: []\n   nodeSelector: {}\n   privileged: false\n"
    )
    web.write_text("name: web\nimage: busybox\nbogus: 1\n")
    result = cli("diff", "-f", str(web))
    assert (result.exit_code, result.stderr) == (
        2, f"error: {web} (document 1) container/web: bogus: unknown field\nerror: 1 error(s) in the manifests\n"
    )


def test_get_name_selector_and_formats(cli, api, tmp_path: Path) -> None:
    assert cli("apply", "-f", "-", input=WEB + "---\n" + DB).exit_code == 0
    result = cli("get", "containers", "-o", "name")
    assert (result.exit_code, result.stdout) == (0, "container/db\ncontainer/web\n")
    result = cli("get", "containers", "-l", "tier=db", "-o", "name")
    assert (result.exit_code, result.stdout) == (0, "container/db\n")
    result = cli("get", "containers", "-l", "tier=nope")
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "no containers found\n")
    result = cli("get", "ct", "web", "-o", "json")
    assert result.exit_code == 0 and json.loads(result.stdout)["spec"]["memory"] == "256Mi"
    result = cli("get", "containers")
    assert result.stdout.splitlines()[0] == "NAME   PHASE     NODE     IP       AGE"
    assert re.fullmatch(r"db     Pending   <none>   <none>   \d+s", result.stdout.splitlines()[1])
    result = cli("get", "pods")
    assert (result.exit_code, result.stderr) == (1, "error: unknown kind 'pods'; use containers, nodes, sets, clusters, events or leases\n")


def test_get_watch_streams_lines_when_piped(cli, api, tmp_path: Path) -> None:
    assert cli("apply", "-f", "-", input=WEB).exit_code == 0
    # The change is made once the CLI has printed the listed row: it is then following changes.
    code, stdout, stderr = dlxc_acting_on(
        api, tmp_path, ["get", "containers", "-w", "--timeout", "2s"],
        r"web    Pending .*", lambda: _set_status(api, "web", phase="Running", ip="10.0.0.5"),
    )
    lines = stdout.splitlines()
    assert code == 0, stderr
    assert lines[0] == "NAME   PHASE     NODE     IP       AGE"
    assert re.fullmatch(r"web    Pending   <none>   <none>   \d+s", lines[1])
    assert re.fullmatch(r"web    Running   <none>   10\.0\.0\.5   \d+s", lines[-1])
    result = cli("get", "containers", "-w", "-o", "name", "--timeout", "0.3s")
    assert (result.exit_code, result.stdout) == (0, "container/web\n")


def test_describe_in_kubectl_order(cli, api) -> None:
    assert cli("apply", "-f", "-", input=WEB).exit_code == 0
    _set_status(api, "web", phase="Pending", conditions=[{"type": "Scheduled", "status": "False", "reason": "NoFit", "message": "no node fits"}])
    result = cli("describe", "container", "web")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    heads = [line.split(":")[0] for line in lines if line and not line.startswith(" ")]
    assert heads == ["Name", "Kind", "Labels", "Annotations", "Created", "Spec", "Status", "Conditions", "Events"]
    assert "  memory: 256Mi" in lines
    assert lines[lines.index("Conditions:") + 1:lines.index("Conditions:") + 3] == [
        "  TYPE        STATUS   REASON   AGE         MESSAGE",
        "  Scheduled   False    NoFit    <unknown>   no node fits",
    ]
    assert lines[-1] == "Events:       <none>"

    async def record() -> None:
        async with api.client() as c:
            web = await c.get("containers", "web")
            other = await c.get("containers", "web")
            other["metadata"]["name"] = "db"  # an event about another object must not show
            for _ in range(2):
                await c.record_event(web, reason="BackOff", message="restarting", type="Warning", component="kubelet")
            await c.record_event(other, reason="Pulled", message="image ready", component="kubelet")

    asyncio.run(record())
    lines = cli("describe", "container", "web").stdout.splitlines()
    events = lines[lines.index("Events:") + 1:]
    assert [line.split() for line in events] == [
        ["TYPE", "REASON", "AGE", "COUNT", "MESSAGE"],
        ["Warning", "BackOff", events[1].split()[2], "2", "restarting"],
    ]
    result = cli("describe", "container", "nope")
    assert (result.exit_code, result.stderr) == (1, "error: containers/nope not found\n")


def test_status_screen(cli, api) -> None:
    assert cli("apply", "-f", "-", input=WEB + "---\n" + DB).exit_code == 0
    _set_status(api, "web", phase="Running")
    result = cli("status")
    assert (result.exit_code, result.stdout) == (
        0,
        "Nodes: 0 (0 Ready)\n"
        "Containers: 2 (1 Pending, 1 Running)\n"
        "  NAME   PHASE     MESSAGE\n"
        "  db     Pending\n"
        "Recent warnings: none\n",
    )


def test_wait_for_phase_and_timeout(cli, api) -> None:
    assert cli("apply", "-f", "-", input=WEB).exit_code == 0
    result = cli("wait", "container", "web", "--for", "phase=Running", "--timeout", "0.5s")
    assert result.exit_code == 1
    assert result.stderr == "error: timed out after 0.5s waiting for container/web: phase Running; it is Pending\n"
    _set_status(api, "web", phase="Running")
    result = cli("wait", "container", "web", "--for", "phase=Running")
    assert (result.exit_code, result.stdout.splitlines()[-1]) == (0, "container/web condition met: phase Running")
    result = cli("wait", "container", "web", "--for", "colour=blue")
    assert (result.exit_code, result.stderr) == (1, "error: --for 'colour=blue': use phase=PHASE, condition=TYPE[=STATUS] or delete\n")
    assert cli("delete", "container", "web").exit_code == 0
    result = cli("wait", "container", "web", "--for", "delete", "--timeout", "5s")
    assert (result.exit_code, result.stdout.splitlines()[-1]) == (0, "container/web condition met: delete")


def test_start_stop_restart_patch_the_spec(cli, api) -> None:
    assert cli("apply", "-f", "-", input=WEB).exit_code == 0
    result = cli("stop", "web")
    assert (result.exit_code, result.stdout) == (0, "container/web stopped\n")
    assert _live(api, "web")["spec"]["state"] == "Stopped"
    result = cli("start", "web")
    assert (result.exit_code, result.stdout) == (0, "container/web started\n")
    assert _live(api, "web")["spec"]["state"] == "Running"
    result = cli("restart", "web", "ghost")
    assert (result.exit_code, result.stdout, result.stderr) == (
        1, "container/web restart requested\n", "error: container/ghost: containers/ghost not found\n"
    )
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", _live(api, "web")["metadata"]["annotations"]["dlxc.io/restartedAt"])


def test_delete_and_wait(cli, api) -> None:
    assert cli("apply", "-f", "-", input=WEB).exit_code == 0
    result = cli("delete", "container", "web", "ghost", "--wait", "--timeout", "5")
    assert (result.exit_code, result.stdout, result.stderr) == (
        1, "container/web deleted\ncontainer/web gone\n", "error: container/ghost not found\n"
    )
    assert _names(api) == []


def test_shell_runs_the_same_verbs(cli, api, tmp_path: Path) -> None:
    (tmp_path / "web.yaml").write_text(WEB)
    script = f"list containers\ndeploy {tmp_path / 'web.yaml'}\nlist containers -o name\nstop web\nstart web\ndelete web\nlist nodes\nfly away\nquit\n"
    result = cli("shell", input=script)
    assert result.exit_code == 1  # `fly away` failed; a script learns that from the exit code
    assert result.stdout == (
        "container/web created\ncontainer/web\ncontainer/web stopped\ncontainer/web started\ncontainer/web deleted\n"
    )
    assert result.stderr == "no containers found\nno nodes found\nerror: unknown command 'fly'; type help\n"


def test_completion_of_object_names(cli, api, monkeypatch: pytest.MonkeyPatch) -> None:
    assert cli("apply", "-f", "-", input=WEB + "---\n" + DB).exit_code == 0
    for key, value in api.env().items():
        monkeypatch.setenv(key, value)
    assert object_names("containers", "") == ["db", "web"]
    assert object_names("containers", "w") == ["web"]

    class Ctx:
        params = {"kind": "container"}

    assert complete_names(Ctx(), "d") == ["db"]  # type: ignore[arg-type]
    monkeypatch.setenv("DLXC_SERVER", "http://127.0.0.1:9")
    assert object_names("containers", "") == []  # no server: no names, never an error


def test_schema_and_explain(cli, tmp_path: Path) -> None:
    result = cli("schema")
    schema = json.loads(result.stdout)
    assert result.exit_code == 0 and set(schema["$defs"]) >= {"Container", "Node", "FlatContainer"}
    out = tmp_path / "dlxc.schema.json"
    result = cli("schema", "-o", str(out))
    assert result.exit_code == 0 and json.loads(out.read_text()) == schema
    result = cli("explain", "container.spec.memory")
    assert (result.exit_code, result.stdout) == (
        0,
        "FIELD:       Container.spec.memory\nTYPE:        string | number | null\n"
        "DESCRIPTION: Memory limit, e.g. 512Mi; a bare number means MiB.\n",
    )
    result = cli("explain", "container.spec.colour")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: Container.spec has no field 'colour'; its fields: image, cpu, memory,")


def test_shell_prompt_and_completion(cli, api, tmp_path: Path) -> None:
    from dlxc.cli.shell import DlxcShell

    assert cli("apply", "-f", "-", input=WEB + "---\n" + DB).exit_code == 0
    (tmp_path / "web.yaml").write_text(WEB)
    with asyncio.Runner() as runner:
        client = api.client()
        prompt = DlxcShell(runner, client, interactive=True)
        try:
            assert prompt.prompt == "dlxc> "
            assert prompt.complete_list("c", "list c", 5, 6) == ["containers"]
            assert prompt.complete_start("w", "start w", 6, 7) == ["web"]
            assert prompt.complete_delete("", "delete ", 7, 7) == ["db", "web"]
            assert prompt.complete_describe("n", "describe n", 9, 10) == ["node"]
            assert prompt.complete_describe("d", "describe container d", 19, 20) == ["db"]
            assert prompt.complete_deploy(str(tmp_path / "we"), "", 0, 0) == [str(tmp_path / "web.yaml")]
            assert prompt.completenames("st") == ["start", "status", "stop"]
        finally:
            runner.run(client.close())


@pytest.mark.parametrize(
    ("shell_env", "expected"),
    [
        ({"_DLXC_COMPLETE": "complete_bash", "COMP_WORDS": "dlxc describe container w", "COMP_CWORD": "3"}, "web\n"),
        ({"_DLXC_COMPLETE": "complete_zsh", "_TYPER_COMPLETE_ARGS": "dlxc stop d"}, "_arguments '*: :((\"db\"))'\n"),
        ({"_DLXC_COMPLETE": "complete_fish", "_TYPER_COMPLETE_ARGS": "dlxc get containers ", "_TYPER_COMPLETE_FISH_ACTION": "get-args"}, "db\nweb\n"),
    ],
    ids=["bash", "zsh", "fish"],
)
def test_shell_completion_scripts_complete_object_names(cli, api, shell_env: dict[str, str], expected: str) -> None:
    import subprocess
    import sys

    assert cli("apply", "-f", "-", input=WEB + "---\n" + DB).exit_code == 0
    done = subprocess.run(
        [str(Path(sys.executable).parent / "dlxc")],
        env={**api.env(), **shell_env}, capture_output=True, text=True, timeout=30,
    )
    assert (done.returncode, done.stdout) == (0, expected)


def test_plain_apply_keeps_a_member_in_its_set(cli, api, tmp_path: Path) -> None:
    (tmp_path / "web.yaml").write_text(WEB)
    assert cli("apply", "-f", str(tmp_path / "web.yaml"), "--applyset", "demo").exit_code == 0
    (tmp_path / "web.yaml").write_text(WEB.replace("256", "512"))
    result = cli("apply", "-f", str(tmp_path / "web.yaml"))
    assert (result.exit_code, result.stdout) == (0, "container/web configured\n")
    assert _live(api, "web")["metadata"]["labels"] == {APPLYSET_LABEL: "demo"}


def test_delete_wait_follows_the_finalizer(cli, api, tmp_path: Path) -> None:
    assert cli("apply", "-f", "-", input=WEB).exit_code == 0

    async def hold_then_release() -> None:
        async with api.client() as c:
            await c.patch("containers", "web", {"metadata": {"finalizers": ["dlxc.io/lxc"]}})

    asyncio.run(hold_then_release())

    def release() -> None:
        async def go() -> None:
            async with api.client() as c:
                await c.patch("containers", "web", {"metadata": {"finalizers": []}})

        asyncio.run(go())

    # The kubelet lets go once the CLI has shown Terminating, so that line is there to see.
    code, stdout, stderr = dlxc_acting_on(
        api, tmp_path, ["delete", "container", "web", "--wait", "--timeout", "10"], "container/web Terminating", release,
    )
    assert code == 0, stderr
    assert stdout == "container/web deleted\ncontainer/web Terminating\ncontainer/web gone\n"


def test_diff_shows_a_static_address_the_live_object_does_not_have(cli, api, tmp_path: Path) -> None:
    """The address cannot change: apply fails on it, so diff must not say "no changes" (it did, exit 0)."""
    web = tmp_path / "web.yaml"
    web.write_text(WEB)
    assert cli("apply", "-f", str(web)).exit_code == 0
    address = _live(api, "web")["spec"]["network"]["ipv4"]
    ip, prefix = address.split("/")
    other = ".".join([*ip.split(".")[:3], str((int(ip.split(".")[3]) % 200) + 2)]) + "/" + prefix
    web.write_text(WEB + f"network: {{type: cluster, ipv4: {other}}}\n")
    result = cli("diff", "-f", str(web))
    assert result.exit_code == 1 and f"-    ipv4: {address}\n+    ipv4: {other}\n" in result.stdout, result.stdout
    web.write_text(WEB + f"network: {{type: cluster, ipv4: {address}}}\n")  # the one it has: no change
    assert cli("diff", "-f", str(web)).exit_code == 0


def test_a_refusal_only_the_server_makes_applies_nothing(cli, api, tmp_path: Path) -> None:
    """The policy refuses a privileged container (this apiserver has no --allow-privileged); the files
    are valid, so only the server can say so: checked on the server for all first, nothing written."""
    folder = tmp_path / "app"
    folder.mkdir()
    (folder / "a-web.yaml").write_text(WEB)
    (folder / "b-priv.yaml").write_text(
        "apiVersion: dlxc.io/v1\nkind: Container\nmetadata: {name: priv}\nspec: {image: busybox, privileged: true}\n")
    result = cli("apply", "-f", str(folder))
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"error: {folder / 'b-priv.yaml'}: container/priv: Container priv is not allowed: spec.privileged: "
        "privileged containers need an apiserver started with --allow-privileged",
        "error: 1 object(s) refused; nothing was applied",
    ]
    assert _names(api) == []

    # An address another container holds: only the server knows, and its dry run says so as the create would.
    import ipaddress

    network = ipaddress.IPv4Network(api.settings.cluster_cidr)
    ip = network.network_address + 9
    (folder / "b-priv.yaml").unlink()
    holder = (f"apiVersion: dlxc.io/v1\nkind: Container\nmetadata: {{name: holder}}\n"
              f"spec: {{image: busybox, network: {{type: cluster, ipv4: {ip}/{network.prefixlen}}}}}\n")
    assert cli("apply", "-f", "-", input=holder).exit_code == 0
    (folder / "c-grab.yaml").write_text(
        f"apiVersion: dlxc.io/v1\nkind: Container\nmetadata: {{name: grab}}\n"
        f"spec: {{image: busybox, network: {{type: cluster, ipv4: {ip}/{network.prefixlen}}}}}\n")
    result = cli("apply", "-f", str(folder), "--force-rebuild")  # (no image change: the check is not skipped either way)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"error: {folder / 'c-grab.yaml'}: container/grab: Container grab is invalid: spec.network.ipv4: {ip} is taken by container holder",
        "error: 1 object(s) refused; nothing was applied",
    ]
    assert _names(api) == ["holder"]
    (folder / "c-grab.yaml").unlink()
    assert cli("apply", "-f", str(folder)).stdout == "container/web created\n"

    # Two new containers asking for one free address: each passes the server alone; refused together.
    other = network.network_address + 10
    for name in ("d-one", "e-two"):
        (folder / f"{name}.yaml").write_text(
            f"apiVersion: dlxc.io/v1\nkind: Container\nmetadata: {{name: {name}}}\n"
            f"spec: {{image: busybox, network: {{type: cluster, ipv4: {other}/{network.prefixlen}}}}}\n")
    result = cli("apply", "-f", str(folder))
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"error: {folder / 'e-two.yaml'}: container/e-two: spec.network.ipv4: {other} is asked for by container/d-one too; "
        "an address belongs to one container",
        "error: 1 object(s) refused; nothing was applied",
    ]
    assert _names(api) == ["holder", "web"]
