"""An apiserver over a 3-member etcd: kill -9 the etcd leader during 1,000 writes; nothing acknowledged is lost."""
from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.timeout(180)


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def etcd3(tmp_path: Path) -> Iterator[list[tuple[str, subprocess.Popen]]]:
    """Three etcd members on loopback: [(client URL, process)]."""
    names = ["m0", "m1", "m2"]
    ports = {n: (_port(), _port()) for n in names}
    cluster = ",".join(f"{n}=http://127.0.0.1:{ports[n][1]}" for n in names)
    members = []
    try:
        for n in names:
            client, peer = ports[n]
            with (tmp_path / f"etcd-{n}.log").open("wb") as log:
                proc = subprocess.Popen(
                    ["etcd", "--name", n, "--data-dir", str(tmp_path / n),
                     "--listen-client-urls", f"http://127.0.0.1:{client}", "--advertise-client-urls", f"http://127.0.0.1:{client}",
                     "--listen-peer-urls", f"http://127.0.0.1:{peer}", "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
                     "--initial-cluster", cluster, "--initial-cluster-state", "new", "--initial-cluster-token", tmp_path.name],
                    stdout=log, stderr=subprocess.STDOUT,
                )
            members.append((f"http://127.0.0.1:{client}", proc))
        deadline = time.monotonic() + 30
        while leader_index(members) is None:
            assert time.monotonic() < deadline, "the etcd cluster elected no leader"
            time.sleep(0.2)
        yield members
    finally:
        for _, proc in members:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(10)


def leader_index(members: list[tuple[str, subprocess.Popen]]) -> int | None:
    for index, (url, proc) in enumerate(members):
        if proc.poll() is not None:
            continue
        try:
            status = httpx.post(f"{url}/v3/maintenance/status", json={}, timeout=1).json()
        except (httpx.HTTPError, ValueError):
            continue
        if "leader" in status and status["leader"] == status["header"]["member_id"]:
            return index
    return None


def test_killing_the_etcd_leader_loses_no_acknowledged_write(etcd3: list, make_api: Any) -> None:
    endpoints = [url for url, _ in etcd3]
    # The leader first: the apiserver talks to it and must fail over when it dies.
    lead = leader_index(etcd3)
    assert lead is not None
    api = make_api(etcd_endpoints=[endpoints[lead], *(e for i, e in enumerate(endpoints) if i != lead)])
    acked: list[str] = []
    gaps: list[float] = []

    async def go() -> None:
        async with api.client() as c:
            last_ok = time.monotonic()
            for i in range(1000):
                if i == 300:
                    os.kill(etcd3[lead][1].pid, signal.SIGKILL)
                name = f"w-{i}"
                while True:
                    try:
                        await c.create("containers", {"metadata": {"name": name}, "spec": {"image": "busybox"}})
                    except Exception as exc:  # 503 while etcd elects; AlreadyExists if the lost answer's write landed
                        if type(exc).__name__ == "AlreadyExists":
                            break
                        await asyncio.sleep(0.1)
                        continue
                    break
                now = time.monotonic()
                gaps.append(now - last_ok)
                last_ok = now
                acked.append(name)
            items, _ = await c.list("containers")
            stored = {o["metadata"]["name"] for o in items}
            assert set(acked) <= stored
            assert len(stored) == 1000

    asyncio.run(go())
    assert etcd3[lead][1].poll() is not None
    assert max(gaps) < 10.0, f"the API was unavailable for {max(gaps):.1f}s"
    print(f"longest gap after killing the etcd leader: {max(gaps):.2f}s")


def test_the_etcd_probe_names_the_leader_sizes_and_a_dead_member(etcd3: list, make_api: Any) -> None:
    """What the dashboard's overview shows of etcd: each member asked itself, a dead one unhealthy with why.
    Then `dlxc node remove` of a control-plane host: refused while removing its (running) member would
    leave etcd without a quorum, the dead member removed."""
    from apiserver.etcdhealth import probe
    from apiserver.storage import Store

    async def look() -> Any:
        store = Store([etcd3[0][0], etcd3[1][0]], prefix="/probe")
        await store.connect()
        try:
            return await probe(store, timeout=2.0)
        finally:
            await store.close()

    health = asyncio.run(look())
    leader = leader_index(etcd3)
    assert [(m.name, m.client_url, m.healthy, m.leader, m.in_use) for m in health.members] == [
        (f"m{i}", url, True, i == leader, i == 0) for i, (url, _) in enumerate(etcd3)]
    assert health.leader == f"m{leader}" and health.error == ""
    assert all(m.db_size and m.db_size > 0 and m.version.startswith("3.") for m in health.members)
    victim = next(i for i in (1, 2) if i != leader)
    etcd3[victim][1].kill()
    etcd3[victim][1].wait(10)
    health = asyncio.run(look())
    dead = health.members[victim]
    assert (dead.name, dead.healthy, dead.leader, dead.db_size) == (f"m{victim}", False, False, None)
    assert dead.error
    assert health.healthy == 2 and health.leader == f"m{leader}"

    # `dlxc node remove` of the running member's host: etcd would lose quorum (one of three is dead);
    # refused before anything else changes. The dead one's host goes, its member with it.
    from conftest import dlxc

    api = make_api(etcd_endpoints=[etcd3[0][0]])
    alive = 3 - victim
    for name in (f"m{alive}", f"m{victim}"):
        made = httpx.post(f"{api.url}/apis/dlxc.io/v1/nodes", headers={"Authorization": f"Bearer {api.token}"},
                          json={"metadata": {"name": name}, "spec": {}})
        assert made.status_code == 201, made.text
    refused = dlxc("node", "remove", f"m{alive}", env=api.env())
    assert refused.returncode != 0 and refused.stdout == "", refused.stdout
    assert refused.stderr.startswith(f"error: etcd refused to remove member 'm{alive}': without it, the other 2 members would not have a quorum connected ("), refused.stderr
    assert refused.stderr.endswith("); a member is stopped or unreachable, or joined seconds ago: bring it back or wait, or remove a dead member first\n"), refused.stderr
    assert httpx.get(f"{api.url}/apis/dlxc.io/v1/nodes/m{alive}", headers={"Authorization": f"Bearer {api.token}"}).status_code == 200
    removed = dlxc("node", "remove", f"m{victim}", env=api.env())
    assert (removed.returncode, removed.stdout) == (0, f"node/m{victim} removed: 0 credentials revoked, 0 containers rescheduled, etcd member removed\n"), removed.stderr
    members = httpx.get(f"{api.url}/apis/dlxc.io/v1/etcdmembers", headers={"Authorization": f"Bearer {api.token}"}).json()["items"]
    assert [m["name"] for m in members] == sorted(["m0", f"m{alive}"])


def test_etcd_serves_its_peer_port_with_the_peer_certificate_and_takes_a_renewed_one(tmp_path: Path) -> None:
    """A member started as `dlxc init` starts it (mutual TLS on the peer port, `pki/etcd-peer.crt`):
    a peer certificate from the CA opens the port, none does not, and after `dlxc certs renew
    etcd-peer` the next connection gets the new certificate, with no restart."""
    import ssl
    import sys

    from cryptography import x509

    from dlxc.cluster.host import HostLayout, _etcd
    from dlxc.cluster.pki import ensure_pki, issue_etcd_peer

    layout = HostLayout.of(tmp_path / "host")
    ensure_pki(layout.pki)
    issue_etcd_peer(layout.pki, "m", "127.0.0.1")
    client, peer = _port(), _port()
    etcd = _etcd(layout, name="m", client=f"http://127.0.0.1:{client}", peer=f"https://127.0.0.1:{peer}",
                 initial_cluster=f"m=https://127.0.0.1:{peer}", existing=False)
    assert "--peer-client-cert-auth" in etcd.args
    layout.data.mkdir(parents=True)
    with (tmp_path / "etcd.log").open("wb") as log:
        proc = subprocess.Popen(etcd.args, stdout=log, stderr=subprocess.STDOUT)

    def served(*, with_cert: bool) -> int:
        context = ssl.create_default_context(cafile=str(layout.pki / "ca.crt"))
        if with_cert:
            context.load_cert_chain(str(layout.pki / "etcd-peer.crt"), str(layout.pki / "etcd-peer.key"))
        with socket.create_connection(("127.0.0.1", peer), timeout=5) as raw, context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            tls.sendall(b"GET /version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert b'"etcdserver":"3.' in tls.recv(4096)
            return x509.load_der_x509_certificate(tls.getpeercert(binary_form=True)).serial_number

    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{client}/health", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, (tmp_path / "etcd.log").read_text()[-2000:]
                time.sleep(0.2)
        before = served(with_cert=True)
        assert before == x509.load_pem_x509_certificate((layout.pki / "etcd-peer.crt").read_bytes()).serial_number
        with pytest.raises((ssl.SSLError, ConnectionError, AssertionError)):
            served(with_cert=False)
        renewed = subprocess.run([sys.executable, "-m", "dlxc", "certs", "renew", "etcd-peer", "--state-dir", str(tmp_path / "host")],
                                 capture_output=True, text=True, timeout=30)
        assert renewed.returncode == 0 and renewed.stdout.startswith("certificate etcd-peer renewed: valid until "), renewed.stderr
        after = x509.load_pem_x509_certificate((layout.pki / "etcd-peer.crt").read_bytes()).serial_number
        assert after != before and served(with_cert=True) == after
    finally:
        proc.terminate()
        proc.wait(10)
