"""TLS: the apiserver serves a certificate from its own CA; clients verify against exactly that CA."""
from __future__ import annotations

import asyncio
import subprocess
import sys

import httpx
import pytest

from dlxc.client.api import Client
from dlxc.client.config import ClientConfig
from dlxc.client.errors import TemporaryError

pytestmark = pytest.mark.timeout(60)


def test_clients_verify_the_server_against_the_cluster_ca(make_api) -> None:
    api = make_api(tls=True)
    assert api.url.startswith("https://")

    async def go() -> None:
        async with api.client() as c:
            created = await c.create("containers", {"metadata": {"name": "web"}, "spec": {"image": "busybox"}})
            assert created["metadata"]["name"] == "web"
            _, rv = await c.list("containers")
            await c.patch("containers", "web", {"metadata": {"labels": {"a": "b"}}})
            async for kind, obj in c.watch("containers", resource_version=created["metadata"]["resourceVersion"]):
                assert (kind, obj["metadata"]["labels"]) == ("MODIFIED", {"a": "b"})
                break
        # Without the CA the system trust store is used, which does not know the cluster's CA.
        async with Client(ClientConfig(server=api.url, token=api.token)) as stranger:
            with pytest.raises(TemporaryError, match="CERTIFICATE_VERIFY_FAILED"):
                await stranger.list("containers")

    asyncio.run(go())
    with pytest.raises(httpx.HTTPError):
        httpx.get(api.url.replace("https://", "http://") + "/healthz", timeout=5)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--insecure-http", "--host", "0.0.0.0"], "plain HTTP is only allowed on loopback, not on 0.0.0.0"),
        ([], "give --tls-cert-file and --tls-private-key-file, or --insecure-http on loopback"),
        (["--tls-cert-file", "/nonexistent.crt"], "give both --tls-cert-file and --tls-private-key-file"),
    ],
    ids=["plain-http-off-loopback", "no-tls-not-asked", "half-tls"],
)
def test_apiserver_refuses_plain_http_unless_asked_and_on_loopback(tmp_path, args: list[str], message: str) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text("")
    result = subprocess.run(
        [sys.executable, "-m", "dlxc", "apiserver", "--token-file", str(tokens), "--port", "1", *args],
        capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 2
    assert message in " ".join(result.stderr.replace("│", " ").split())


def test_an_oversized_body_gets_its_413_over_tls_every_time(make_api) -> None:
    # urllib writes the whole body before it reads the answer; when the server answered early and
    # closed at once, about one POST in four saw "EOF occurred in violation of protocol" instead.
    import ssl
    import urllib.error
    import urllib.request

    api = make_api(tls=True)
    context = ssl.create_default_context(cafile=str(api.ca))
    body = b'{"metadata":{"name":"big"},"spec":{"image":"' + b"a" * (2 * 1024 * 1024) + b'"}}'
    statuses = []
    for _ in range(20):
        request = urllib.request.Request(
            f"{api.url}/apis/dlxc.io/v1/containers", data=body, method="POST",
            headers={"Authorization": f"Bearer {api.token}", "Content-Type": "application/json"},
        )
        try:
            urllib.request.urlopen(request, context=context, timeout=10)
            statuses.append(200)
        except urllib.error.HTTPError as exc:
            statuses.append(exc.code)
            assert b'"reason":"RequestEntityTooLarge"' in exc.read()
        except OSError as exc:
            statuses.append(repr(exc))
    assert statuses == [413] * 20


def _served_serial(url: str) -> int:
    import socket
    import ssl
    from urllib.parse import urlsplit

    from cryptography import x509

    parts = urlsplit(url)
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE  # only looking at what is served
    with socket.create_connection((parts.hostname, parts.port), timeout=5) as raw, context.wrap_socket(raw) as tls:
        return x509.load_der_x509_certificate(tls.getpeercert(binary_form=True)).serial_number


def test_certs_check_expiration_and_renew_and_the_apiserver_serves_the_renewed_one(make_api, tmp_path) -> None:
    """`dlxc certs` on a control-plane host's pki: the table, a renewal of the apiserver's certificates
    with the same names, the running apiserver serving the new one without a restart, and the refusals."""
    import re
    import time

    from cryptography import x509

    from dlxc.cluster.pki import issue_apiserver_client, issue_kubelet_serving

    api = make_api(tls=True)
    pki = api.ca.parent
    issue_apiserver_client(pki)
    issue_kubelet_serving(pki, "n1")
    state = tmp_path / "host"
    (state / "etc").mkdir(parents=True)
    (state / "etc" / "pki").symlink_to(pki)

    def certs(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "dlxc", "certs", *args, "--state-dir", str(state)],
                              capture_output=True, text=True, timeout=30)

    checked = certs("check-expiration")
    assert checked.returncode == 0, checked.stderr
    rows = [re.split(r"\s{2,}", line.strip()) for line in checked.stdout.splitlines()]
    assert rows[0] == ["CERTIFICATE", "EXPIRES", "RESIDUAL", "RENEWAL DUE", "RENEWED BY"]
    assert [(r[0], r[2], r[3], r[4]) for r in rows[1:]] == [
        ("ca", "3649d", "no", "-"), ("apiserver", "824d", "no", "dlxc certs renew"),
        ("apiserver-kubelet-client", "824d", "no", "dlxc certs renew"), ("kubelet-n1", "824d", "no", "the kubelet")]

    before = x509.load_pem_x509_certificate((pki / "apiserver.crt").read_bytes())
    assert _served_serial(api.url) == before.serial_number
    time.sleep(1.1)  # a new mtime, whatever the filesystem's resolution
    renewed = certs("renew", "all")
    assert renewed.returncode == 0, renewed.stderr
    assert re.fullmatch(r"certificate apiserver renewed: valid until \S+ \S+ UTC\n"
                        r"certificate apiserver-kubelet-client renewed: valid until \S+ \S+ UTC\n", renewed.stdout), renewed.stdout
    after = x509.load_pem_x509_certificate((pki / "apiserver.crt").read_bytes())
    assert after.serial_number != before.serial_number
    names = x509.SubjectAlternativeName
    assert after.extensions.get_extension_for_class(names).value == before.extensions.get_extension_for_class(names).value
    assert after.subject == before.subject
    deadline = time.monotonic() + 10
    while _served_serial(api.url) != after.serial_number:
        assert time.monotonic() < deadline, "the apiserver still serves the certificate it started with"
        time.sleep(0.2)
    assert httpx.get(f"{api.url}/readyz", verify=api.verify()).status_code == 200  # the CA still verifies it

    for name, message in (("kubelet-n1", "kubelet-n1: the kubelet renews it itself (past 2/3 of its lifetime)"),
                          ("ca", "ca: the CA is not renewed"),
                          ("etcd", "etcd: there is no such certificate; renewable: apiserver, apiserver-kubelet-client, etcd-peer")):
        refused = certs("renew", name)
        assert (refused.returncode, refused.stdout, refused.stderr) == (1, "", f"error: {message}\n")
    (pki / "ca.key").rename(pki / "ca.key.away")
    try:
        refused = certs("renew", "apiserver")
        assert refused.stderr == f"error: {state / 'etc' / 'pki' / 'ca.key'} is missing: only a control-plane host (init, or join --control-plane) renews apiserver\n"
    finally:
        (pki / "ca.key.away").rename(pki / "ca.key")
