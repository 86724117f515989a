"""Console logs (this run and the previous one), passwd, and who may get inside, on real LXC containers."""
from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time

import pytest

from conftest import Cluster, dlxc
from kubelet_helpers import Api, wait_for

pytestmark = [pytest.mark.lxc, pytest.mark.timeout(300)]

PASSWORD = "corr3ct-Horse-battery"


def attach(node, name: str, *command: str) -> str:
    result = subprocess.run(
        ["lxc-attach", "-P", str(node.lxc_path), "-n", name, "--clear-env", "--", *command],
        capture_output=True, text=True, timeout=30, check=True,
    )
    return result.stdout


def test_logs_previous_passwd_and_who_may_get_inside(cluster: Cluster) -> None:
    node = cluster.add_node()
    api = Api(cluster)
    env = cluster.api.env()
    try:
        api.create("web", node, network={"type": "none"})
        wait_for(lambda: api.phase("web") == "Running", timeout=90, what="web Running")

        # What reaches the console is in the log (init's own output and anything written to /dev/console).
        assert dlxc("exec", "web", "--", "/bin/sh", "-c", "echo run-one-marker > /dev/console", env=env).returncode == 0
        wait_for(lambda: "run-one-marker" in dlxc("logs", "web", env=env).stdout, timeout=15, what="the marker in the log")
        assert dlxc("logs", "web", "--tail", "1", env=env).stdout == "run-one-marker\n"
        assert dlxc("logs", "web", "--since", "10m", env=env).stdout.endswith("run-one-marker\n")
        assert dlxc("logs", "web", "--previous", env=env).returncode == 1  # no run before this one yet

        # -f follows: a line written later arrives on the open stream. With --tail 0 only lines written
        # after the follower attached come out, and when it attaches is not known here: the marker is
        # written again each second until the first line arrives, which must be the marker.
        follower = subprocess.Popen(
            [sys.executable, "-m", "dlxc", "logs", "-f", "--tail", "0", "web"], env=env, stdout=subprocess.PIPE
        )
        try:
            assert follower.stdout is not None
            out, received = follower.stdout.fileno(), b""
            deadline = time.monotonic() + 60
            while b"\n" not in received:
                assert time.monotonic() < deadline, f"nothing followed within 60 s: {received!r}"
                marked = dlxc("exec", "web", "--", "/bin/sh", "-c", "echo followed-marker > /dev/console", env=env)
                assert marked.returncode == 0, marked.stderr
                until = time.monotonic() + 1
                while b"\n" not in received and (left := until - time.monotonic()) > 0:
                    if select.select([out], [], [], left)[0]:
                        chunk = os.read(out, 4096)
                        assert chunk, f"logs -f ended ({follower.wait()}) before the marker: {received!r}"
                        received += chunk
            assert received.split(b"\n")[0].removesuffix(b"\r") == b"followed-marker", received  # as text mode reads a line
        finally:
            follower.terminate()
            follower.wait()
            if follower.stdout:
                follower.stdout.close()

        # After a restart, --previous is the first run, the current log starts afresh.
        restarted = dlxc("restart", "web", env=env)
        assert restarted.returncode == 0, restarted.stderr
        wait_for(lambda: api.status("web").get("observedRestartAt") and api.phase("web") == "Running", timeout=60, what="restarted")
        previous = dlxc("logs", "web", "--previous", env=env)
        assert previous.returncode == 0 and "run-one-marker" in previous.stdout
        assert "run-one-marker" not in dlxc("logs", "web", env=env).stdout

        # passwd: a SHA-512 hash in /etc/shadow that verifies, written without chpasswd (busybox).
        result = dlxc("passwd", "web", "--password-stdin", env=env, input=PASSWORD + "\n")
        assert (result.returncode, result.stdout) == (0, "password of root in container/web set\n"), result.stderr
        shadow = attach(node, "web", "cat", "/etc/shadow")
        line = next(entry for entry in shadow.splitlines() if entry.startswith("root:"))
        hashed = line.split(":")[1]
        assert hashed.startswith("$6$")
        salt = hashed.split("$")[2]
        again = subprocess.run(["openssl", "passwd", "-6", "-salt", salt, "-stdin"], input=PASSWORD + "\n",
                               capture_output=True, text=True, check=True).stdout.strip()
        assert again == hashed
        assert attach(node, "web", "stat", "-c", "%a", "/etc/shadow").strip() == "600"
        # ... and the password itself is nowhere: not in Events, objects or the kubelet's log.
        everything = json.dumps([api.list(kind) for kind in ("containers", "nodes", "events", "leases")])
        assert PASSWORD not in everything
        assert node.log is not None and PASSWORD not in node.log.read_text()
        assert dlxc("passwd", "web", "--user", "nosuch", "--password-stdin", env=env, input="x\n").stderr.strip() == (
            "error: no user nosuch in /etc/passwd"
        )

        # Every exec leaves an audit Event: who, which container, what command.
        events = [e for e in api.list("events") if e["spec"]["reason"] == "Exec" and e["spec"]["involvedObject"]["name"] == "web"]
        messages = [e["spec"]["message"] for e in events]
        assert "admin (admin): exec /bin/sh -c 'echo run-one-marker > /dev/console'" in messages
        assert any(m.startswith("admin (admin): exec /bin/sh -c") and "dlxc-passwd root" in m for m in messages)

        # A viewer and a node token may not exec; nothing runs. The viewer may read the log.
        viewer = {**env, "DLXC_TOKEN": cluster.api.new_token("alice", "viewer")}
        kubelet = {**env, "DLXC_TOKEN": cluster.api.new_token("intruder", f"node:{node.name}")}
        for who, expected in ((viewer, "error: alice (viewer) may not exec containers/web"),
                              (kubelet, f"error: intruder (node:{node.name}) may not exec containers/web")):
            result = dlxc("exec", "web", "--", "touch", "/pwned", env=who)
            assert (result.returncode, result.stderr.strip()) == (1, expected)
        assert dlxc("logs", "web", env=viewer).returncode == 0
        assert dlxc("logs", "web", env=kubelet).returncode == 1
        assert subprocess.run(["lxc-attach", "-P", str(node.lxc_path), "-n", "web", "--", "test", "-e", "/pwned"]).returncode == 1

        # Nobody but the apiserver may talk to the kubelet's stream server: no client certificate, no stream.
        endpoint = api.get(node.name, "nodes")["status"]["streamEndpoint"]
        probe = subprocess.run(
            ["curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}", f"https://{endpoint}/exec/web?command=touch&command=/pwned"],
            capture_output=True, text=True, timeout=20,
        )
        assert probe.stdout in ("000", "")  # the TLS handshake fails without a certificate from the cluster CA
        assert subprocess.run(["lxc-attach", "-P", str(node.lxc_path), "-n", "web", "--", "test", "-e", "/pwned"]).returncode == 1

        # logs -f ends by itself when the container is deleted.
        follower = subprocess.Popen([sys.executable, "-m", "dlxc", "logs", "-f", "--tail", "0", "web"], env=env,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert follower.stdout is not None
        # Deleted once the follow is under way (a line written now has come through): deleted before, the
        # command would rightly say the container does not exist.
        out, received, deadline = follower.stdout.fileno(), b"", time.monotonic() + 60
        while b"\n" not in received:
            assert time.monotonic() < deadline, f"nothing followed within 60 s: {received!r}"
            dlxc("exec", "web", "--", "/bin/sh", "-c", "echo still-here > /dev/console", env=env)
            if select.select([out], [], [], 1)[0]:
                chunk = os.read(out, 4096)
                assert chunk, f"logs -f ended ({follower.wait()}) before it followed anything"
                received += chunk
        api.delete("web")
        _, err = follower.communicate(timeout=90)
        assert follower.returncode == 0, err.decode()
    finally:
        api.close()
