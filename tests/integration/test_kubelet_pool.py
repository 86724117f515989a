"""The apiserver's kept and ready WebSockets to kubelets, over real mutual TLS against a real kubelet stream
server (a stand-in runtime whose "container" runs commands on this host, no LXC): successive sessions on one,
one dialed ahead, redialed after the kubelet restarts, expired, renewed with the apiserver's certificate, an
older kubelet served one WebSocket per session, and nothing left behind."""
from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import aiohttp.web
import psutil
import pytest

from apiserver.streams import KubeletDialer
from dlxc.cluster.pki import ensure_pki, issue_apiserver_client, issue_kubelet_serving
from kubelet.settings import KubeletSettings
from kubelet.streams import CHANNEL_CLOSE, CHANNEL_ERROR, CHANNEL_STDIN, CHANNEL_STDOUT, StreamServer

pytestmark = pytest.mark.timeout(60)


class HostRuntime:
    """A running container `web` whose commands run right here: the kubelet's session code, no LXC."""

    lxc_path = Path("/nonexistent-lxcpath")

    def state(self, name: str) -> str | None:
        return "RUNNING" if name == "web" else None

    def attach_command(self, name: str, command: list[str], **_: Any) -> list[str]:
        return ["/bin/sh", "-c", 'exec "$@"', "sh", *command]


@asynccontextmanager
async def kubelet(pki: Path, port: int = 0) -> AsyncIterator[tuple[StreamServer, dict[str, Any]]]:
    cert, key = issue_kubelet_serving(pki, "n1")
    settings = KubeletSettings(
        node_name="n1", lxc_path=Path("/nonexistent-lxcpath"), image_dir=Path("/nonexistent-images"),
        stream_cert_file=cert, stream_key_file=key, stream_client_ca_file=pki / "ca.crt", stream_host="127.0.0.1",
        stream_port=port,
    )
    server = StreamServer(HostRuntime(), settings, apiserver="http://127.0.0.1:1")
    endpoint = await server.start()
    try:
        yield server, {"metadata": {"name": "n1"}, "status": {"streamEndpoint": endpoint}}
    finally:
        await server.stop()


async def ready(dialer: KubeletDialer, count: int) -> None:
    """Until `count` WebSockets are idle (the ones dialed ahead arrive in the background)."""
    for _ in range(300):
        if dialer.kept.idle_count() >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{dialer.kept.idle_count()} idle WebSockets, not {count}")


@pytest.fixture
def pki(tmp_path: Path) -> Path:
    ensure_pki(tmp_path / "pki")
    return tmp_path / "pki"


def dialer_for(pki: Path, **kwargs: Any) -> KubeletDialer:
    cert, key = issue_apiserver_client(pki)
    return KubeletDialer(cert=cert, key=key, ca=pki / "ca.crt", **kwargs)


# ---- successive sessions over one kept WebSocket (/sessions) ----


async def session(dialer: KubeletDialer, node: dict[str, Any], *command: str, stdin: bytes | None = None,
                  after: bytes = b"", name: str = "web") -> tuple[dict[str, Any], bytes]:
    """One exec as the apiserver runs it (open_session, start, splice): its status and stdout. `stdin`
    is sent then closed; `after` is sent once the command may have ended (stdin of a session over)."""
    params = [("command", c) for c in command] + ([("stdin", "1")] if stdin is not None or after else [])
    upstream = await dialer.open_session(node, "exec", name, params)
    await upstream.start()
    if stdin is not None:
        await upstream.send_bytes(bytes([CHANNEL_STDIN]) + stdin)
        await upstream.send_bytes(bytes([CHANNEL_CLOSE, CHANNEL_STDIN]))
    status: dict[str, Any] = {}
    out = b""
    async for message in upstream:
        if message.data[0] == CHANNEL_STDOUT:
            out += message.data[1:]
        elif message.data[0] == CHANNEL_ERROR:
            status = json.loads(message.data[1:])
            for _ in range(50):  # frames the kubelet reads only after the session ended
                await upstream.send_bytes(bytes([CHANNEL_STDIN]) + after)
    await upstream.close()
    return status, out


def test_successive_sessions_run_on_one_kept_connection(pki: Path) -> None:
    async def go() -> None:
        dialer = dialer_for(pki)
        me = psutil.Process()
        try:
            async with kubelet(pki) as (server, node):
                children = {child.pid for child in me.children()}
                # stdin sent while the session ends reaches no later session: `cat` reads only its own.
                assert await session(dialer, node, "sh", "-c", "exit 3", after=b"stale") == ({
                    "metadata": {}, "status": "Failure", "reason": "NonZeroExitCode",
                    "message": "command terminated with non-zero exit code: 3",
                    "details": {"causes": [{"reason": "ExitCode", "message": "3"}]},
                }, b"")
                for i in range(4):
                    assert await session(dialer, node, "cat", stdin=f"hello {i}".encode()) == (
                        {"metadata": {}, "status": "Success"}, f"hello {i}".encode())
                # One handshake on a session's path, then a start message on a kept WebSocket each time
                # (the first session's, or the one dialed ahead while it ran).
                await ready(dialer, 2)
                assert (dialer.dialed, dialer.kept.warmed, dialer.kept.reused, len(server.kept)) == (1, 1, 4, 2)
                assert not server.sessions and {child.pid for child in me.children()} == children
        finally:
            await dialer.close()

    asyncio.run(go())


def test_a_session_left_early_is_hung_up_and_its_connection_not_kept(pki: Path) -> None:
    async def go() -> None:
        dialer = dialer_for(pki)
        me = psutil.Process()
        try:
            async with kubelet(pki) as (server, node):
                children = {child.pid for child in me.children()}
                upstream = await dialer.open_session(node, "exec", "web", [("command", "sleep"), ("command", "60")])
                await upstream.start()
                for _ in range(200):
                    if server.sessions:
                        break
                    await asyncio.sleep(0.01)
                assert len(server.sessions) == 1
                await ready(dialer, 1)  # the one dialed ahead
                await upstream.close()  # the client went away mid-session
                for _ in range(300):
                    if not server.sessions and len(server.kept) == 1:
                        break
                    await asyncio.sleep(0.01)
                assert not server.sessions and len(server.kept) == 1  # the session's own was closed, not kept
                assert dialer.kept.idle_count() == 1
                assert {child.pid for child in me.children()} == children  # sleep was ended and reaped
        finally:
            await dialer.close()

    asyncio.run(go())


def test_kept_connections_close_after_a_burst_when_idle_and_when_the_kubelet_goes(pki: Path) -> None:
    async def go() -> None:
        dialer = dialer_for(pki, max_idle=0.5)
        try:
            async with kubelet(pki) as (server, node):
                outcomes = await asyncio.gather(*(session(dialer, node, "sh", "-c", f"exit {i % 2}") for i in range(10)))
                assert [o[0]["status"] for o in outcomes] == ["Success", "Failure"] * 5
                assert dialer.kept.idle_count() == dialer.kept.keep == 2  # the other eight closed as they ended
                await asyncio.sleep(0.8)
                assert dialer.kept.idle_count() == 0 and not server.kept  # idle past max_idle: closed both ends
                assert (await session(dialer, node, "true"))[0]["status"] == "Success"
                await ready(dialer, 2)
            for _ in range(200):  # the kubelet stopped: it closed the kept connection, the apiserver saw it
                if dialer.kept.idle_count() == 0:
                    break
                await asyncio.sleep(0.01)
            assert dialer.kept.idle_count() == 0
            # No kubelet at all: a clear connection error, not a wait on a dead kept WebSocket.
            with pytest.raises(aiohttp.ClientConnectorError):
                await session(dialer, node, "true")
            port = int(node["status"]["streamEndpoint"].rsplit(":", 1)[1])
            async with kubelet(pki, port) as (_, again):
                assert (await session(dialer, again, "true"))[0]["status"] == "Success"
        finally:
            await dialer.close()

    asyncio.run(go())


class OlderKubelet(StreamServer):
    """A kubelet from before `/sessions`: exec and attach on a WebSocket each."""

    def app(self) -> Any:
        app = aiohttp.web.Application()
        app.router.add_get("/exec/{name}", self.exec)
        return app


def test_a_kubelet_without_kept_sessions_gets_one_websocket_per_session(pki: Path) -> None:
    async def go() -> None:
        cert, key = issue_kubelet_serving(pki, "n1")
        settings = KubeletSettings(
            node_name="n1", lxc_path=Path("/nonexistent-lxcpath"), image_dir=Path("/nonexistent-images"),
            stream_cert_file=cert, stream_key_file=key, stream_client_ca_file=pki / "ca.crt", stream_host="127.0.0.1",
        )
        server = OlderKubelet(HostRuntime(), settings, apiserver="http://127.0.0.1:1")
        node = {"metadata": {"name": "n1"}, "status": {"streamEndpoint": await server.start()}}
        dialer = dialer_for(pki)
        try:
            for i in range(2):
                assert await session(dialer, node, "cat", stdin=f"old {i}".encode()) == (
                    {"metadata": {}, "status": "Success"}, f"old {i}".encode())
            assert dialer.kept.idle_count() == 0 and dialer.kept.reused == 0
        finally:
            await dialer.close()
            await server.stop()

    asyncio.run(go())


def test_a_second_session_takes_the_websocket_dialed_ahead(pki: Path) -> None:
    async def go() -> None:
        dialer = dialer_for(pki)
        try:
            async with kubelet(pki) as (_, node):
                long = asyncio.create_task(session(dialer, node, "sleep", "0.5"))
                await ready(dialer, 1)  # dialed in the background while the first session runs
                assert (await session(dialer, node, "true"))[0] == {"metadata": {}, "status": "Success"}
                assert (await long)[0]["status"] == "Success"
                # One handshake on a session's path; the second session's was done ahead.
                assert (dialer.dialed, dialer.kept.warmed, dialer.kept.reused) == (1, 2, 1)  # and the next one is being dialed
        finally:
            await dialer.close()

    asyncio.run(go())


def test_ready_websockets_expire_and_follow_a_renewed_client_certificate(pki: Path) -> None:
    async def go() -> None:
        dialer = dialer_for(pki, max_idle=0.3)
        try:
            async with kubelet(pki) as (server, node):
                await session(dialer, node, "true")
                await ready(dialer, 2)  # its own, given back, and the one dialed ahead
                await asyncio.sleep(0.5)
                assert dialer.kept.idle_count() == 0 and not server.kept  # closed at both ends, not kept open
                await session(dialer, node, "true")
                await ready(dialer, 2)
                old, reused = dialer.context, dialer.kept.reused
                for renewed in issue_apiserver_client(pki):  # a renewal: a new key and certificate at the same paths
                    renewed.unlink()
                issue_apiserver_client(pki)
                assert (await session(dialer, node, "true"))[0] == {"metadata": {}, "status": "Success"}
                assert dialer.context is not old
                assert dialer.kept.reused == reused  # nothing made with the old certificate was used
                for _ in range(100):
                    if len(server.kept) <= 2:
                        break
                    await asyncio.sleep(0.01)
                assert len(server.kept) <= 2  # the old ones were closed
        finally:
            await dialer.close()

    asyncio.run(go())


def test_twenty_sessions_leave_no_connection_or_process_behind(pki: Path) -> None:
    async def go() -> None:
        dialer = dialer_for(pki)
        me = psutil.Process()
        try:
            async with kubelet(pki) as (server, node):
                await session(dialer, node, "true")
                await ready(dialer, 2)
                fds, children = me.num_fds(), {child.pid for child in me.children()}  # other tests' etcd may be one
                outcomes = await asyncio.gather(*(session(dialer, node, "sh", "-c", f"exit {i % 2}") for i in range(20)))
                assert [o[0]["status"] for o in outcomes] == ["Success", "Failure"] * 10
                assert dialer.kept.idle_count() == 2
                assert not server.sessions and {child.pid for child in me.children()} == children
                for _ in range(100):  # the closing handshakes of the last sockets finish on the loop
                    if me.num_fds() <= fds and len(server.kept) == 2:
                        break
                    await asyncio.sleep(0.02)
                assert me.num_fds() <= fds and len(server.kept) == 2
        finally:
            await dialer.close()

    asyncio.run(go())


class FrozenRuntime(HostRuntime):
    """A container that LXC says is frozen: a command attached to it would sit there. Names are
    checked as LxcRuntime checks them."""

    def state(self, name: str) -> str | None:
        from kubelet.runtime import _check_name

        return "FROZEN" if _check_name(name) == "web" else None

    def attach_command(self, name: str, command: list[str], **kwargs: Any) -> list[str]:
        from kubelet.runtime import _check_name

        return super().attach_command(_check_name(name), command, **kwargs)


def test_a_plain_exec_into_a_container_that_does_not_run_is_refused_and_ended_at_once(pki: Path) -> None:
    async def go() -> None:
        cert, key = issue_kubelet_serving(pki, "n1")
        settings = KubeletSettings(
            node_name="n1", lxc_path=Path("/nonexistent-lxcpath"), image_dir=Path("/nonexistent-images"),
            stream_cert_file=cert, stream_key_file=key, stream_client_ca_file=pki / "ca.crt", stream_host="127.0.0.1",
        )
        server = StreamServer(FrozenRuntime(), settings, apiserver="http://127.0.0.1:1")
        node = {"metadata": {"name": "n1"}, "status": {"streamEndpoint": await server.start()}}
        dialer = dialer_for(pki)
        me = psutil.Process()
        children = {child.pid for child in me.children()}
        try:
            began = asyncio.get_running_loop().time()
            # The command would print and then sit, deaf to a hang-up (as in a frozen container); nothing
            # of it reaches the client. (One process: `exec`, so no child is forked while it is killed.)
            assert await session(dialer, node, "sh", "-c", "trap '' HUP; echo leaked; exec sleep 60") == (
                {"metadata": {}, "status": "Failure", "reason": "Conflict", "message": "container web is Frozen", "code": 409}, b"")
            assert asyncio.get_running_loop().time() - began < 1.5  # killed at once, not after the hang-up's grace
            assert await session(dialer, node, "true", name="No_Such") == (
                {"metadata": {}, "status": "Failure", "reason": "Conflict", "message": "'No_Such' is not a container name",
                 "code": 409}, b"")
            assert not server.sessions and {child.pid for child in me.children()} == children
        finally:
            await dialer.close()
            await server.stop()

    asyncio.run(go())
