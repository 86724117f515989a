"""The trust between apiserver and kubelet streams, over real TLS sockets (a stand-in runtime, no LXC):
only the apiserver's client certificate opens a stream, and only the right node's kubelet is believed."""
from __future__ import annotations

import asyncio
import json
import ssl
from pathlib import Path

import aiohttp
import pytest

from apiserver.kubeletpool import start_message
from apiserver.streams import KubeletDialer
from dlxc.cluster.pki import ensure_pki, issue_apiserver_client, issue_etcd_peer, issue_kubelet_serving
from kubelet.settings import KubeletSettings
from kubelet.streams import CHANNEL_ERROR, SESSIONS_PROTOCOL, STREAM_PROTOCOL, StreamServer

pytestmark = pytest.mark.timeout(60)


class StoppedRuntime:
    """The container exists and is stopped; lxc-attach into it fails, saying so on stderr."""

    lxc_path = Path("/nonexistent-lxcpath")

    def state(self, name: str) -> str | None:
        return "STOPPED" if name == "web" else None

    def attach_command(self, name: str, command: list[str], **_: object) -> list[str]:
        return ["/bin/sh", "-c", "echo 'lxc-attach: web: Failed to get init pid' >&2; exit 1"]


async def exchange(pki: Path, context: ssl.SSLContext, *, server_hostname: str, kept: bool = False) -> str:
    """Start a kubelet stream server for node n1, exec on it with `context` (on a WebSocket of its own,
    or `kept`: on the endpoint for successive sessions); the status message."""
    cert, key = issue_kubelet_serving(pki, "n1")
    settings = KubeletSettings(
        node_name="n1", lxc_path=Path("/nonexistent-lxcpath"), image_dir=Path("/nonexistent-images"),
        stream_cert_file=cert, stream_key_file=key, stream_client_ca_file=pki / "ca.crt", stream_host="127.0.0.1",
    )
    server = StreamServer(StoppedRuntime(), settings, apiserver="http://127.0.0.1:1")
    endpoint = await server.start()
    try:
        async with aiohttp.ClientSession() as session:
            url, protocol = (f"https://{endpoint}/sessions", SESSIONS_PROTOCOL) if kept else (f"https://{endpoint}/exec/web", STREAM_PROTOCOL)
            async with session.ws_connect(
                url, params=None if kept else {"command": "true"}, protocols=(protocol,), ssl=context, server_hostname=server_hostname,
            ) as ws:
                if kept:
                    await ws.send_str(start_message("exec", "web", [("command", "true")]))
                message = await ws.receive()
                assert message.data[0] == CHANNEL_ERROR  # the status first: nothing lxc-attach printed is passed on
                return json.loads(message.data[1:])["message"]
    finally:
        await server.stop()


def client_context(pki: Path, cert: Path | None = None, key: Path | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    if cert and key:
        context.load_cert_chain(str(cert), str(key))
    return context


@pytest.mark.parametrize("kept", [False, True], ids=["per-session", "kept"])
def test_the_apiserver_certificate_opens_a_stream(tmp_path: Path, kept: bool) -> None:
    pki = tmp_path / "pki"
    ensure_pki(pki)
    cert, key = issue_apiserver_client(pki)
    dialer = KubeletDialer(cert=cert, key=key, ca=pki / "ca.crt")
    assert dialer.context is not None
    message = asyncio.run(exchange(pki, dialer.context, server_hostname="n1", kept=kept))
    assert message == "container web is Stopped"


@pytest.mark.parametrize("kept", [False, True], ids=["per-session", "kept"])
@pytest.mark.parametrize("who", ["no-certificate", "kubelet-certificate", "other-ca", "other-client-of-the-ca"])
def test_anyone_else_is_refused(tmp_path: Path, who: str, kept: bool) -> None:
    pki = tmp_path / "pki"
    ensure_pki(pki)
    if who == "no-certificate":
        context = client_context(pki)
    elif who == "kubelet-certificate":  # another node's kubelet: serverAuth only, and not the apiserver
        context = client_context(pki, *issue_kubelet_serving(pki, "n2"))
    elif who == "other-client-of-the-ca":  # a client certificate of the cluster CA, not the apiserver's: the name decides
        context = client_context(pki, *issue_etcd_peer(pki, "m1", "127.0.0.1"))
    else:  # a certificate of the right name from a CA the kubelet does not trust
        other = tmp_path / "other"
        ensure_pki(other)
        context = client_context(pki, *issue_apiserver_client(other))
    with pytest.raises((aiohttp.ClientError, ssl.SSLError, ConnectionError)):
        asyncio.run(exchange(pki, context, server_hostname="n1", kept=kept))


def test_the_apiserver_believes_only_the_node_named_in_the_certificate(tmp_path: Path) -> None:
    pki = tmp_path / "pki"
    ensure_pki(pki)
    cert, key = issue_apiserver_client(pki)
    dialer = KubeletDialer(cert=cert, key=key, ca=pki / "ca.crt")
    assert dialer.context is not None
    # The container is bound to n2, but n1's kubelet answers at the address: the handshake fails.
    with pytest.raises(aiohttp.ClientConnectorCertificateError):
        asyncio.run(exchange(pki, dialer.context, server_hostname="n2"))


def test_without_certificates_the_apiserver_says_how_to_configure_them() -> None:
    from dlxc.client.errors import TemporaryError

    dialer = KubeletDialer(cert=None, key=None, ca=None)
    with pytest.raises(TemporaryError, match="--kubelet-client-certificate"):
        dialer.url({"metadata": {"name": "n1"}, "status": {"streamEndpoint": "127.0.0.1:1"}}, "/exec/web")
    pki_less = KubeletDialer(cert=None, key=None, ca=None)
    assert pki_less.context is None


def _short_lived_serving(pki: Path, node: str, *, age: float, life: float) -> None:
    """kubelet-NODE.crt/.key signed by the CA in `pki`, issued `age` seconds ago for `life` seconds."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    ca = x509.load_pem_x509_certificate((pki / "ca.crt").read_bytes())
    ca_key = serialization.load_pem_private_key((pki / "ca.key").read_bytes(), password=None)
    key = ec.generate_private_key(ec.SECP256R1())
    start = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=age)
    cert = (
        x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"system:node:{node}")]))
        .issuer_name(ca.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(start).not_valid_after(start + dt.timedelta(seconds=life))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(node)]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    (pki / f"kubelet-{node}.key").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                                 serialization.NoEncryption()))
    (pki / f"kubelet-{node}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def test_a_short_lived_serving_certificate_is_renewed_and_served(make_api, tmp_path: Path) -> None:
    """A kubelet's serving certificate past 2/3 of its life: renewed by CSR through a real apiserver (for
    its own node name, 825 days), written in place, and served by the running stream server at once."""
    import datetime as dt

    from cryptography import x509

    from dlxc.client.api import Client
    from dlxc.client.config import ClientConfig
    from kubelet.certrenewal import CertRenewal

    pki = tmp_path / "pki"
    ensure_pki(pki)
    api = make_api(ca_file=pki / "ca.crt", ca_key_file=pki / "ca.key")
    node_token = api.new_token("kubelet-n1", "node:n1")
    _short_lived_serving(pki, "n1", age=120, life=150)  # due since 100 s of its 150
    cert, key = pki / "kubelet-n1.crt", pki / "kubelet-n1.key"
    settings = KubeletSettings(
        node_name="n1", lxc_path=Path("/nonexistent-lxcpath"), image_dir=Path("/nonexistent-images"),
        stream_cert_file=cert, stream_key_file=key, stream_client_ca_file=pki / "ca.crt", stream_host="127.0.0.1",
    )

    async def served(endpoint: str) -> x509.Certificate:
        host, port = endpoint.rsplit(":", 1)
        context = client_context(pki, *issue_apiserver_client(pki))
        _, writer = await asyncio.open_connection(host, int(port), ssl=context, server_hostname="n1")
        der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
        writer.close()
        return x509.load_der_x509_certificate(der)

    async def go() -> None:
        server = StreamServer(StoppedRuntime(), settings, apiserver=api.url)
        endpoint = await server.start()
        try:
            before = await served(endpoint)
            async with Client(ClientConfig(server=api.url, token=node_token)) as client:
                renewal = CertRenewal(client, "n1", cert_file=cert, key_file=key, renewed=server.reload_certificate)
                assert await renewal.check() is True
                assert await renewal.check() is False  # fresh now: nothing to do until 2/3 of 825 days
            after = await served(endpoint)
        finally:
            await server.stop()
        assert after.serial_number != before.serial_number
        assert after.subject.rfc4514_string() == "CN=system:node:n1"
        life = after.not_valid_after_utc - after.not_valid_before_utc
        assert dt.timedelta(days=825) <= life <= dt.timedelta(days=825, minutes=6), life
        assert x509.load_pem_x509_certificate(cert.read_bytes()).serial_number == after.serial_number
        assert key.stat().st_mode & 0o777 == 0o600 and not (pki / "kubelet-n1.crt.new").exists()

    asyncio.run(go())
