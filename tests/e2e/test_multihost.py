"""Three hosts formed through the CLI as a user would: `dlxc init` on the first, `dlxc join` on the others.

Each host is a network namespace with its own address, --state-dir and lxcpath (tests/e2e/multihost.py).
"""
from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from multihost import Host, MultiHost, lan, ok  # noqa: F401  (lan is a fixture)

pytestmark = [pytest.mark.timeout(600), pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")]

JOIN = re.compile(r"^  (dlxc join (https://\S+) --token (\S+) --ca-hash (sha256:[0-9a-f]{64}))$", re.MULTILINE)


def wait_until(what: str, check, *, timeout: float, every: float = 0.5, show=None):
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}" + (f": {show()}" if show else ""))
        time.sleep(every)


def nodes(lan: MultiHost) -> dict[str, str]:
    items = json.loads(ok(lan.dlxc(None, "get", "nodes", "-o", "json")))["items"]
    return {n["metadata"]["name"]: next((c["status"] for c in n["status"].get("conditions", []) if c["type"] == "Ready"), "?") for n in items}


def containers(lan: MultiHost) -> dict[str, tuple[str | None, str | None]]:
    items = json.loads(ok(lan.dlxc(None, "get", "containers", "-o", "json")))["items"]
    return {c["metadata"]["name"]: (c["spec"].get("nodeName"), (c.get("status") or {}).get("phase")) for c in items}


def refused(lan: MultiHost, host: Host, join: list[str], message: str) -> None:
    result = lan.dlxc(host, *join, "--state-dir", str(host.state_dir), timeout=60)
    assert (result.returncode, result.stdout) == (1, ""), result.stderr
    assert result.stderr == f"error: {message}\n"
    assert not host.state_dir.exists(), "a refused join wrote something"


def test_three_hosts_init_join_spread_refusals_and_remove(lan: MultiHost) -> None:
    h0, h1, h2, h3 = (lan.add_host(n) for n in ("h0", "h1", "h2", "h3"))
    init = ok(lan.dlxc(h0, "init", "--advertise-address", h0.address, "--node-name", "h0", "--state-dir", str(h0.state_dir), "--join-ttl", "30m"))
    assert f"control plane is up: apiserver https://{h0.address}:6443, node h0 Ready" in init
    assert f"logs in {h0.state_dir / 'log'}" in init
    command, server, token, ca_hash = JOIN.search(init).groups()
    assert lan.config.is_file()
    assert (h0.state_dir / "log" / "apiserver.log").is_file() and (h0.state_dir / "log" / "etcd.log").is_file()

    # A token for exactly one host: h2 joins with it, and then nobody else can.
    once = ok(lan.dlxc(None, "token", "create", "one-host", "--role", "join", "--uses", "1")).strip()
    joined = ok(lan.dlxc(h1, *command.split()[1:], "--node-name", "h1", "--state-dir", str(h1.state_dir), "--advertise-address", h1.address))
    assert joined.splitlines()[0] == f"node h1 joined {server} and is Ready"
    ok(lan.dlxc(h2, "join", server, "--token", once, "--ca-hash", ca_hash, "--node-name", "h2", "--state-dir", str(h2.state_dir)))
    assert nodes(lan) == {"h0": "True", "h1": "True", "h2": "True"}
    h1_node = json.loads(ok(lan.dlxc(None, "get", "nodes", "h1", "-o", "json")))
    assert h1_node["metadata"]["annotations"]["dlxc.io/advertise-address"] == h1.address
    assert (h1.state_dir / "log" / "kubelet.log").is_file() and (h1.state_dir / "data" / "lxc").is_dir()
    # The components run from their YAML config files, written where an operator finds them.
    assert "kubelet:\n  node-name: h1\n" in (h1.state_dir / "etc" / "agent.yaml").read_text()
    assert f"  ca-file: {h0.state_dir / 'etc' / 'pki' / 'ca.crt'}\n" in (h0.state_dir / "etc" / "server.yaml").read_text()

    # The refusals, each before anything is written on the joining host.
    wrong = "sha256:" + "0" * 64
    refused(lan, h3, ["join", server, "--token", token, "--ca-hash", wrong, "--node-name", "h3"],
            f"the CA of {server} has hash {ca_hash}, not the {wrong} given: a wrong server, or someone in between; nothing was sent or written")
    refused(lan, h3, ["join", server, "--token", once, "--ca-hash", ca_hash, "--node-name", "h3"],
            f"{server} refused the join: the join token 'one-host' is used up (1 of 1 uses); "
            f"make another with `dlxc token create NAME --role join`; nothing was written")
    brief = ok(lan.dlxc(None, "token", "create", "brief", "--role", "join", "--ttl", "1s")).strip()
    time.sleep(1.5)
    result = lan.dlxc(h3, "join", server, "--token", brief, "--ca-hash", ca_hash, "--node-name", "h3", "--state-dir", str(h3.state_dir))
    assert result.returncode == 1 and re.fullmatch(
        rf"error: {re.escape(server)} refused the join: the join token 'brief' expired at \S+Z; make a new one with "
        r"`dlxc token create NAME --role join --ttl 1h`; nothing was written\n", result.stderr), result.stderr
    assert not h3.state_dir.exists()
    refused(lan, h3, ["join", server, "--token", token, "--ca-hash", ca_hash, "--node-name", "h1"],
            f"{server} refused the join: node name 'h1' is taken by a live (Ready) node; pick another --node-name, "
            f"or `dlxc node remove h1` first if that host is gone; nothing was written")

    # Containers spread over the three hosts.
    manifest = lan.tmp / "spread.yaml"
    manifest.write_text("".join(
        f"---\napiVersion: dlxc.io/v1\nkind: Container\nmetadata: {{name: sp-{i}}}\nspec: {{image: busybox}}\n" for i in range(6)
    ))
    ok(lan.dlxc(None, "apply", "-f", str(manifest)))
    placed = wait_until("every container Running", lambda: (c := containers(lan)) and all(p == "Running" for _, p in c.values()) and c,
                        timeout=180, show=lambda: containers(lan))
    assert {node for node, _ in placed.values()} == {"h0", "h1", "h2"}, placed

    # Exec and logs reach every host: the init host's kubelet and the joined ones' serve their streams
    # with certificates for their node names (the joined ones' signed from a CSR at join), and the
    # apiserver dials them with its client certificate.
    for host in ("h0", "h1", "h2"):
        name = sorted(n for n, (node, _) in placed.items() if node == host)[0]
        run = lan.dlxc(None, "exec", name, "--", "/bin/sh", "-c", f"echo hello from {host}; exit 3", timeout=60)
        assert (run.returncode, run.stdout, run.stderr) == (3, f"hello from {host}\n", ""), run.stderr
        ok(lan.dlxc(None, "exec", name, "--", "/bin/sh", "-c", f"echo console-of-{host} > /dev/console", timeout=60))
        logs = wait_until(f"{name}'s console in `dlxc logs`", lambda: (out := ok(lan.dlxc(None, "logs", name, timeout=60)))
                          and f"console-of-{host}" in out and out, timeout=30)
        assert f"console-of-{host}\n" in logs.replace("\r\n", "\n")
    assert not (h1.state_dir / "etc" / "pki" / "ca.key").exists(), "the CA key left the control plane"
    assert (h1.state_dir / "etc" / "pki" / "kubelet-h1.key").stat().st_mode & 0o777 == 0o600

    # Removing h2: its credential revoked, its containers Running elsewhere, no ghost Node.
    on_h2 = sorted(n for n, (node, _) in placed.items() if node == "h2")
    # h2 is Ready and runs them: refused without --force (they would run twice until h2 fences them).
    busy = lan.dlxc(None, "node", "remove", "h2")
    assert (busy.returncode, busy.stderr) == (1, (
        f"error: node h2 is Ready and runs {len(on_h2)} container{'s' if len(on_h2) != 1 else ''} (nothing was changed): "
        "`dlxc drain h2` first to move them with their data, or --force to start them elsewhere from their image or last backup\n"))
    assert nodes(lan) == {"h0": "True", "h1": "True", "h2": "True"}
    removed = ok(lan.dlxc(None, "node", "remove", "h2", "--force"))
    assert removed == f"node/h2 removed: 1 credential revoked, {len(on_h2)} container{'s' if len(on_h2) != 1 else ''} rescheduled\n"
    assert nodes(lan) == {"h0": "True", "h1": "True"}
    moved = wait_until("h2's containers Running on h0 or h1", lambda: (c := containers(lan)) and all(
        c[n][0] in ("h0", "h1") and c[n][1] == "Running" for n in on_h2) and c, timeout=120,
                       show=lambda: (containers(lan), (lan.hosts[0].state_dir / "log" / "scheduler.log").read_text()[-3000:]))
    assert {node for node, _ in moved.values()} <= {"h0", "h1"}
    events = ok(lan.dlxc(None, "get", "events", "--for", f"container/{on_h2[0]}"))
    assert "NodeRemoved" in events and "moved off node h2: it was removed from the cluster" in events, events
    time.sleep(3)
    assert "h2" not in nodes(lan), "the removed host's kubelet registered its Node again"
