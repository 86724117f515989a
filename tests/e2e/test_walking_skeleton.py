"""What a user does first: apply the flat example, see it run in real LXC, change it, delete it."""
from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from conftest import REPO, Cluster, dlxc

pytestmark = [pytest.mark.lxc, pytest.mark.timeout(240)]


def wait_for(predicate, *, timeout: float, what: str, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")


def get_json(cluster: Cluster, *args: str) -> dict:
    result = dlxc("get", *args, "-o", "json", env=cluster.api.env())
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def lxc_state(lxc_path: Path, name: str) -> str:
    result = subprocess.run(["lxc-info", "-P", str(lxc_path), "-n", name, "-s", "-H"], capture_output=True, text=True)
    return result.stdout.strip() if result.returncode == 0 else f"missing ({result.stderr.strip()})"


def lxc_cgroup(lxc_path: Path, name: str, key: str) -> str:
    result = subprocess.run(["lxc-cgroup", "-P", str(lxc_path), "-n", name, key], capture_output=True, text=True, check=True)
    return result.stdout.strip()


def described_events(cluster: Cluster, name: str) -> dict[str, tuple[str, str]]:
    """The Events section of `dlxc describe container NAME`: reason -> (type, message), one row per event."""
    result = dlxc("describe", "container", name, env=cluster.api.env())
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    if "Events:" not in lines:
        return {}
    found = {}
    for line in lines[lines.index("Events:") + 2:]:
        if not line.startswith("  "):
            break
        type_, reason, _age, _count, message = line.split(None, 4)
        found[reason] = (type_, message)
    return found


def test_apply_run_change_delete(cluster: Cluster, tmp_path: Path) -> None:
    node = cluster.add_node()
    env = cluster.api.env()
    wait_for(
        lambda: any(c["type"] == "Ready" and c["status"] == "True" for c in get_json(cluster, "nodes", node.name)["status"]["conditions"])
        if dlxc("get", "nodes", node.name, env=env).returncode == 0 else False,
        timeout=60, what="the node to be Ready",
    )
    assert get_json(cluster, "nodes", node.name)["status"]["lxcPath"] == str(node.lxc_path)

    # The flat example of DESIGN.md, with the test node's bridge and a mount of a test dir.
    shared = cluster.lxc_root / f"shared-{node.name}"  # reachable by the container's mapped root
    shared.mkdir(mode=0o755)
    (shared / "hello.txt").write_text("hi\n")
    example = (REPO / "manifests/examples/web.yaml").read_text()
    manifest = tmp_path / "web.yaml"
    manifest.write_text(
        example.replace("{type: bridge}", f"{{type: bridge, bridge: {node.bridge}}}")
        .replace("/usr/share/common-licenses:/srv/licenses:ro", f"{shared}:/srv/shared:ro")
    )
    result = dlxc("apply", "-f", str(manifest), env=env)
    assert (result.returncode, result.stdout) == (0, "container/my-web-server created\n"), result.stderr

    start = time.monotonic()
    obj = wait_for(
        lambda: (o := get_json(cluster, "containers", "my-web-server"))["status"].get("phase") == "Running" and o,
        timeout=30, what="phase Running",
    )
    print(f"apply -> Running in {time.monotonic() - start:.2f}s")
    assert obj["spec"]["nodeName"] == node.name
    assert obj["status"]["ip"]
    assert obj["status"]["observedGeneration"] == obj["metadata"]["generation"]  # the bind is a spec change too
    assert obj["metadata"]["finalizers"] == ["dlxc.io/lxc-container"]
    assert lxc_state(node.lxc_path, "my-web-server") == "RUNNING"
    assert lxc_cgroup(node.lxc_path, "my-web-server", "memory.limit_in_bytes") == str(512 * 2**20)
    attach = subprocess.run(
        ["lxc-attach", "-P", str(node.lxc_path), "-n", "my-web-server", "--clear-env", "--", "/bin/cat", "/srv/shared/hello.txt"],
        capture_output=True, text=True, timeout=30,
    )
    assert attach.stdout == "hi\n", attach.stderr

    # What happened, as `dlxc describe` tells it: placed by the scheduler, created and started by the kubelet.
    events = wait_for(lambda: (e := described_events(cluster, "my-web-server")).keys() >= {"Scheduled", "Created", "Started"} and e,
                      timeout=15, what="the Scheduled, Created and Started events")
    assert events["Scheduled"][0] == "Normal" and events["Scheduled"][1].startswith(f"assigned to node {node.name}; ")
    assert events["Created"] == ("Normal", f"created on node {node.name} from image busybox")
    assert events["Started"] == ("Normal", f"started on node {node.name}")

    # Same manifest again: nothing to do.
    assert dlxc("apply", "-f", str(manifest), env=env).stdout == "container/my-web-server unchanged\n"

    # Change the memory: the limit changes on the running container.
    manifest.write_text(manifest.read_text().replace("memory_limit: 512", "memory_limit: 256"))
    result = dlxc("apply", "-f", str(manifest), env=env)
    assert result.stdout == "container/my-web-server configured\n", result.stderr
    wait_for(
        lambda: lxc_cgroup(node.lxc_path, "my-web-server", "memory.limit_in_bytes") == str(256 * 2**20),
        timeout=30, what="the new memory limit",
    )
    generation = obj["metadata"]["generation"] + 1
    wait_for(lambda: get_json(cluster, "containers", "my-web-server")["status"].get("observedGeneration") == generation,
             timeout=30, what=f"observedGeneration {generation}")

    events = wait_for(lambda: (e := described_events(cluster, "my-web-server")).get("Reconfigured") and e,
                      timeout=15, what="the Reconfigured event")
    assert events["Reconfigured"][0] == "Normal" and events["Reconfigured"][1].startswith("applied live, no restart; changed: ")

    # Power off through the spec: the LXC container stops and the phase says so.
    manifest.write_text(manifest.read_text() + "state: Stopped\n")
    assert dlxc("apply", "-f", str(manifest), env=env).stdout == "container/my-web-server configured\n"
    wait_for(lambda: lxc_state(node.lxc_path, "my-web-server") == "STOPPED", timeout=30, what="LXC STOPPED")
    wait_for(lambda: get_json(cluster, "containers", "my-web-server")["status"]["phase"] == "Stopped", timeout=30, what="phase Stopped")
    events = wait_for(lambda: (e := described_events(cluster, "my-web-server")).get("Stopped") and e, timeout=15, what="the Stopped event")
    assert events["Stopped"] == ("Normal", "stopped: spec.state is Stopped")  # busybox init halts: no Killing
    assert "Killing" not in events

    # Delete: the LXC container goes first, then the object.
    result = dlxc("delete", "container", "my-web-server", "--wait", "--timeout", "60", env=env)
    lines = result.stdout.splitlines()
    assert (result.returncode, lines[0], lines[-1]) == (0, "container/my-web-server deleted", "container/my-web-server gone"), result.stderr
    assert dlxc("get", "containers", "my-web-server", env=env).returncode == 1
    assert not (node.lxc_path / "my-web-server").exists()
    assert lxc_state(node.lxc_path, "my-web-server").startswith("missing")


def test_bad_manifest_names_file_object_and_field_and_writes_nothing(cluster: Cluster, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: good\nimage: busybox\n---\nname: Bad_Name\nimage: busybox\nmemory_limit: lots\ncolour: red\n")
    result = dlxc("apply", "-f", str(bad), env=cluster.api.env())
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"error: {bad} (document 2) container/Bad_Name: name: must be a DNS-1123 label: lowercase letters, digits and '-', starting and ending with a letter or digit",
        f"error: {bad} (document 2) container/Bad_Name: memory_limit: 'lots' is not a size; use a number with Ki, Mi, Gi or Ti (e.g. 512Mi)",
        f"error: {bad} (document 2) container/Bad_Name: colour: unknown field",
        "error: 3 error(s); nothing was applied",
    ]
    listed = dlxc("get", "containers", "-o", "json", env=cluster.api.env())
    assert json.loads(listed.stdout)["items"] == []


def test_missing_bridge_fails_with_a_message_naming_bridge_and_node(cluster: Cluster, tmp_path: Path) -> None:
    node = cluster.add_node()
    manifest = tmp_path / "c.yaml"
    manifest.write_text("name: lonely\nimage: busybox\nnetwork: {type: bridge, bridge: nosuchbr0}\n")
    assert dlxc("apply", "-f", str(manifest), env=cluster.api.env()).returncode == 0
    obj = wait_for(
        lambda: (o := get_json(cluster, "containers", "lonely"))["status"].get("phase") == "Failed" and o,
        timeout=60, what="phase Failed",
    )
    assert obj["status"]["message"] == f"bridge 'nosuchbr0' does not exist on node {node.name}"


def test_network_none_has_loopback_only(cluster: Cluster, tmp_path: Path) -> None:
    node = cluster.add_node()
    manifest = tmp_path / "c.yaml"
    manifest.write_text("name: isolated\nimage: busybox\nnetwork: {type: none}\n")
    assert dlxc("apply", "-f", str(manifest), env=cluster.api.env()).returncode == 0
    obj = wait_for(
        lambda: (o := get_json(cluster, "containers", "isolated"))["status"].get("phase") == "Running" and o,
        timeout=60, what="phase Running",
    )
    assert "ip" not in obj["status"]
    links = subprocess.run(
        ["lxc-attach", "-P", str(node.lxc_path), "-n", "isolated", "--", "/bin/ls", "/sys/class/net"],
        capture_output=True, text=True, timeout=30,
    )
    assert links.stdout.split() == ["lo"], links.stderr
