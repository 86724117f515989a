"""Backups on real LXC: a file written inside survives backup -> delete -> restore as another name, owner and all."""
from __future__ import annotations

import shutil
import subprocess
import time

import pytest

from conftest import Cluster, dlxc
from kubelet_helpers import Api, lxc_state, wait_for

pytestmark = [pytest.mark.lxc, pytest.mark.timeout(240)]


def sh(node, name: str, script: str) -> str:
    result = subprocess.run(["lxc-attach", "-P", str(node.lxc_path), "-n", name, "--clear-env", "--", "/bin/sh", "-c", script],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    return result.stdout


def wait_ready(api: Api, *nodes) -> None:
    for node in nodes:
        wait_for(lambda: any(c["type"] == "Ready" and c["status"] == "True"
                             for c in api.get(node.name, "nodes").get("status", {}).get("conditions", [])),
                 timeout=30, what=f"{node.name} Ready")


def test_backup_delete_restore_as_another_name_keeps_files_and_owners(cluster: Cluster) -> None:
    node = cluster.add_node()
    api = Api(cluster)
    env = cluster.api.env()
    try:
        api.create("keeper", node, network={"type": "none"})
        api.patch("keeper", {"metadata": {"labels": {"app": "keeper"}, "annotations": {"owner": "team-a"}}})
        wait_for(lambda: api.phase("keeper") == "Running", timeout=60, what="keeper Running")
        sh(node, "keeper", "mkdir -p /home/u && echo precious > /home/u/data.txt && chown -R 1000:1000 /home/u && rm /bin/vi")

        made = dlxc("backup", "create", "keeper", env=env, timeout=120)
        assert made.returncode == 0, made.stderr
        backup = made.stdout.split()[0].removeprefix("backup/")
        assert backup.startswith("keeper-") and " completed: " in made.stdout and "(frozen)" in made.stdout
        obj = api.get(backup, "backups")
        status = obj["status"]
        assert obj["metadata"]["labels"] == {"dlxc.io/container": "keeper"}
        assert status["phase"] == "Completed" and status["node"] == node.name and status["consistency"] == "frozen"
        assert status["checksum"].startswith("sha256:") and status["size"] > 0
        assert lxc_state(node.lxc_path, "keeper") == "RUNNING"  # thawed again

        listed = dlxc("backup", "list", "keeper", env=env)
        assert listed.returncode == 0 and backup in listed.stdout and "Completed" in listed.stdout

        # Bad input changes nothing: an unknown backup, a name already taken.
        unknown = dlxc("backup", "restore", "nope-20200101-000000", env=env)
        assert (unknown.returncode, unknown.stderr) == (1, "error: backup nope-20200101-000000 does not exist; `dlxc backup list` shows the backups\n")
        taken = dlxc("backup", "restore", backup, env=env)
        assert (taken.returncode, taken.stderr) == (
            1, "error: container keeper already exists; restore under another name with --as NEWNAME, or delete it first\n")
        missing = dlxc("backup", "create", "ghost", env=env)
        assert (missing.returncode, missing.stderr) == (1, "error: container ghost does not exist; nothing to back up\n")

        api.delete("keeper")
        wait_for(lambda: not api.exists("keeper"), timeout=60, what="keeper gone")

        restored = dlxc("backup", "restore", backup, "--as", "copy", env=env, timeout=120)
        assert restored.returncode == 0, restored.stderr
        assert restored.stdout == f"container/copy restored from backup {backup} on node {node.name}\n"
        copy = api.get("copy")["metadata"]
        assert copy["labels"] == {"app": "keeper"}  # selectors find the copy as they found the original
        assert copy["annotations"]["owner"] == "team-a"
        assert sh(node, "copy", "cat /home/u/data.txt; stat -c '%u:%g' /home/u/data.txt /home/u; test -e /bin/vi || echo no-vi") == (
            "precious\n1000:1000\n1000:1000\nno-vi\n")
        wait_for(lambda: api.condition("copy", "Restored"), timeout=30, what="Restored condition")
        assert api.condition("copy", "Restored")["message"].startswith(f"rootfs restored from backup {backup} (made ")
        events = [e for e in api.list("events") if e["spec"]["involvedObject"]["name"] == "copy"]
        assert any(e["spec"]["reason"] == "RestoredFromBackup" for e in events)

        # Deleting the backup removes its archive.
        archive = status["location"]
        subprocess.run(["test", "-f", archive], check=True)
        deleted = dlxc("backup", "delete", backup, env=env)
        assert (deleted.returncode, deleted.stdout) == (0, f"backup/{backup} deleted (archive removed)\n"), deleted.stderr
        assert subprocess.run(["test", "-e", archive]).returncode == 1
    finally:
        api.close()


def test_schedule_on_a_fake_clock_three_runs_keep_two_leaves_two_archives(cluster: Cluster) -> None:
    import asyncio
    from datetime import datetime, timedelta, timezone
    from pathlib import Path

    from controller.backups import BackupScheduler

    node = cluster.add_node()
    api = Api(cluster)
    try:
        bad = dlxc("apply", "-f", "-", env=cluster.api.env(), input=(
            "apiVersion: dlxc.io/v1\nkind: Container\nmetadata: {name: nightly}\n"
            "spec: {image: busybox, network: {type: none}, backup: {schedule: 'at three', keep: 2}}\n"))
        assert bad.returncode != 0 and "spec.backup.schedule: 'at three' is not a cron expression" in bad.stderr
        assert not api.exists("nightly")
        api.create("nightly", node, network={"type": "none"}, backup={"schedule": "0 3 * * *", "keep": 2})
        wait_for(lambda: api.phase("nightly") == "Running", timeout=60, what="nightly Running")
        created = datetime.fromisoformat(api.get("nightly")["metadata"]["creationTimestamp"].replace("Z", "+00:00"))

        async def three_days() -> list[list[str]]:
            made = []
            async with cluster.api.client() as client:
                for day in range(1, 4):
                    now = (created + timedelta(days=day)).replace(hour=3, minute=5, tzinfo=timezone.utc)
                    scheduler = BackupScheduler(client, clock=lambda: now)
                    made.append(await scheduler.tick(now))
                    await scheduler.tick(now)  # a second pass at the same time makes nothing more
                    names = made[-1]
                    deadline = asyncio.get_running_loop().time() + 60
                    while (await client.get("backups", names[0])).get("status", {}).get("phase") != "Completed":
                        assert asyncio.get_running_loop().time() < deadline, "backup did not complete"
                        await asyncio.sleep(0.3)
                await scheduler.tick(now)  # prunes the oldest now that all three ended
            return made

        made = asyncio.run(three_days())
        assert [len(m) for m in made] == [1, 1, 1]
        wait_for(lambda: len(api.list("backups")) == 2, timeout=30, what="pruned to 2")
        left = sorted(b["metadata"]["name"] for b in api.list("backups"))
        assert left == sorted([made[1][0], made[2][0]])
        archives = sorted(p.name for p in Path(api.get(left[0], "backups")["status"]["location"]).parent.glob("nightly-*"))
        assert archives == [f"{n}.tar.zst" for n in left]
    finally:
        api.close()


def test_snapshot_change_restore_keeps_the_file_and_its_owner(cluster: Cluster) -> None:
    node = cluster.add_node()
    api = Api(cluster)
    env = cluster.api.env()
    try:
        api.create("snappy", node, network={"type": "none"})
        wait_for(lambda: api.phase("snappy") == "Running", timeout=60, what="snappy Running")
        sh(node, "snappy", "mkdir -p /home/u && echo before > /home/u/f && chown -R 1000:1000 /home/u")

        made = dlxc("snapshot", "create", "snappy", "one", env=env, timeout=120)
        assert made.returncode == 0, made.stderr
        assert made.stdout.startswith("snapshot snappy/one created (frozen, ")
        assert lxc_state(node.lxc_path, "snappy") == "RUNNING"
        listed = dlxc("snapshot", "list", "snappy", "-o", "json", env=env)
        import json

        assert [s["name"] for s in json.loads(listed.stdout)] == ["one"]

        sh(node, "snappy", "echo after > /home/u/f && touch /home/u/later")
        unknown = dlxc("snapshot", "restore", "snappy", "two", env=env)
        assert (unknown.returncode, unknown.stderr) == (1, "error: container snappy has no snapshot two (it has: one)\n")
        restored = dlxc("snapshot", "restore", "snappy", "one", env=env, timeout=120)
        assert restored.returncode == 0, restored.stderr
        wait_for(lambda: lxc_state(node.lxc_path, "snappy") == "RUNNING", timeout=30, what="running again")
        assert sh(node, "snappy", "cat /home/u/f; stat -c '%u:%g' /home/u/f; test -e /home/u/later || echo no-later") == (
            "before\n1000:1000\nno-later\n")
        wait_for(lambda: api.phase("snappy") == "Running", timeout=30, what="phase Running")

        deleted = dlxc("snapshot", "delete", "snappy", "one", env=env, timeout=60)
        assert (deleted.returncode, deleted.stdout) == (0, "snapshot snappy/one deleted\n"), deleted.stderr
        assert not (node.lxc_path / "snappy" / "snapshots" / "one").exists()

        # A restore the kubelet refuses is a failed command with its reason, though the request was honoured.
        assert dlxc("snapshot", "create", "snappy", "gone", env=env, timeout=120).returncode == 0
        shutil.rmtree(node.lxc_path / "snappy" / "snapshots" / "gone")  # lost behind the status's back
        refused = dlxc("snapshot", "restore", "snappy", "gone", env=env, timeout=120)
        assert refused.returncode == 1, (refused.stdout, refused.stderr)
        assert refused.stderr.startswith("error: restore of snappy to gone failed: restore gone: snapshot gone of snappy "
                                         f"does not exist on node {node.name}"), refused.stderr
        # The condition stays for whoever looks later, through the passes that follow.
        time.sleep(2)
        conditions = {c["type"]: c for c in api.status("snappy").get("conditions", [])}
        assert "restore gone:" in conditions["SnapshotFailed"]["message"]
    finally:
        api.close()


def test_export_import_and_a_truncated_archive(cluster: Cluster, tmp_path) -> None:
    node = cluster.add_node()
    api = Api(cluster)
    env = cluster.api.env()  # the archive goes through the apiserver to and from the kubelet: no shared dir needed
    try:
        api.create("exp", node, network={"type": "none"})
        wait_for(lambda: api.phase("exp") == "Running", timeout=60, what="exp Running")
        sh(node, "exp", "mkdir -p /home/u && echo exported > /home/u/f && chown -R 1000:1000 /home/u")
        archive = tmp_path / "exp.tar.zst"
        exported = dlxc("export", "exp", "-o", str(archive), env=env, timeout=120)
        assert exported.returncode == 0, exported.stderr
        assert exported.stdout.startswith(f"container/exp exported to {archive} (") and archive.stat().st_size > 0
        # The export's backup goes once its kubelet removed the archive (its finalizer).
        wait_for(lambda: [b for b in api.list("backups") if b["spec"]["container"] == "exp"] == [], timeout=30,
                 what="the export's backup gone")

        # A truncated archive is refused and nothing is created.
        cut = tmp_path / "cut.tar.zst"
        cut.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
        refused = dlxc("import", str(cut), "--name", "half", env=env, timeout=60)
        assert refused.returncode == 1 and refused.stderr.startswith(f"error: {cut} ") and "truncated" in refused.stderr
        assert refused.stderr.endswith("; nothing was created\n")
        assert not api.exists("half") and [b for b in api.list("backups") if b["spec"]["container"] == "half"] == []
        taken = dlxc("import", str(archive), env=env, timeout=60)
        assert (taken.returncode, taken.stderr) == (
            1, "error: container exp already exists; import under another name with --name, or delete it first\n")

        imported = dlxc("import", str(archive), "--name", "imp", env=env, timeout=120)
        assert imported.returncode == 0, imported.stderr
        assert imported.stdout == f"container/imp imported from {archive} on node {node.name}\n"
        assert sh(node, "imp", "cat /home/u/f; stat -c '%u:%g' /home/u/f") == "exported\n1000:1000\n"
        assert api.get("imp")["spec"]["network"] == {"type": "none"}
    finally:
        api.close()


def test_move_between_nodes_and_refusals(cluster: Cluster, tmp_path) -> None:
    # Not one shared --backup-dir: whichever node the archive is written on, the other streams it
    # from there through the apiserver.
    first, second = cluster.add_node(), cluster.add_node(args=["--backup-dir", str(tmp_path / "own-backups")])
    api = Api(cluster)
    env = cluster.api.env()
    try:
        wait_ready(api, first, second)
        api.create("mover", first, network={"type": "none"}, nodeSelector={})
        wait_for(lambda: api.phase("mover") == "Running", timeout=60, what="mover Running")
        if api.get("mover")["spec"]["nodeName"] != first.name:
            first, second = second, first
        sh(first, "mover", "mkdir -p /home/u && echo moving > /home/u/f && chown -R 1000:1000 /home/u")

        same = dlxc("move", "mover", "--to", first.name, env=env)
        assert (same.returncode, same.stderr) == (1, f"error: container mover is already on node {first.name}\n")
        nowhere = dlxc("move", "mover", "--to", "ghost", env=env)
        assert (nowhere.returncode, nowhere.stderr) == (1, "error: node ghost does not exist\n")
        assert dlxc("cordon", second.name, env=env).returncode == 0
        cordoned = dlxc("move", "mover", "--to", second.name, env=env)
        assert (cordoned.returncode, cordoned.stderr) == (1, f"error: node {second.name} is cordoned; uncordon it first or choose another node\n")
        assert api.phase("mover") == "Running" and api.get("mover")["spec"]["nodeName"] == first.name
        assert dlxc("uncordon", second.name, env=env).returncode == 0

        moved = dlxc("move", "mover", "--to", second.name, env=env, timeout=180)
        assert moved.returncode == 0, moved.stderr
        assert moved.stdout.startswith(f"container/mover moved from {first.name} to {second.name} (downtime ")
        assert api.get("mover")["spec"]["nodeName"] == second.name and api.phase("mover") == "Running"
        assert sh(second, "mover", "cat /home/u/f; stat -c '%u:%g' /home/u/f") == "moving\n1000:1000\n"
        assert lxc_state(first.lxc_path, "mover") == "MISSING"
        assert not list((tmp_path / "own-backups").glob("*.tar.zst"))  # streamed into the unpacking, no copy here
        wait_for(lambda: [b for b in api.list("backups") if b["spec"]["container"] == "mover"] == [], timeout=30,
                 what="the move's backup gone")
        # The old directory, kept aside on the old node until the new copy ran, went with the backup.
        wait_for(lambda: not any((first.lxc_path / ".kept").glob("*")), timeout=30, what="the kept directory removed")
    finally:
        api.close()


NAMES = ("d1", "d2", "d3", "d4", "d5")


def test_drain_five_and_restore(cluster: Cluster, tmp_path) -> None:
    first, second = cluster.add_node(), cluster.add_node(args=["--backup-dir", str(tmp_path / "own-backups")])
    api = Api(cluster)
    env = cluster.api.env()
    try:
        wait_ready(api, first, second)
        assert dlxc("cordon", second.name, env=env).returncode == 0  # everything starts on the first node
        for name in NAMES:
            api.create(name, first, network={"type": "none"})
        api.create("pinned", first, network={"type": "none"}, failover="Never")
        for name in (*NAMES, "pinned"):
            wait_for(lambda: api.phase(name) == "Running", timeout=90, what=f"{name} Running")
            sh(first, name, f"mkdir -p /home/u && echo {name} > /home/u/f && chown -R 1000:1000 /home/u")
        assert dlxc("uncordon", second.name, env=env).returncode == 0

        blocked = dlxc("drain", first.name, env=env)
        assert (blocked.returncode, blocked.stderr) == (1, (
            f"error: containers with failover: Never are on {first.name}: pinned; they block the drain "
            "(nothing was changed): move them yourself, or drain with --force\n"))
        assert not api.get(first.name, "nodes")["spec"].get("unschedulable")

        api.delete("pinned")
        wait_for(lambda: not api.exists("pinned"), timeout=60, what="pinned gone")
        drained = dlxc("drain", first.name, "--max-parallel", "2", env=env, timeout=300)
        assert drained.returncode == 0, drained.stderr
        assert drained.stdout.splitlines()[-1] == f"node/{first.name} drained: 5 moved, 0 not"
        assert "waiting (--max-parallel 2 moves already running)" in drained.stderr
        for name in NAMES:
            assert api.get(name)["spec"]["nodeName"] == second.name
            assert sh(second, name, "cat /home/u/f; stat -c '%u' /home/u/f") == f"{name}\n1000\n"
        assert api.get(first.name, "nodes")["spec"]["unschedulable"] is True

        back = dlxc("uncordon", first.name, "--restore", env=env, timeout=300)
        assert back.returncode == 0, back.stderr
        for name in NAMES:
            obj = api.get(name)
            assert obj["spec"]["nodeName"] == first.name and "dlxc.io/drained-from" not in obj["metadata"].get("annotations", {})
            assert sh(first, name, "cat /home/u/f; stat -c '%u' /home/u/f") == f"{name}\n1000\n"
    finally:
        api.close()


def test_failover_with_a_shared_backup_dir_starts_from_the_latest_backup(cluster: Cluster) -> None:
    first, second = cluster.add_node(), cluster.add_node()  # both write to the session's shared backups dir
    api = Api(cluster)
    env = cluster.api.env()
    try:
        wait_ready(api, first, second)
        assert dlxc("cordon", second.name, env=env).returncode == 0
        api.create("fo", first, network={"type": "none"})
        wait_for(lambda: api.phase("fo") == "Running", timeout=60, what="fo Running")
        assert dlxc("uncordon", second.name, env=env).returncode == 0
        sh(first, "fo", "mkdir -p /home/u && echo backed-up > /home/u/a && chown -R 1000:1000 /home/u")
        made = dlxc("backup", "create", "fo", env=env, timeout=120)
        assert made.returncode == 0, made.stderr
        backup = made.stdout.split()[0].removeprefix("backup/")
        sh(first, "fo", "echo too-late > /home/u/b")

        # Power loss of the first node: its kubelet and its container die together.
        assert first.proc is not None
        first.proc.kill()
        first.proc.wait()
        subprocess.run(["lxc-stop", "-P", str(first.lxc_path), "-n", "fo", "--kill"], check=True, timeout=30)

        wait_for(lambda: api.get("fo")["spec"].get("nodeName") == second.name and api.phase("fo") == "Running",
                 timeout=90, what="fo Running on the second node")
        assert sh(second, "fo", "cat /home/u/a; stat -c '%u:%g' /home/u/a; test -e /home/u/b || echo no-b") == (
            "backed-up\n1000:1000\nno-b\n")
        wait_for(lambda: api.condition("fo", "Restored"), timeout=30, what="Restored condition")
        restored = api.condition("fo", "Restored")
        assert restored["status"] == "True" and restored["reason"] == "RestoredFromBackup"
        assert restored["message"].startswith(f"rootfs restored from backup {backup} (made ")
        assert restored["message"].endswith(f" on node {first.name}) after its failover")
        assert any(e["spec"]["reason"] == "RestoredFromBackup" and backup in e["spec"]["message"]
                   for e in api.list("events") if e["spec"]["involvedObject"]["name"] == "fo")

        # The lost node is NotReady: nothing moves there.
        wait_for(lambda: any(c["type"] == "Ready" and c["status"] != "True"
                             for c in api.get(first.name, "nodes")["status"].get("conditions", [])), timeout=30, what="NotReady")
        refused = dlxc("move", "fo", "--to", first.name, env=env)
        assert (refused.returncode, refused.stderr) == (1, f"error: node {first.name} is not Ready; choose another node\n")
        assert api.get("fo")["spec"]["nodeName"] == second.name and api.phase("fo") == "Running"
    finally:
        api.close()


def test_failover_without_a_shared_backup_dir_starts_from_the_image_and_says_so(cluster: Cluster, tmp_path) -> None:
    first = cluster.add_node()
    second = cluster.add_node(args=["--backup-dir", str(tmp_path / "own-backups")])  # cannot read the first's archives
    api = Api(cluster)
    env = cluster.api.env()
    try:
        wait_ready(api, first, second)
        assert dlxc("cordon", second.name, env=env).returncode == 0
        api.create("alone", first, network={"type": "none"})
        wait_for(lambda: api.phase("alone") == "Running", timeout=60, what="alone Running")
        assert dlxc("uncordon", second.name, env=env).returncode == 0
        made = dlxc("backup", "create", "alone", env=env, timeout=120)
        assert made.returncode == 0, made.stderr
        backup = made.stdout.split()[0].removeprefix("backup/")
        assert first.proc is not None
        first.proc.kill()
        first.proc.wait()
        subprocess.run(["lxc-stop", "-P", str(first.lxc_path), "-n", "alone", "--kill"], check=True, timeout=30)
        wait_for(lambda: api.get("alone")["spec"].get("nodeName") == second.name and api.phase("alone") == "Running",
                 timeout=90, what="alone Running on the second node")
        wait_for(lambda: api.condition("alone", "Restored"), timeout=30, what="Restored condition")
        assert api.condition("alone", "Restored")["status"] == "False"
        # Not in its own dir, and the node that has it is dead: it cannot be streamed either.
        message = api.condition("alone", "Restored")["message"]
        assert message.startswith(
            f"started from image busybox: the archive of backup {backup} is not in the --backup-dir of node {second.name}, "
            f"and node {first.name} cannot send it: "), message
        assert "cannot reach the kubelet of node" in message, message
    finally:
        api.close()


def test_a_kubelet_killed_during_a_backup_leaves_no_partial_archive_and_no_running_backup(cluster: Cluster) -> None:
    import os

    node = cluster.add_node()
    api = Api(cluster)
    env = cluster.api.env()
    try:
        api.create("big", node, network={"type": "none"})
        wait_for(lambda: api.phase("big") == "Running", timeout=60, what="big Running")
        # Incompressible data, so the archive takes a while to write.
        sh(node, "big", "mkdir /data && for i in 1 2 3 4 5 6; do head -c 100000000 /dev/urandom > /data/f$i; done")
        made = dlxc("backup", "create", "big", "--no-wait", env=env)
        assert made.returncode == 0, made.stderr
        backup = made.stdout.split()[0].removeprefix("backup/")
        wait_for(lambda: api.get(backup, "backups")["status"]["phase"] == "Running", timeout=30, what="backup Running")
        backups = node.lxc_path.parent / "backups"
        wait_for(lambda: (backups / f"{backup}.tar.zst.partial").exists(), timeout=30, what="the partial archive")
        assert node.proc is not None
        os.killpg(node.proc.pid, 9)
        node.proc.wait()
        assert lxc_state(node.lxc_path, "big") == "FROZEN"  # the kubelet died holding it frozen

        cluster.start_kubelet(node)
        wait_for(lambda: api.get(backup, "backups")["status"]["phase"] == "Failed", timeout=60, what="backup Failed")
        assert api.get(backup, "backups")["status"]["message"] == (
            f"the kubelet of node {node.name} restarted while writing the archive; create a new backup")
        assert not (backups / f"{backup}.tar.zst.partial").exists() and not (backups / f"{backup}.tar.zst").exists()
        wait_for(lambda: lxc_state(node.lxc_path, "big") == "RUNNING", timeout=30, what="thawed by the new kubelet")
    finally:
        api.close()


def test_a_failed_move_leaves_the_container_running_where_it_was(cluster: Cluster, tmp_path) -> None:
    import threading

    first = cluster.add_node()  # writes its archives to the session's backups dir
    second = cluster.add_node(args=["--backup-dir", str(tmp_path / "elsewhere")])  # must stream them from the first
    api = Api(cluster)
    env = cluster.api.env()
    try:
        wait_ready(api, first, second)
        assert dlxc("cordon", second.name, env=env).returncode == 0
        api.create("stay", first, network={"type": "none"})
        wait_for(lambda: api.phase("stay") == "Running", timeout=60, what="stay Running")
        assert dlxc("uncordon", second.name, env=env).returncode == 0
        sh(first, "stay", "mkdir -p /home/u && echo kept > /home/u/f && chown -R 1000:1000 /home/u")

        # The move's archive vanishes as soon as it is written (a disk lost, say): the target cannot
        # get it, and only the old rootfs kept on the first node can bring the container back.
        backups, done = first.lxc_path.parent / "backups", threading.Event()

        def lose_archives() -> None:
            while not done.wait(0.02):
                for path in backups.glob("stay-*.tar.zst"):
                    path.unlink(missing_ok=True)

        thief = threading.Thread(target=lose_archives, daemon=True)
        thief.start()
        try:
            moved = dlxc("move", "stay", "--to", second.name, "--timeout", "60s", env=env, timeout=240)
        finally:
            done.set()
            thief.join()
        assert moved.returncode == 1
        assert f"is not in the --backup-dir of node {second.name}, and node {first.name} cannot send it: " in moved.stderr
        assert f"error: move of stay to {second.name} failed; creating it again on {first.name} from its kept rootfs" in moved.stderr
        assert moved.stderr.rstrip().splitlines()[-1].startswith(f"error: container stay runs on {first.name} again (backup stay-")
        assert api.get("stay")["spec"]["nodeName"] == first.name and api.phase("stay") == "Running"
        assert sh(first, "stay", "cat /home/u/f; stat -c '%u:%g' /home/u/f") == "kept\n1000:1000\n"
        # Its own old directory came back (renamed, not unpacked: there was no archive left).
        wait_for(lambda: api.condition("stay", "Restored"), timeout=30, what="Restored condition")
        assert api.condition("stay", "Restored")["reason"] == "RootfsReinstated"
        assert not any((first.lxc_path / ".kept").glob("*"))
    finally:
        api.close()
