"""`dlxc sync` and `dlxc sync status` against a real apiserver: per-object report, drift, prune, broken files."""
from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(60)

WEB = "name: web\nimage: busybox\nmemory_limit: 256\n"
DB = "name: db\nimage: busybox\n"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    folder = tmp_path / "repo"
    (folder / "apps").mkdir(parents=True)
    (folder / "apps" / "web.yaml").write_text(WEB)
    (folder / "db.yaml").write_text(DB)
    return folder


def _patch(api, name: str, patch: dict) -> None:
    async def go() -> None:
        async with api.client() as c:
            await c.patch("containers", name, patch)

    asyncio.run(go())


def _get(api, name: str) -> dict:
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


def test_sync_reports_missing_then_in_sync(cli, api, repo: Path) -> None:
    result = cli("sync", "status", str(repo))
    web, db = f"{repo}/apps/web.yaml", f"{repo}/db.yaml"
    pad = " " * (len(web) - len("SOURCE"))
    assert (result.exit_code, result.stdout) == (
        1,
        f"OBJECT          SOURCE{pad}   SYNC      HEALTH   DETAIL\n"
        f"container/web   {web}   Missing   -\n"
        f"container/db    {db.ljust(len(web))}   Missing   -\n",
    )
    result = cli("sync", str(repo))
    assert result.exit_code == 0
    assert [line.split()[:5] for line in result.stdout.splitlines()[1:3]] == [
        ["container/web", f"{repo}/apps/web.yaml", "Missing", "created", "Pending"],
        ["container/db", f"{repo}/db.yaml", "Missing", "created", "Pending"],
    ]
    assert result.stdout.splitlines()[-1] == "sync: 2 object(s), 2 changed, 0 failed, 0 file error(s)"
    result = cli("sync", "status", str(repo))
    assert result.exit_code == 0
    assert [line.split()[2:] for line in result.stdout.splitlines()[1:]] == [["InSync", "Pending"], ["InSync", "Pending"]]


def test_drift_is_reported_with_fields_and_corrected(cli, api, repo: Path) -> None:
    assert cli("sync", str(repo)).exit_code == 0
    # memory is the manifest's (memory_limit): drift; env and a label by hand are nobody's manifest's: kept
    _patch(api, "web", {"spec": {"memory": "1Gi", "env": {"X": "1"}}})
    assert cli("label", "container/web", "tier=x").exit_code == 0
    result = cli("sync", "status", str(repo))
    assert result.exit_code == 1
    assert result.stdout.splitlines()[1].split(None, 4)[2:] == ["Drifted", "Pending", "spec.memory"]
    result = cli("sync", str(repo))
    assert result.stdout.splitlines()[1].split(None, 5)[2:] == ["Drifted", "configured", "Pending", "spec.memory"]
    assert cli("sync", "status", str(repo)).exit_code == 0
    web = _get(api, "web")
    assert (web["spec"]["memory"], web["spec"]["env"], web["metadata"]["labels"]["tier"]) == ("256Mi", {"X": "1"}, "x")


def test_prune_and_a_broken_file_stops_nothing_else(cli, api, repo: Path) -> None:
    assert cli("sync", str(repo), "--prune").exit_code == 0
    (repo / "db.yaml").write_text("name: db\nimage: [busybox\n")  # a syntax error
    (repo / "apps" / "web.yaml").write_text(WEB.replace("256", "512"))
    result = cli("sync", str(repo), "--prune")
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {repo}/db.yaml: not valid YAML")
    assert result.stdout.splitlines()[1].split()[:4] == ["container/web", f"{repo}/apps/web.yaml", "Drifted", "configured"]
    assert _names(api) == ["db", "web"]  # the broken file's object is kept, not pruned
    (repo / "db.yaml").unlink()
    result = cli("sync", "status", str(repo))
    assert (result.exit_code, result.stdout.splitlines()[2].split()[:3]) == (1, ["container/db", f"{repo}/db.yaml", "Extra"])
    result = cli("sync", str(repo))
    assert _names(api) == ["db", "web"]  # without --prune nothing is deleted
    result = cli("sync", str(repo), "--prune")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[2].split(None, 5) == [
        "container/db", f"{repo}/db.yaml", "Pruned", "pruned", "-", "removed from the folder"
    ]
    assert _names(api) == ["web"]


@pytest.mark.parametrize(
    ("args", "code", "stderr"),
    [
        (["sync"], 2, None),
        (["sync", "/no/such/dir"], 2, "error: /no/such/dir: no such file or directory\n"),
        (["sync", "a", "b"], 2, "error: give one folder: dlxc sync DIR, or dlxc sync status DIR\n"),
        (["sync", "status", "/no/such/dir"], 2, "error: /no/such/dir: no such file or directory\n"),
    ],
    ids=["nothing", "missing-dir", "two-dirs", "status-missing-dir"],
)
def test_sync_usage_errors(cli, args: list[str], code: int, stderr: str | None) -> None:
    result = cli(*args)
    assert result.exit_code == code
    if stderr is not None:
        assert result.stderr == stderr


def test_run_sync_applies_on_file_changes(api, repo: Path, tmp_path: Path) -> None:
    from dlxc.apply.sync import SyncSettings, run_sync

    settings = SyncSettings(paths=[str(repo)], prune=True, interval=30, inventory_dir=tmp_path / "inventory")
    reports = []

    def on_report(report) -> None:
        reports.append(report)
        if len(reports) == 1:
            (repo / "db.yaml").unlink()  # a change while sync waits: the next round comes at once, not in 30s

    async def go():
        async with api.client() as client:
            return await asyncio.wait_for(run_sync(client, settings, on_report, rounds=2), 15)

    last = asyncio.run(go())
    assert [[(o.ref, o.action) for o in r.objects] for r in reports] == [
        [("container/web", "created"), ("container/db", "created")],
        [("container/web", "-"), ("container/db", "pruned")],
    ]
    assert last is reports[-1] and _names(api) == ["web"]


def test_a_failed_round_is_reported_and_retried(repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from dlxc.apply.sync import SyncSettings, run_sync
    from dlxc.cli.sync import Printer
    from dlxc.client.api import Client
    from dlxc.client.config import ClientConfig

    settings = SyncSettings(paths=[str(repo)], interval=0.1, inventory_dir=tmp_path / "inventory")
    printer = Printer(watching=True)

    async def go():
        async with Client(ClientConfig(server="http://127.0.0.1:9"), timeout=1) as client:
            return await run_sync(client, settings, printer, rounds=2)

    last = asyncio.run(go())
    assert last.failure.startswith("cannot reach the apiserver at http://127.0.0.1:9")
    errors = capsys.readouterr().err.splitlines()
    assert len(errors) == 2 and all(e.startswith("error: sync round failed, retrying: cannot reach the apiserver") for e in errors)


def test_many_objects_are_compared_against_one_list(cli, api, tmp_path: Path) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(12):
        (folder / f"c{i:02}.yaml").write_text(f"name: c{i:02}\nimage: busybox\ncpu: 1\n")
    assert cli("sync", str(folder)).exit_code == 0
    _patch(api, "c03", {"spec": {"cpu": 2}})
    result = cli("sync", str(folder))
    assert [line.split()[0] for line in result.stdout.splitlines()[1:] if "configured" in line] == ["container/c03"]
    assert cli("sync", "status", str(folder)).exit_code == 0


def test_a_missing_folder_prunes_nothing(api, repo: Path, tmp_path: Path) -> None:
    """An unmounted volume or a checkout without the folder reads as zero objects: nothing may be deleted."""
    from dlxc.apply.sync import SyncSettings, sync_once

    settings = SyncSettings(paths=[str(repo)], prune=True, inventory_dir=tmp_path / "inventory")

    async def go():
        async with api.client() as client:
            return await sync_once(client, settings)

    asyncio.run(go())
    repo.rename(tmp_path / "elsewhere")
    report = asyncio.run(go())
    assert (report.objects, report.prune_skipped) == ([], f"prune skipped: {repo} is missing")
    assert _names(api) == ["db", "web"]


def test_an_object_moved_to_a_broken_file_is_not_pruned(cli, api, repo: Path) -> None:
    assert cli("sync", str(repo), "--prune").exit_code == 0
    (repo / "db.yaml").unlink()
    (repo / "moved.yaml").write_text("name: db\nimage: [busybox\n")  # db moved here, with a typo
    result = cli("sync", str(repo), "--prune")
    assert result.exit_code == 2
    assert _names(api) == ["db", "web"]
    assert f"warning: prune skipped: 1 file could not be read: {repo}/moved.yaml\n" in result.stderr


def test_an_emptied_folder_prunes_only_with_allow_empty_prune(cli, api, repo: Path) -> None:
    assert cli("sync", str(repo), "--prune").exit_code == 0
    (repo / "db.yaml").unlink()
    (repo / "apps" / "web.yaml").unlink()
    result = cli("sync", str(repo), "--prune")
    assert (result.exit_code, result.stderr) == (
        1,
        (
            "warning: prune skipped: no objects were read, and pruning would delete all 2 member(s) of the set; "
            "sync with --allow-empty-prune to do that\n"
        ),
    )
    assert _names(api) == ["db", "web"]
    result = cli("sync", str(repo), "--prune", "--allow-empty-prune")
    assert result.exit_code == 0
    assert _names(api) == []


def test_a_failed_apply_stops_the_prune(cli, api, repo: Path) -> None:
    """A renamed object whose new version the server refuses keeps its old version."""
    assert cli("sync", str(repo), "--prune").exit_code == 0
    other = "apiVersion: dlxc.io/v1\nkind: Container\nmetadata: {name: db2, labels: {dlxc.io/applyset: other}}\nspec: {image: busybox}\n"
    assert cli("apply", "-f", "-", "--applyset", "other", input=other).exit_code == 0
    (repo / "db.yaml").write_text(DB.replace("name: db", "name: db2"))
    result = cli("sync", str(repo), "--prune")
    assert result.exit_code == 2
    assert _names(api) == ["db", "db2", "web"]
    assert "warning: prune skipped: 1 object(s) failed to apply: container/db2\n" in result.stderr


def test_record_keeps_absolute_sources(cli, api, repo: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import json

    monkeypatch.chdir(repo.parent)
    assert cli("sync", "repo", "--prune").exit_code == 0
    (record,) = (tmp_path / "inventory").glob("*.json")
    assert sorted(m["source"] for m in json.loads(record.read_text())["members"]) == [
        str(repo.resolve() / "apps" / "web.yaml"), str(repo.resolve() / "db.yaml")
    ]
    (repo / "db.yaml").unlink()
    assert cli("sync", str(repo), "--prune").exit_code == 0  # the same set, named by its absolute path
    assert _names(api) == ["web"]


def test_apply_without_r_keeps_what_sync_recorded_from_subfolders(cli, api, repo: Path) -> None:
    assert cli("sync", str(repo), "--prune").exit_code == 0
    result = cli("apply", "-f", str(repo), "--prune")
    assert (result.exit_code, result.stdout) == (0, "container/db unchanged\n")
    assert _names(api) == ["db", "web"]  # apps/web.yaml still exists; this apply did not read it
    (repo / "apps" / "web.yaml").unlink()
    result = cli("apply", "-f", str(repo), "--prune", "-R")
    assert (result.exit_code, result.stdout) == (0, "container/db unchanged\ncontainer/web pruned\n")
