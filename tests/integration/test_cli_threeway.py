"""apply/diff/sync's three-way merge against a real apiserver: fields set by hand stay, fields dropped from a manifest go."""
from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from schemas.wire import LAST_APPLIED_ANNOTATION, RESTART_ANNOTATION

pytestmark = pytest.mark.timeout(60)

WEB = """apiVersion: dlxc.io/v1
kind: Container
metadata: {name: web, labels: {app: web, team: a}, annotations: {note: hi}}
spec: {image: busybox, env: {A: "1"}}
"""

SET = """apiVersion: dlxc.io/v1
kind: ContainerSet
metadata: {name: pool}
spec:
  template:
    metadata: {labels: {app: pool}}
    spec: {image: busybox}
"""


def _call(api, method: str, *args: object) -> dict:
    async def go() -> dict:
        async with api.client() as c:
            return await getattr(c, method)(*args)

    return asyncio.run(go())


def test_hand_set_fields_survive_apply_diff_and_sync_and_dropped_ones_go(cli, api, tmp_path: Path) -> None:
    folder = tmp_path / "repo"
    folder.mkdir()
    web = folder / "web.yaml"
    web.write_text(WEB)
    assert cli("apply", "-f", str(web)).stdout == "container/web created\n"
    record = json.loads(_call(api, "get", "containers", "web")["metadata"]["annotations"][LAST_APPLIED_ANNOTATION])
    assert record == {
        "apiVersion": "dlxc.io/v1", "kind": "Container",
        "metadata": {"name": "web", "labels": {"app": "web", "team": "a"}, "annotations": {"note": "hi"}},
        "spec": {"image": "busybox", "env": {"A": "1"}},
    }
    assert cli("label", "container/web", "tier=x").exit_code == 0
    assert cli("annotate", "container/web", "owner=me").exit_code == 0
    _call(api, "patch", "containers", "web", {
        "metadata": {"annotations": {RESTART_ANNOTATION: "2026-01-01T00:00:00Z"}},
        "spec": {"cpu": 2, "env": {"B": "2"}, "state": "Stopped"},
    })
    assert cli("diff", "-f", str(web)).exit_code == 0
    result = cli("apply", "-f", str(web))
    assert (result.exit_code, result.stdout) == (0, "container/web unchanged\n")
    live = _call(api, "get", "containers", "web")
    assert live["metadata"]["labels"] == {"app": "web", "team": "a", "tier": "x"}
    assert {k: v for k, v in live["metadata"]["annotations"].items() if k != LAST_APPLIED_ANNOTATION} == {
        "note": "hi", "owner": "me", RESTART_ANNOTATION: "2026-01-01T00:00:00Z",
    }
    assert (live["spec"]["cpu"], live["spec"]["env"], live["spec"]["state"]) == (2, {"A": "1", "B": "2"}, "Stopped")

    # The manifest drops a label, an annotation and an env key it had set, and changes one it owns.
    web.write_text(WEB.replace(", team: a", "").replace("annotations: {note: hi}", "annotations: {}").replace('"1"', '"9"'))
    result = cli("diff", "-f", str(web))
    assert result.exit_code == 1
    removed = [line for line in result.stdout.splitlines()[3:] if line.startswith(("-", "+"))]
    assert removed == ["-    note: hi", "-    team: a", "-    A: '1'", "+    A: '9'"]
    result = cli("apply", "-f", str(web))
    assert (result.exit_code, result.stdout) == (0, "container/web configured\n")
    live = _call(api, "get", "containers", "web")
    assert live["metadata"]["labels"] == {"app": "web", "tier": "x"}
    assert set(live["metadata"]["annotations"]) == {"owner", RESTART_ANNOTATION, LAST_APPLIED_ANNOTATION}
    assert (live["spec"]["cpu"], live["spec"]["env"], live["spec"]["state"]) == (2, {"A": "9", "B": "2"}, "Stopped")

    # sync: the hand-set fields are no drift; a field the manifest owns is
    assert cli("sync", str(folder)).exit_code == 0  # adds the applyset label
    assert cli("label", "container/web", "more=y").exit_code == 0
    result = cli("sync", "status", str(folder))
    assert (result.exit_code, result.stdout.splitlines()[1].split()[2]) == (0, "InSync")
    _call(api, "patch", "containers", "web", {"spec": {"env": {"A": "0"}}})
    result = cli("sync", "status", str(folder))
    assert (result.exit_code, result.stdout.splitlines()[1].split(None, 4)[2:]) == (1, ["Drifted", "Pending", "spec.env.A"])
    assert cli("sync", str(folder)).exit_code == 0
    live = _call(api, "get", "containers", "web")
    assert (live["spec"]["env"], live["metadata"]["labels"]["more"]) == ({"A": "9", "B": "2"}, "y")


def test_an_object_without_a_record_is_compared_two_way_once(cli, api, tmp_path: Path) -> None:
    # made before records existed (or by another tool): nothing says which fields were the manifest's
    _call(api, "create", "containers", {
        "apiVersion": "dlxc.io/v1", "kind": "Container",
        "metadata": {"name": "web", "labels": {"app": "web", "tier": "x"}}, "spec": {"image": "busybox", "cpu": 2},
    })
    web = tmp_path / "web.yaml"
    web.write_text("name: web\nimage: busybox\nlabels: {app: web}\n")
    result = cli("diff", "-f", str(web))
    assert (result.exit_code, [line for line in result.stdout.splitlines()[3:] if line.startswith(("-", "+"))]) == (
        1, ["-    tier: x", "-  cpu: 2.0"],
    )
    result = cli("apply", "-f", str(web))
    assert (result.exit_code, result.stdout) == (0, "container/web configured\n")
    live = _call(api, "get", "containers", "web")
    assert (live["metadata"]["labels"], "cpu" in live["spec"]) == ({"app": "web"}, False)
    assert LAST_APPLIED_ANNOTATION in live["metadata"]["annotations"]
    # from now on three-way
    assert cli("label", "container/web", "tier=x").exit_code == 0
    assert cli("apply", "-f", str(web)).stdout == "container/web unchanged\n"
    assert _call(api, "get", "containers", "web")["metadata"]["labels"] == {"app": "web", "tier": "x"}


def test_an_unchanged_object_without_a_record_gets_one(cli, api, tmp_path: Path) -> None:
    _call(api, "create", "containers", {
        "apiVersion": "dlxc.io/v1", "kind": "Container", "metadata": {"name": "web"}, "spec": {"image": "busybox"},
    })
    web = tmp_path / "web.yaml"
    web.write_text("name: web\nimage: busybox\nlabels: {tier: x}\n")
    assert cli("label", "container/web", "tier=x").exit_code == 0
    assert cli("apply", "-f", str(web), "--dry-run=client").stdout == "container/web unchanged (dry run)\n"
    assert LAST_APPLIED_ANNOTATION not in (_call(api, "get", "containers", "web")["metadata"].get("annotations") or {})
    assert cli("apply", "-f", str(web)).stdout == "container/web unchanged\n"
    assert LAST_APPLIED_ANNOTATION in _call(api, "get", "containers", "web")["metadata"]["annotations"]
    # the manifest owns tier now: dropping it removes it
    web.write_text("name: web\nimage: busybox\n")
    assert cli("apply", "-f", str(web)).stdout == "container/web configured\n"
    assert _call(api, "get", "containers", "web")["metadata"]["labels"] == {}


def test_scaled_and_autoscaled_replicas_survive_apply(cli, api, tmp_path: Path) -> None:
    pool = tmp_path / "pool.yaml"
    pool.write_text(SET)
    assert cli("apply", "-f", str(pool)).stdout == "containerset/pool created\n"
    assert cli("scale", "set/pool", "--replicas", "3").exit_code == 0
    assert cli("diff", "-f", str(pool)).exit_code == 0
    assert cli("apply", "-f", str(pool)).stdout == "containerset/pool unchanged\n"
    assert _call(api, "get", "containersets", "pool")["spec"]["replicas"] == 3
    # replicas in the manifest: the manifest's; with autoscale: the autoscaler's, whatever the manifest says
    pool.write_text(SET + "  replicas: 2\n")
    assert cli("apply", "-f", str(pool)).stdout == "containerset/pool configured\n"
    assert _call(api, "get", "containersets", "pool")["spec"]["replicas"] == 2
    pool.write_text(SET + "  replicas: 2\n  autoscale: {max: 6, targetCPUPercent: 50}\n")
    assert cli("apply", "-f", str(pool)).stdout == "containerset/pool configured\n"
    _call(api, "patch", "containersets", "pool", {"spec": {"replicas": 5}})  # the write the autoscaler makes
    assert cli("diff", "-f", str(pool)).exit_code == 0
    assert cli("apply", "-f", str(pool)).stdout == "containerset/pool unchanged\n"
    pool.write_text(SET + "  autoscale: {max: 6, targetCPUPercent: 50}\n")
    assert cli("apply", "-f", str(pool)).stdout == "containerset/pool unchanged\n"
    assert _call(api, "get", "containersets", "pool")["spec"]["replicas"] == 5


def test_a_manifest_too_large_to_record_is_applied_two_way_with_a_warning(cli, api, tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_text(f"name: big\nimage: busybox\nenv: {{BLOB: {'x' * 300_000}}}\n")
    result = cli("apply", "-f", str(big))
    assert (result.exit_code, result.stdout) == (0, "container/big created\n")
    size = len('{"apiVersion":"dlxc.io/v1","kind":"Container","metadata":{"name":"big"},"spec":{"env":{"BLOB":""},"image":"busybox"}}') + 300_000
    assert result.stderr == (
        f"warning: container/big: the manifest is {size} bytes as JSON, over the 262144-byte limit of the "
        f"{LAST_APPLIED_ANNOTATION} annotation: it is not recorded, so apply compares this object two-way "
        "(fields set by others are reverted)\n"
    )
    live = _call(api, "get", "containers", "big")
    assert LAST_APPLIED_ANNOTATION not in (live["metadata"].get("annotations") or {})
    assert cli("label", "container/big", "tier=x").exit_code == 0
    result = cli("apply", "-f", str(big))
    assert (result.exit_code, result.stdout) == (0, "container/big configured\n")  # two-way: the label goes
    assert _call(api, "get", "containers", "big")["metadata"]["labels"] == {}
