"""Context folders in manifests: `spec.context: {folder: DIR}` read next to the file, with errors naming file and field."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from pydantic import ValidationError

from dlxc.apply.manifests import load_manifests, load_text
from schemas.containercluster import ContainerCluster

REPO = Path(__file__).resolve().parents[3]
CLUSTER = """apiVersion: dlxc.io/v1
kind: ContainerCluster
metadata: {{name: mc}}
spec:
  frontEndImage: busybox
  workingNodeImage: busybox
  nodes: 2
  context: {context}
"""


def a_folder(root: Path) -> Path:
    folder = root / "ctx"
    (folder / "add-node.d").mkdir(parents=True)
    (folder / "20-b.sh").write_text("echo b\n")
    (folder / "10-a.sh").write_text("echo a\n")
    (folder / "add-node.d" / "10-hello.sh").write_text("echo $DLXC_NODE\n")
    return folder


@pytest.mark.parametrize("how", ["relative", "absolute"])
def test_a_folder_becomes_the_scripts(tmp_path: Path, how: str) -> None:
    folder = a_folder(tmp_path)
    (tmp_path / "mc.yaml").write_text(CLUSTER.format(context="{folder: ctx}" if how == "relative" else f"{{folder: {folder}}}"))
    manifests, errors = load_manifests([str(tmp_path / "mc.yaml")])
    assert errors == []
    spec = manifests[0].obj.to_wire()["spec"]
    assert spec["context"] == [{"name": "10-a.sh", "script": "echo a\n"}, {"name": "20-b.sh", "script": "echo b\n"}]
    assert spec["addNode"] == [{"name": "10-hello.sh", "script": "echo $DLXC_NODE\n"}]
    assert spec["removeNode"] == []


@pytest.mark.parametrize(
    ("context", "extra", "message"),
    [
        ("{folder: nope}", "", "spec.context.folder: folder {dir}/nope: no such folder"),
        ("{folder: empty}", "", "spec.context.folder: folder {dir}/empty: holds no scripts"),
        ("{file: x}", "", "spec.context: must be a list of {{name, script}}, or {{folder: DIR}} (a folder next to the manifest)"),
        ("{folder: ctx}", "  addNode: [{name: x, script: 'true'}]\n",
         "spec.addNode: given both here and as {dir}/ctx/add-node.d: keep one"),
    ],
    ids=["missing", "empty", "bad-shape", "hooks-twice"],
)
def test_bad_folders_are_named(tmp_path: Path, context: str, extra: str, message: str) -> None:
    a_folder(tmp_path)
    (tmp_path / "empty").mkdir()
    path = tmp_path / "mc.yaml"
    path.write_text(CLUSTER.format(context=context) + extra)
    manifests, errors = load_manifests([str(path)])
    assert manifests == []
    assert [str(e) for e in errors] == [f"{path} (document 1) containercluster/mc: " + message.format(dir=tmp_path)]


def test_pasted_text_has_no_folder_to_read() -> None:
    manifests, errors = load_text("<pasted>", CLUSTER.format(context="{folder: ctx}"))
    assert manifests == []
    assert [str(e) for e in errors] == [
        "<pasted> (document 1) containercluster/mc: spec.context.folder: a folder is read next to a manifest file; "
        "here there is none (stdin or pasted text): list the scripts inline instead"]


def test_the_api_takes_only_scripts() -> None:
    with pytest.raises(ValidationError, match=r"\{folder: DIR\} is read by `dlxc apply`"):
        ContainerCluster.model_validate({"metadata": {"name": "mc"}, "spec": {
            "frontEndImage": "busybox", "workingNodeImage": "busybox", "nodes": 1, "context": {"folder": "ctx"}}})


def test_the_shipped_ssh_cluster() -> None:
    """The Debian ssh example renders to a valid cluster whose scripts are shell the members' /bin/sh (dash) parses."""
    manifests, errors = load_manifests([str(REPO / "examples" / "ssh-cluster")])
    assert errors == []
    spec = manifests[0].obj.to_wire()["spec"]
    assert (spec["frontEndImage"], spec["workingNodeImage"], spec["home"]["hostPath"]) == (
        "debian:bookworm", "debian:bookworm", "/var/lib/dlxc/volumes/clusters/ssh/home")
    scripts = {f"{field}/{s['name']}": s["script"] for field in ("context", "addNode", "removeNode") for s in spec[field]}
    assert sorted(scripts) == ["addNode/10-known-host.sh", "context/10-sshd.sh", "removeNode/10-forget-host.sh"]
    sshd = scripts["context/10-sshd.sh"]
    assert "apt-get install -y -q --no-install-recommends openssh-server openssh-client" in sshd
    assert "/usr/sbin/sshd" in sshd and "authorized_keys" in sshd
    for name, text in scripts.items():
        parsed = subprocess.run(["dash", "-n"], input=text, capture_output=True, text=True, check=False)
        assert (parsed.returncode, parsed.stderr) == (0, ""), name
