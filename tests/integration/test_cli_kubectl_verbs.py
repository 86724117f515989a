"""kubectl habits (issue 18, item 14): label, annotate, edit, patch, get -L/--show-labels/--sort-by,
delete -l/--all/--ignore-not-found, node labels (top -l: test_usage_api.py) the scheduler matches. Real apiserver over real etcd."""
from __future__ import annotations

import asyncio
import re
import stat
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dlxc.cli.main import app
from scheduler.config import SchedulerSettings
from scheduler.loop import Scheduler
from schemas.wire import LAST_APPLIED_ANNOTATION

pytestmark = pytest.mark.timeout(60)

WEB = "name: web\nimage: busybox\nmemory_limit: 256\n"
DB = "apiVersion: dlxc.io/v1\nkind: Container\nmetadata: {name: db, labels: {tier: db}}\nspec: {image: busybox, cpu: 0.5}\n"
GI = 2**30


@pytest.fixture
def env(api, tmp_path: Path) -> dict[str, str]:
    return {**api.env(), "DLXC_INVENTORY_DIR": str(tmp_path / "inventory"), "XDG_STATE_HOME": str(tmp_path / "state")}


@pytest.fixture
def cli(env):
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None, extra: dict[str, str] | None = None):
        return runner.invoke(app, list(args), env={**env, **(extra or {})}, input=input, catch_exceptions=False)

    return invoke


def _call(api, fn):
    async def go():
        async with api.client() as c:
            return await fn(c)

    return asyncio.run(go())


def _live(api, plural: str, name: str) -> dict:
    return _call(api, lambda c: c.get(plural, name))


def _node(name: str, labels: dict[str, str] | None = None) -> dict:
    alloc = {"cpu": 4, "memory": 8 * GI, "disk": 100 * GI, "containers": 10}
    return {
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {},
        "status": {"conditions": [{"type": "Ready", "status": "True"}], "capacity": alloc, "allocatable": alloc},
    }


def test_label_sets_removes_and_needs_overwrite(cli, api) -> None:
    assert cli("apply", "-f", "-", input=WEB).exit_code == 0
    result = cli("label", "container/web", "app=web", "tier=front")
    assert (result.exit_code, result.stdout) == (0, "container/web labeled\n")
    assert _live(api, "containers", "web")["metadata"]["labels"] == {"app": "web", "tier": "front"}
    result = cli("label", "container/web", "tier=back")
    assert (result.exit_code, result.stdout, result.stderr) == (
        1, "", "error: container/web: label 'tier' already has a value (front); use --overwrite to change it\n"
    )
    result = cli("label", "container", "web", "tier=back", "app-", "--overwrite")
    assert (result.exit_code, result.stdout) == (0, "container/web labeled\n")
    assert _live(api, "containers", "web")["metadata"]["labels"] == {"tier": "back"}
    result = cli("label", "container/web", "tier=back")
    assert (result.exit_code, result.stdout) == (0, "container/web not labeled\n")
    result = cli("label", "container/web", "Bad Key=x")
    assert (result.exit_code, result.stderr) == (1, "error: container/web: label key 'Bad Key' is not a valid label key\n")
    result = cli("label", "container/web", "justakey")
    assert (result.exit_code, result.stderr) == (1, "error: container/web: 'justakey': use KEY=VALUE to set a label or KEY- to remove it\n")
    result = cli("label", "container/ghost", "a=b")
    assert (result.exit_code, result.stderr) == (1, "error: containers/ghost not found\n")
    result = cli("label", "pod/web", "a=b")
    assert (result.exit_code, result.stderr) == (1, "error: unknown kind 'pod' in 'pod/web'; use container/NAME or node/NAME\n")


def test_annotate_has_the_same_shape(cli, api) -> None:
    assert cli("apply", "-f", "-", input=WEB).exit_code == 0
    result = cli("annotate", "container/web", "owner=ops team", "note=x")
    assert (result.exit_code, result.stdout) == (0, "container/web annotated\n")
    result = cli("annotate", "container/web", "owner=me")
    assert (result.exit_code, result.stderr) == (
        1, "error: container/web: annotation 'owner' already has a value (ops team); use --overwrite to change it\n"
    )
    result = cli("annotate", "container/web", "note-", "gone-")
    assert (result.exit_code, result.stdout, result.stderr) == (
        0, "container/web annotated\n", "warning: container/web: annotation 'gone' not found\n"
    )
    # beside apply's own record of the manifest, which no imperative verb touches
    assert _live(api, "containers", "web")["metadata"]["annotations"] == {
        "owner": "ops team", LAST_APPLIED_ANNOTATION: '{"apiVersion":"dlxc.io/v1","kind":"Container",'
        '"metadata":{"name":"web"},"spec":{"image":"busybox","memory":"256Mi"}}',
    }


def test_node_labels_go_to_spec_and_the_scheduler_matches_them(cli, api) -> None:
    _call(api, lambda c: c.create("nodes", _node("n1", {"zone": "a", "disk": "hdd"})))
    _call(api, lambda c: c.create("nodes", _node("n2")))
    result = cli("label", "node/n2", "gpu=yes")
    assert (result.exit_code, result.stdout) == (0, "node/n2 labeled\n")
    n2 = _live(api, "nodes", "n2")
    assert (n2["spec"]["labels"], n2["metadata"]["labels"]) == ({"gpu": "yes"}, {})
    # a label the kubelet registered is in effect too: changing it needs --overwrite, removing drops it
    result = cli("label", "node/n1", "zone=b")
    assert (result.exit_code, result.stderr) == (1, "error: node/n1: label 'zone' already has a value (a); use --overwrite to change it\n")
    assert cli("label", "node/n1", "zone=b", "disk-", "--overwrite").exit_code == 0
    n1 = _live(api, "nodes", "n1")
    assert (n1["spec"]["labels"], n1["metadata"]["labels"]) == ({"zone": "b"}, {"zone": "a"})
    result = cli("get", "nodes", "-L", "zone,gpu", "--show-labels")
    assert result.stdout.splitlines()[0].split() == ["NAME", "STATUS", "CONTAINERS", "CPU", "MEMORY", "AGE", "ZONE", "GPU", "LABELS"]
    rows = [line.split() for line in result.stdout.splitlines()[1:]]
    assert (rows[0][0], rows[0][-2:], rows[1][0], rows[1][-2:]) == ("n1", ["b", "zone=b"], "n2", ["yes", "gpu=yes"])

    async def scheduled(c) -> tuple[str | None, str | None]:
        scheduler = Scheduler(c, SchedulerSettings())
        task = asyncio.create_task(scheduler.run())
        try:
            await c.create("containers", {"metadata": {"name": "g"}, "spec": {"image": "busybox", "nodeSelector": {"gpu": "yes"}}})
            await c.create("containers", {"metadata": {"name": "z"}, "spec": {"image": "busybox", "nodeSelector": {"zone": "b"}}})
            for _ in range(300):
                g, z = (await c.get("containers", "g"))["spec"].get("nodeName"), (await c.get("containers", "z"))["spec"].get("nodeName")
                if g and z:
                    return g, z
                await asyncio.sleep(0.05)
            return g, z
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    assert _call(api, scheduled) == ("n2", "n1")


def test_get_label_columns_show_labels_and_sort_by(cli, api) -> None:
    assert cli("apply", "-f", "-", input=WEB + "---\n" + DB + "---\nname: app\nimage: busybox\ncpu_limit: 2\n").exit_code == 0
    assert cli("label", "container/web", "tier=front", "dlxc.io/team=a").exit_code == 0
    result = cli("get", "containers", "-L", "tier", "-L", "dlxc.io/team", "--sort-by", ".metadata.name")
    lines = result.stdout.splitlines()
    assert lines[0] == "NAME   PHASE     NODE     IP       AGE   TIER    TEAM"
    assert [line.split()[0] for line in lines[1:]] == ["app", "db", "web"]
    assert re.fullmatch(r"web    Pending   <none>   <none>   \d+s +front   a", lines[3])
    assert re.fullmatch(r"db     Pending   <none>   <none>   \d+s +db", lines[2])
    result = cli("get", "containers", "--show-labels", "--sort-by", "{.spec.cpu}")
    assert [(line.split()[0], line.split()[-1]) for line in result.stdout.splitlines()[1:]] == [
        ("web", "dlxc.io/team=a,tier=front"), ("db", "tier=db"), ("app", "<none>"),
    ]
    result = cli("get", "containers", "--sort-by", ".spec.memory", "-o", "name")
    assert (result.exit_code, result.stdout) == (0, "container/app\ncontainer/db\ncontainer/web\n")
    result = cli("get", "containers", "--sort-by", "metadata name")
    assert (result.exit_code, result.stderr) == (
        1, "error: --sort-by 'metadata name': use a field path such as .metadata.name or .status.phase\n"
    )


def test_patch_merge(cli, api) -> None:
    assert cli("apply", "-f", "-", input=WEB).exit_code == 0
    result = cli("patch", "container/web", "--type", "merge", "-p", '{"spec": {"cpu": 2, "memory": null}}')
    assert (result.exit_code, result.stdout) == (0, "container/web patched\n")
    spec = _live(api, "containers", "web")["spec"]
    assert (spec["cpu"], spec.get("memory")) == (2, None)
    result = cli("patch", "container/web", "-p", '{"spec": {"cpu": 2}}')
    assert (result.exit_code, result.stdout) == (0, "container/web patched (no change)\n")
    result = cli("patch", "container/web", "-p", '{"spec": {"cpu": -1}}')
    assert (result.exit_code, result.stderr) == (1, "error: container/web: Container is invalid: spec.cpu: Input should be greater than 0\n")
    result = cli("patch", "container/web", "-p", '{"spec": {"image": "alpine"}}')
    assert (result.exit_code, result.stdout, result.stderr) == (
        0,
        "container/web patched\n",
        "warning: container/web: image busybox -> alpine: the rootfs is rebuilt from the new image "
        "and the data in it is lost (mounts are kept)\n",
    )
    result = cli("patch", "container/web", "--type", "json", "-p", "[]")
    assert (result.exit_code, result.stderr) == (1, "error: --type 'json' is not supported; use --type merge (an RFC 7386 JSON merge patch)\n")
    result = cli("patch", "container/web", "-p", "[1, 2]")
    assert (result.exit_code, result.stderr) == (1, "error: -p: the patch must be an object, e.g. '{\"spec\": {\"cpu\": 2}}'\n")


def _editor(tmp_path: Path, script: str) -> str:
    """An $EDITOR that edits the file with a small Python program (what a user does by hand)."""
    path = tmp_path / "editor.py"
    path.write_text(f"#!{sys.executable}\nimport sys\npath = sys.argv[1]\ntext = open(path).read()\n{script}\nopen(path, 'w').write(text)\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


def test_edit_applies_on_save_cancels_unchanged_and_keeps_a_refused_file(cli, api, tmp_path: Path) -> None:
    assert cli("apply", "-f", "-", input=WEB).exit_code == 0
    unchanged = _editor(tmp_path, "pass")
    result = cli("edit", "container/web", extra={"EDITOR": unchanged})
    assert (result.exit_code, result.stdout) == (0, "Edit cancelled, no changes made.\n")
    bigger = _editor(tmp_path, "text = text.replace('memory: 256Mi', 'memory: 512Mi')")
    result = cli("edit", "container/web", extra={"EDITOR": bigger})
    assert (result.exit_code, result.stdout) == (0, "container/web edited\n")
    assert _live(api, "containers", "web")["spec"]["memory"] == "512Mi"
    # apply's record is not in the editor's file, and an edit keeps it as it was
    record = _live(api, "containers", "web")["metadata"]["annotations"][LAST_APPLIED_ANNOTATION]
    assert '"memory":"256Mi"' in record
    peek = _editor(tmp_path, f"open({str(tmp_path / 'seen.yaml')!r}, 'w').write(text)")
    assert cli("edit", "container/web", extra={"EDITOR": peek}).stdout == "Edit cancelled, no changes made.\n"
    assert LAST_APPLIED_ANNOTATION not in (tmp_path / "seen.yaml").read_text()
    broken = _editor(tmp_path, "text = text.replace('memory: 512Mi', 'memory: lots')")
    result = cli("edit", "container/web", extra={"EDITOR": broken})
    assert result.exit_code == 1
    first, second = result.stderr.splitlines()
    kept = re.fullmatch(r"error: the edited file is kept at (\S+)", second)
    assert kept, second
    assert first == (
        f"error: {kept.group(1)}: container/web: Container is invalid: spec.memory: 'lots' is not a size; "
        "use a number with Ki, Mi, Gi or Ti (e.g. 512Mi)"
    )
    assert "memory: lots" in Path(kept.group(1)).read_text()
    assert _live(api, "containers", "web")["spec"]["memory"] == "512Mi"
    Path(kept.group(1)).unlink()
    renamed = _editor(tmp_path, "text = text.replace('name: web', 'name: other')")
    result = cli("edit", "container/web", extra={"EDITOR": renamed})
    assert result.exit_code == 1
    assert "container/web: metadata.name cannot be changed (it is 'web', the file says 'other')" in result.stderr
    Path(result.stderr.splitlines()[1].rsplit(" ", 1)[1]).unlink()
    unparsable = _editor(tmp_path, "text = text.replace('spec:', 'spec: [')")
    result = cli("edit", "container/web", extra={"EDITOR": unparsable})
    kept_at = result.stderr.splitlines()[1].rsplit(" ", 1)[1]
    assert (result.exit_code, result.stderr.splitlines()[0]) == (
        1, f"error: {kept_at}: container/web: not valid YAML: line 11, column 9: expected ',' or ']', but got ':'"
    )
    Path(kept_at).unlink()
    new_image = _editor(tmp_path, "text = text.replace('image: busybox', 'image: alpine')")
    result = cli("edit", "container/web", extra={"EDITOR": new_image})
    assert (result.exit_code, result.stdout, result.stderr) == (
        0,
        "container/web edited\n",
        "warning: container/web: image busybox -> alpine: the rootfs is rebuilt from the new image "
        "and the data in it is lost (mounts are kept)\n",
    )


def test_delete_by_selector_all_and_ignore_not_found(cli, api) -> None:
    assert cli("apply", "-f", "-", input=WEB + "---\n" + DB + "---\nname: app\nimage: busybox\n").exit_code == 0
    result = cli("delete", "containers", "-l", "tier=db")
    assert (result.exit_code, result.stdout) == (0, "container/db deleted\n")
    result = cli("delete", "containers", "-l", "tier=db")
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "error: no containers found with labels tier=db\n")
    result = cli("delete", "container/ghost", "--ignore-not-found")
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "")
    result = cli("delete", "container/ghost")
    assert (result.exit_code, result.stderr) == (1, "error: container/ghost not found\n")
    result = cli("delete", "containers", "--all")
    assert (result.exit_code, result.stdout) == (0, "container/app deleted\ncontainer/web deleted\n")
    assert _call(api, lambda c: c.list("containers"))[0] == []
    result = cli("delete", "containers", "web", "-l", "a=b")
    assert (result.exit_code, result.stderr) == (1, "error: -l and --all take a KIND and no names, e.g. dlxc delete containers -l app=web\n")
