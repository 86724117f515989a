"""The trust between apiserver and kubelet streams, over real TLS sockets (a stand-in runtime, no LXC):
only the apiserver's client certificate opens a stream, and only the right node's kubelet is believed."""
from __future__ import annotations

import asyncio
import json
import ssl
from pathlib import Path

import aiohttp
import pytest

from apiserver.streams import KubeletDialer
from dlxc.cluster.pki import ensure_pki, issue_apiserver_client, issue_kubelet_serving
from kubelet.settings import KubeletSettings
from kubelet.streams import CHANNEL_ERROR, STREAM_PROTOCOL, StreamServer

pytestmark = pytest.mark.timeout(60)


class StoppedRuntime:
    """The one runtime call a refused exec makes: the container exists and is stopped."""

    lxc_path = Path("/nonexistent-lxcpath")

    def state(self, name: str) -> str | None:
        return "STOPPED" if name == "web" else None


async def exchange(pki: Path, context: ssl.SSLContext, *, server_hostname: str) -> str:
    """Start a kubelet stream server for node n1, exec on it with `context`; the status message."""
    cert, key = issue_kubelet_serving(pki, "n1")
    settings = KubeletSettings(
        node_name="n1", lxc_path=Path("/nonexistent-lxcpath"), image_dir=Path("/nonexistent-images"),
        stream_cert_file=cert, stream_key_file=key, stream_client_ca_file=pki / "ca.crt", stream_host="127.0.0.1",
    )
    server = StreamServer(StoppedRuntime(), settings, apiserver="http://127.0.0.1:1")
    endpoint = await server.start()
    try:
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(
                f"https://{endpoint}/exec/web", params={"command": "true"}, protocols=(STREAM_PROTOCOL,),
                ssl=context, server_hostname=server_hostname,
            ) as ws:
                message = await ws.receive()
                assert message.data[0] == CHANNEL_ERROR
                return json.loads(message.data[1:])["message"]
    finally:
        await server.stop()


def client_context(pki: Path, cert: Path | None = None, key: Path | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    if cert and key:
        context.load_cert_chain(str(cert), str(key))
    return context


def test_the_apiserver_certificate_opens_a_stream(tmp_path: Path) -> None:
    pki = tmp_path / "pki"
    ensure_pki(pki)
    cert, key = issue_apiserver_client(pki)
    dialer = KubeletDialer(cert=cert, key=key, ca=pki / "ca.crt")
    assert dialer.context is not None
    message = asyncio.run(exchange(pki, dialer.context, server_hostname="n1"))
    assert message == "container web is Stopped"


@pytest.mark.parametrize("who", ["no-certificate", "kubelet-certificate", "other-ca"])
def test_anyone_else_is_refused(tmp_path: Path, who: str) -> None:
    pki = tmp_path / "pki"
    ensure_pki(pki)
    if who == "no-certificate":
        context = client_context(pki)
    elif who == "kubelet-certificate":  # another node's kubelet: serverAuth only, and not the apiserver
        context = client_context(pki, *issue_kubelet_serving(pki, "n2"))
    else:  # a certificate of the right name from a CA the kubelet does not trust
        other = tmp_path / "other"
        ensure_pki(other)
        context = client_context(pki, *issue_apiserver_client(other))
    with pytest.raises((aiohttp.ClientError, ssl.SSLError, ConnectionError)):
        asyncio.run(exchange(pki, context, server_hostname="n1"))


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
