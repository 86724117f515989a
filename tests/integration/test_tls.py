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
