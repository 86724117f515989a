"""The client side of a container's streams: exec and console attach over one WebSocket, the log over HTTP.

A WebSocket message's first byte names its channel (`v5.channel.k8s.io`, as in Kubernetes):
0 stdin, 1 stdout, 2 stderr, 3 the final status (JSON), 4 a resize (`{"Width": W, "Height": H}`),
255 close (`[255, 0]`: end of stdin). Output is handed to `on_output` one message at a time and
the next is read only when it returns, so memory stays flat whatever the command prints.
"""
from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from dlxc.client.api import PREFIX, Client, _describe
from dlxc.client.errors import TemporaryError, Unreachable, error_from_response

__all__ = [
    "CHANNEL_CLOSE", "CHANNEL_ERROR", "CHANNEL_RESIZE", "CHANNEL_STDERR", "CHANNEL_STDIN", "CHANNEL_STDOUT",
    "STREAM_PROTOCOL", "Outcome", "Stream", "open_stream", "read_archive", "read_log", "status_outcome", "write_archive",
]

STREAM_PROTOCOL = "v5.channel.k8s.io"
CHANNEL_STDIN, CHANNEL_STDOUT, CHANNEL_STDERR, CHANNEL_ERROR, CHANNEL_RESIZE, CHANNEL_CLOSE = 0, 1, 2, 3, 4, 255
ERROR_HEADER = "X-Dlxc-Error"


@dataclass(frozen=True)
class Outcome:
    """How a session ended: the command's exit code, or a message when it did not run to its end."""

    exit_code: int
    message: str | None = None


def status_outcome(status: dict[str, Any]) -> Outcome:
    """The exit code a shell would report for a channel-3 status (1 with a message for other failures)."""
    if status.get("status") == "Success":
        return Outcome(0)
    for cause in (status.get("details") or {}).get("causes") or []:
        if cause.get("reason") == "ExitCode" and str(cause.get("message", "")).isdigit():
            return Outcome(int(cause["message"]))
    return Outcome(1, str(status.get("message") or "the session failed"))


class Stream:
    """An open exec or attach session."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws

    async def send_stdin(self, data: bytes) -> None:
        await self.ws.send_bytes(bytes([CHANNEL_STDIN]) + data)

    async def close_stdin(self) -> None:
        await self.ws.send_bytes(bytes([CHANNEL_CLOSE, CHANNEL_STDIN]))

    async def resize(self, width: int, height: int) -> None:
        await self.ws.send_bytes(bytes([CHANNEL_RESIZE]) + json.dumps({"Width": width, "Height": height}).encode())

    async def output(self, on_output: Callable[[int, bytes], Awaitable[None] | None]) -> Outcome:
        """Hand stdout (1) and stderr (2) to `on_output` until the status arrives; then the outcome."""
        outcome: Outcome | None = None
        async for message in self.ws:
            if message.type != aiohttp.WSMsgType.BINARY or not message.data:
                continue
            channel = message.data[0]
            if channel in (CHANNEL_STDOUT, CHANNEL_STDERR):
                done = on_output(channel, message.data[1:])
                if done is not None:
                    await done
            elif channel == CHANNEL_ERROR:
                try:
                    outcome = status_outcome(json.loads(message.data[1:]))
                except ValueError:
                    outcome = Outcome(1, "the session ended with an unreadable status")
        await self.ws.close()
        return outcome or Outcome(1, "the session ended without an exit status (the node or the apiserver went away)")

    async def close(self) -> None:
        await self.ws.close()


async def open_stream(client: Client, name: str, subresource: str, params: list[tuple[str, str]]) -> Stream:
    """Open `containers/NAME/SUBRESOURCE` (exec or attach); an API error when the server refuses."""
    url = client.server.replace("https://", "wss://", 1).replace("http://", "ws://", 1) + f"{PREFIX}/containers/{name}/{subresource}"
    try:
        ws = await client._http().ws_connect(  # noqa: SLF001 - the client's one session
            url, params=params, headers=client.headers, protocols=(STREAM_PROTOCOL,), ssl=client.ssl,
            max_msg_size=8 * 1024 * 1024, heartbeat=30.0, timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=10.0),
        )
    except aiohttp.WSServerHandshakeError as exc:
        message = (exc.headers or {}).get(ERROR_HEADER) if exc.headers else None
        raise error_from_response(exc.status, {"message": message or f"the server refused the {subresource} ({exc.status})"}) from None
    except (aiohttp.ClientError, OSError) as exc:
        raise Unreachable(f"cannot reach the apiserver at {client.server}: {_describe(exc)}") from None
    return Stream(ws)


async def read_log(client: Client, name: str, params: dict[str, str]) -> AsyncIterator[bytes]:
    """The container's console log as chunks of bytes (following it when params has follow=1)."""
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=10.0, sock_read=None)
    url = client.server + f"{PREFIX}/containers/{name}/log"
    try:
        async with client._http().get(url, params=params, headers=client.headers, ssl=client.ssl, timeout=timeout) as response:  # noqa: SLF001
            if response.status != 200:
                try:
                    body = await response.json(content_type=None)
                except ValueError:
                    body = {"message": await response.text()}
                raise error_from_response(response.status, body)
            async for chunk in response.content.iter_any():
                yield chunk
    except (aiohttp.ClientError, OSError) as exc:
        raise TemporaryError(f"cannot read the log of container {name} from {client.server}: {_describe(exc)}") from None


async def read_archive(client: Client, backup: str, *, for_container: str | None = None) -> AsyncIterator[bytes]:
    """The archive of a Completed backup, from the kubelet that holds it, as chunks of bytes (`dlxc export`;
    a kubelet restoring `for_container` from it, which its node token may then read)."""
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=10.0, sock_read=300.0)
    url = client.server + f"{PREFIX}/backups/{backup}/archive"
    params = {"for": for_container} if for_container else None
    try:
        async with client._http().get(url, headers=client.headers, ssl=client.ssl, timeout=timeout, params=params) as response:  # noqa: SLF001
            if response.status != 200:
                try:
                    body = await response.json(content_type=None)
                except ValueError:
                    body = {"message": await response.text()}
                raise error_from_response(response.status, body)
            async for chunk in response.content.iter_chunked(1 << 20):
                yield chunk
    except (aiohttp.ClientError, OSError) as exc:
        raise TemporaryError(f"cannot read the archive of backup {backup} from {client.server}: {_describe(exc)}") from None


async def write_archive(client: Client, backup: str, chunks: AsyncIterator[bytes]) -> Any:
    """Send an archive to the kubelet of the node the backup's status names (`dlxc import`); its answer:
    checksum, size, location, spec and index of what it checked and kept."""
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=10.0, sock_read=600.0)
    url = client.server + f"{PREFIX}/backups/{backup}/archive"
    try:
        async with client._http().put(url, data=chunks, headers=client.headers, ssl=client.ssl, timeout=timeout) as response:  # noqa: SLF001
            try:
                body = await response.json(content_type=None)
            except ValueError:
                body = {"message": await response.text()}
            if response.status != 200:
                raise error_from_response(response.status, body)
            return body
    except (aiohttp.ClientError, OSError) as exc:
        raise TemporaryError(f"cannot send the archive of backup {backup} to {client.server}: {_describe(exc)}") from None
