"""The renewal stream's client side, against a strict HTTP/1.1 server on loopback: the bare connection
after `101` from an apiserver of version 3; otherwise JSON lines, then `+` once a JSON renewal is
acknowledged by an apiserver that says version 2; JSON only from an older one."""
from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import ssl
from pathlib import Path
from typing import Any

import pytest

from dlxc.client.api import Client
from dlxc.client.config import ClientConfig
from dlxc.client.errors import Forbidden, NotFound
from dlxc.client.renewals import STALLED, RenewalStream
from dlxc.cluster.pki import ensure_pki

pytestmark = pytest.mark.timeout(30)

SPEC = {"holderIdentity": "n1", "leaseDurationSeconds": 5}
OK = b'{"code":200,"resourceVersion":"9"}\n'


class Apiserver:
    """One renewal stream: decodes the chunked body strictly, answers each line (chunked), records them."""

    def __init__(self, *, version: bytes | None, answers: list[bytes] | None = None) -> None:
        self.version = version
        self.answers = answers or []
        self.lines: list[bytes] = []
        self.heads: list[str] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode()
            self.heads.append(head.split("\r\n")[0])
            if "upgrade: dlxc-renewals/3" in head.lower():
                assert "connection: upgrade" in head.lower() and "content-length: 0" in head.lower()
                if self.version == b"3":
                    writer.write(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: dlxc-renewals/3\r\n\r\n")
                    while line := await reader.readline():
                        self.answer(line.rstrip(b"\n"), writer, chunked=False)
                    return
                # An older apiserver ignores the Upgrade header and answers the empty request.
                extra = b"X-Dlxc-Renewals: %s\r\n" % self.version if self.version else b""
                writer.write(b"HTTP/1.1 200 OK\r\n%sTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" % extra)
                await writer.drain()
                return
            assert "transfer-encoding: chunked" in head.lower()
            extra = b"X-Dlxc-Renewals: %s\r\n" % self.version if self.version else b""
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\n%sTransfer-Encoding: chunked\r\n\r\n" % extra)
            while True:
                size = int((await reader.readuntil(b"\r\n")).strip(), 16)
                chunk = await reader.readexactly(size + 2)
                assert chunk.endswith(b"\r\n"), chunk
                if size == 0:
                    break
                for line in chunk[:-2].splitlines():
                    self.answer(line, writer, chunked=True)
            writer.write(b"0\r\n\r\n")
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


    def answer(self, line: bytes, writer: asyncio.StreamWriter, *, chunked: bool) -> None:
        self.lines.append(line)
        answer = self.answers.pop(0) if self.answers else OK
        writer.write(b"%x\r\n%s\r\n" % (len(answer), answer) if chunked else answer)


async def renewals(server: Apiserver, specs: list[dict[str, Any]]) -> list[Any]:
    listening = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    results: list[Any] = []
    async with Client(ClientConfig(server=f"http://127.0.0.1:{port}")) as client:
        stream = RenewalStream(client, "n1")
        for spec in specs:
            try:
                results.append(await stream.renew(spec))
            except NotFound as exc:
                results.append(exc)
        await stream.close()
    listening.close()
    await listening.wait_closed()
    return results


def decoded(line: bytes) -> Any:
    return "+" if line == b"+" else {k: v for k, v in json.loads(line)["spec"].items() if k != "renewTime"}


def test_a_version_2_apiserver_gets_stamps_after_the_first_acknowledged_renewal() -> None:
    server = Apiserver(version=b"2")
    results = asyncio.run(renewals(server, [SPEC, SPEC, dict(SPEC), SPEC]))
    assert [decoded(line) for line in server.lines] == [SPEC, "+", "+", "+"]
    assert results == [{"code": 200, "resourceVersion": "9"}] * 4
    # The upgrade asked for and not given, then one request for all.
    assert server.heads == ["POST /apis/dlxc.io/v1/leases/n1/renewals HTTP/1.1"] * 2


def test_a_version_3_apiserver_gets_the_lines_on_the_bare_connection() -> None:
    server = Apiserver(version=b"3")
    results = asyncio.run(renewals(server, [SPEC, SPEC, dict(SPEC), SPEC]))
    assert [decoded(line) for line in server.lines] == [SPEC, "+", "+", "+"]
    assert results == [{"code": 200, "resourceVersion": "9"}] * 4
    assert server.heads == ["POST /apis/dlxc.io/v1/leases/n1/renewals HTTP/1.1"]


def test_a_refused_upgrade_is_the_apiservers_error() -> None:
    async def refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        body = b'{"reason":"Forbidden","message":"node n2 may not renew leases n1","details":[],"code":403}'
        writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        await writer.drain()
        writer.close()

    async def go() -> Any:
        listening = await asyncio.start_server(refuse, "127.0.0.1", 0)
        port = listening.sockets[0].getsockname()[1]
        async with Client(ClientConfig(server=f"http://127.0.0.1:{port}")) as client:
            with pytest.raises(Forbidden) as caught:
                await RenewalStream(client, "n1").renew(SPEC)
        listening.close()
        await listening.wait_closed()
        return caught.value

    assert asyncio.run(go()).message == "node n2 may not renew leases n1"


def test_an_older_apiserver_gets_json_lines_only() -> None:
    server = Apiserver(version=None)
    asyncio.run(renewals(server, [SPEC, SPEC, SPEC]))
    assert [decoded(line) for line in server.lines] == [SPEC, SPEC, SPEC]
    assert all(json.loads(line)["spec"]["renewTime"].endswith("Z") for line in server.lines)


@pytest.mark.parametrize("version", [b"2", b"3"])
def test_a_changed_spec_or_an_error_goes_back_to_json_until_acknowledged(version: bytes) -> None:
    longer = {**SPEC, "leaseDurationSeconds": 40}
    missing = b'{"reason":"NotFound","message":"leases n1 not found","details":[],"code":404}\n'
    server = Apiserver(version=version, answers=[OK, OK, OK, missing, OK])
    results = asyncio.run(renewals(server, [SPEC, SPEC, longer, longer, longer, longer]))
    assert [decoded(line) for line in server.lines] == [SPEC, "+", longer, "+", longer, "+"]
    assert isinstance(results[3], NotFound)


def test_close_closes_the_connection_even_when_the_apiserver_stopped_reading() -> None:
    """A stream given up on an apiserver that no longer reads (hung, or stopped with its sockets open)
    still holds renewals it could not send: closing the connection then waits for them to go out, for
    ever, and the socket is left to the garbage collector (an unclosed transport warning in some later
    test). close() must close it."""
    answered = asyncio.Event()

    async def stalls(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n")
            writer.write(b"%x\r\n%s\r\n" % (len(OK), OK))  # the first renewal, then it reads nothing more
            answered.set()
            await asyncio.sleep(60)
        finally:
            writer.transport.abort()

    async def go() -> None:
        listening = await asyncio.start_server(stalls, "127.0.0.1", 0)
        port = listening.sockets[0].getsockname()[1]
        async with Client(ClientConfig(server=f"http://127.0.0.1:{port}")) as client:
            stream = RenewalStream(client, "n1")
            await stream.renew(SPEC)
            await answered.wait()
            transport = stream._transport
            assert transport is not None
            sock = transport.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
            big = {**SPEC, "holderIdentity": "n" * 1_000_000}
            for _ in range(STALLED):
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.1):
                        await stream.renew(big)
            assert stream.stalled and transport.get_write_buffer_size() > 0  # what the kernel would not take
            await stream.close()
            await asyncio.sleep(0)  # the transport closes its socket on the next turn of the loop
            assert sock.fileno() == -1, "the connection to the apiserver is still open"
        listening.close()
        for task in asyncio.all_tasks() - {asyncio.current_task()}:
            task.cancel()
        await listening.wait_closed()

    asyncio.run(go())


def test_a_stalled_upgraded_stream_is_cut_at_once(tmp_path: Path) -> None:
    """Version 3 on TLS: closing waits for the apiserver's answer to the close, and one that stopped
    reading never gives it. A stream that got no answers for STALLED renewals is cut instead, so the
    next renewal goes to the next apiserver at once."""
    pki = ensure_pki(tmp_path / "pki")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki.server_cert, pki.server_key)

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: dlxc-renewals/3\r\n\r\n")
            await reader.readline()
            writer.write(OK)  # the first renewal; then it reads and answers nothing (hung)
            writer.transport.pause_reading()
            await asyncio.sleep(60)
        finally:
            writer.transport.abort()

    async def go() -> float:
        listening = await asyncio.start_server(silent, "127.0.0.1", 0, ssl=context)
        port = listening.sockets[0].getsockname()[1]
        async with Client(ClientConfig(server=f"https://127.0.0.1:{port}", certificate_authority=str(pki.ca_cert))) as client:
            stream = RenewalStream(client, "n1")
            await stream.renew(SPEC)
            connection = stream._connection
            assert connection is not None and connection.transport is not None
            for _ in range(STALLED):
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.05):
                        await stream.renew(SPEC)
            assert stream.stalled
            started = asyncio.get_running_loop().time()
            await stream.close()
            took = asyncio.get_running_loop().time() - started
            await asyncio.wait_for(connection.lost, 0.5)  # cut, not closing
            assert not client.upgraded
        listening.close()
        for task in asyncio.all_tasks() - {asyncio.current_task()}:
            task.cancel()
        await listening.wait_closed()
        return took

    assert asyncio.run(go()) < 0.5
