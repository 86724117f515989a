"""The renewal stream's server side: lines in, one answer each; `+` renewals stamped from memory."""
from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from apiserver.heartbeats import Heartbeats
from apiserver.renewals import SWITCHED, RenewalStream, Upgraded, split_lines, wants_upgrade
from dlxc.client.errors import NotFound
from schemas import KINDS


@pytest.mark.parametrize(
    ("pending", "chunk", "lines", "rest"),
    [
        (b"", b"+\n", [b"+"], b""),
        (b"", b"+\n+\n{\"spec\"", [b"+", b"+"], b"{\"spec\""),
        (b"{\"spec\"", b":{}}\n", [b"{\"spec\":{}}"], b""),
        (b"", b"+", [], b"+"),
        (b"", b"\n\r\n+\r\n", [b"+"], b""),
        (b"", b"", [], b""),
    ],
    ids=["one", "two-and-a-half", "completed", "no-newline-yet", "blank-and-crlf", "empty"],
)
def test_split_lines(pending: bytes, chunk: bytes, lines: list[bytes], rest: bytes) -> None:
    assert split_lines(pending, chunk) == (lines, rest)


class Leases:
    """The Lease registry at the boundary: PATCH writes, counted; a missing Lease is NotFound."""

    def __init__(self, *names: str) -> None:
        self.objects = {n: {"metadata": {"name": n, "resourceVersion": "9"},
                            "spec": {"holderIdentity": n, "leaseDurationSeconds": 5, "renewTime": "2026-01-01T00:00:00Z"}} for n in names}
        self.patches: list[Any] = []

    async def patch(self, name: str, patch: Any) -> Any:
        if name not in self.objects:
            raise NotFound(f"leases {name} not found")
        self.patches.append(patch)
        obj = self.objects[name]
        obj["spec"].update(patch["spec"])
        obj["metadata"]["resourceVersion"] = str(int(obj["metadata"]["resourceVersion"]) + 1)
        return {"metadata": dict(obj["metadata"]), "spec": dict(obj["spec"])}


class Session:
    async def grant_lease(self, ttl: int) -> int:
        return 7

    async def keep_alive(self, lease_id: int) -> int:
        return 10


async def _allowed(*args: Any) -> None:
    return None


def stream(*names: str) -> tuple[RenewalStream, Leases, Heartbeats]:
    leases = Leases(*names)
    beats = Heartbeats(Session(), expire_after=5.0)  # type: ignore[arg-type]
    asyncio.run(beats.keep_alive())
    kind = next(k for k in KINDS if k.name == "Lease")
    return RenewalStream(leases, beats, _allowed, kind), leases, beats  # type: ignore[arg-type]


def run(app: RenewalStream, chunks: list[Any], name: str = "n1") -> tuple[list[dict[str, Any]], list[bytes]]:
    """The stream as uvicorn runs it: the body in these chunks (a callable is called between two), then
    the end; (response starts, body sends)."""
    messages = [c if callable(c) else {"type": "http.request", "body": c, "more_body": True} for c in chunks]
    messages.append({"type": "http.request", "body": b"", "more_body": False})
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        while callable(messages[0]):
            messages.pop(0)()
        return messages.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": f"/apis/dlxc.io/v1/leases/{name}/renewals", "headers": [],
             "query_string": b"", "path_params": {"name": name}}
    asyncio.run(app(scope, receive, send))
    return [m for m in sent if m["type"] == "http.response.start"], [m["body"] for m in sent if m["type"] == "http.response.body"]


JSON = b'{"spec":{"holderIdentity":"n1","leaseDurationSeconds":5,"renewTime":"2026-01-01T00:00:01Z"}}\n'


def test_the_answer_says_version_2_and_stamps_are_answered_from_memory() -> None:
    app, leases, beats = stream("n1")
    starts, bodies = run(app, [JSON, b"+\n", b"+\n"])
    assert starts[0]["status"] == 200 and (b"x-dlxc-renewals", b"2") in starts[0]["headers"]
    assert bodies == [b'{"code":200,"resourceVersion":"10"}\n'] * 3 + [b""]
    assert len(leases.patches) == 1  # the JSON line took the Lease over (a write); the two `+` did not write
    assert beats.renewals == 2 and beats.owned["n1"].stamped is not None


def test_lines_read_together_are_answered_with_one_write() -> None:
    app, _, _ = stream("n1")
    _, bodies = run(app, [JSON + b"+\n+\n"])
    assert bodies == [b'{"code":200,"resourceVersion":"10"}\n' * 3, b""]


def test_an_old_kubelets_json_lines_are_answered_as_before() -> None:
    app, leases, beats = stream("n1")
    _, bodies = run(app, [JSON, JSON.replace(b":01Z", b":02Z")])
    assert bodies == [b'{"code":200,"resourceVersion":"10"}\n'] * 2 + [b""]
    assert len(leases.patches) == 1 and beats.current("n1")["spec"]["renewTime"] == "2026-01-01T00:00:02Z"


def test_a_stamp_of_a_lease_not_held_here_is_written_with_the_apiservers_time() -> None:
    app, leases, beats = stream("n1")
    # Between the two lines another apiserver wrote the Lease (as Heartbeats.observe would see it).
    _, bodies = run(app, [JSON, lambda: beats.forget("n1"), b"+\n"])
    assert bodies[:2] == [b'{"code":200,"resourceVersion":"10"}\n', b'{"code":200,"resourceVersion":"11"}\n']
    stamped = leases.patches[-1]["spec"]
    assert stamped["holderIdentity"] == "n1" and stamped["leaseDurationSeconds"] == 5 and stamped["renewTime"] > "2026-01-01T00:00:01Z"


@pytest.mark.parametrize(
    ("chunks", "reason", "message"),
    [
        ([b"+\n"], "BadRequest", "a `+` renewal repeats the stream's last JSON renewal: send one first"),
        ([b"renew please\n"], "BadRequest", "a renewal must be one JSON object per line, or `+`"),
        ([b"[1, 2]\n"], "BadRequest", "a renewal must be one JSON object per line, or `+`"),
    ],
    ids=["stamp-first", "not-json", "not-an-object"],
)
def test_a_bad_line_gets_an_error_answer_and_the_stream_goes_on(chunks: list[bytes], reason: str, message: str) -> None:
    app, _, _ = stream("n1")
    _, bodies = run(app, [*chunks, JSON])
    answer = orjson.loads(bodies[0])
    assert (answer["code"], answer["reason"], answer["message"]) == (400, reason, message)
    assert orjson.loads(bodies[1])["code"] == 200


def test_a_missing_lease_is_not_found_so_the_kubelet_creates_it() -> None:
    app, _, _ = stream()
    _, bodies = run(app, [JSON])
    assert orjson.loads(bodies[0])["code"] == 404


@pytest.mark.parametrize(
    ("headers", "wanted"),
    [
        ([(b"connection", b"Upgrade"), (b"upgrade", b"dlxc-renewals/3")], True),
        ([(b"connection", b"keep-alive, upgrade"), (b"upgrade", b"DLXC-Renewals/3 ")], True),
        ([(b"upgrade", b"dlxc-renewals/3")], False),
        ([(b"connection", b"upgrade"), (b"upgrade", b"websocket")], False),
        ([(b"connection", b"upgrade"), (b"upgrade", b"dlxc-renewals/4")], False),
        ([], False),
    ],
    ids=["asked", "token-among-others", "no-connection-upgrade", "websocket", "unknown-version", "plain"],
)
def test_wants_upgrade(headers: list[tuple[bytes, bytes]], wanted: bool) -> None:
    assert wants_upgrade({"headers": headers}) is wanted


class Wire:
    """The connection under the HTTP server at the boundary: what was written, which protocol reads."""

    def __init__(self, protocol: Any) -> None:
        self.protocol = protocol
        self.writes: list[bytes] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def get_protocol(self) -> Any:
        return self.protocol

    def set_protocol(self, protocol: Any) -> None:
        self.protocol = protocol


class Http:
    """The HTTP server's protocol, told when the connection it gave away ends."""

    def __init__(self) -> None:
        self.lost: list[Any] = []

    def connection_lost(self, exc: Any) -> None:
        self.lost.append(exc)


OK10 = b'{"code":200,"resourceVersion":"10"}\n'


def test_an_upgraded_stream_answers_in_order_and_stamps_without_the_loop() -> None:
    app, leases, beats = stream("n1")
    http = Http()
    wire = Wire(http)

    async def go() -> tuple[list[bytes], list[bytes]]:
        call = asyncio.create_task(app.upgraded(wire, "n1"))
        await asyncio.sleep(0)
        protocol = wire.protocol
        assert isinstance(protocol, Upgraded) and wire.writes == [SWITCHED]
        # The JSON line needs a write (a task); the `+` lines read with it wait for its answer.
        protocol.data_received(JSON + b"+\n+")
        protocol.data_received(b"\n")
        for _ in range(5):
            await asyncio.sleep(0)
        first = list(wire.writes[1:])
        # Now held from memory: a `+` is answered inside data_received, before the loop turns again.
        protocol.data_received(b"+\n+\n")
        second = list(wire.writes[1 + len(first):])
        protocol.connection_lost(None)
        await call
        return first, second

    first, second = asyncio.run(go())
    assert b"".join(first) == OK10 * 3
    assert second == [OK10 * 2]
    assert len(leases.patches) == 1 and beats.renewals == 4
    assert http.lost == [None]  # the HTTP server's bookkeeping sees the connection end


def test_an_upgraded_stream_gives_up_on_a_line_without_end() -> None:
    app, _, _ = stream("n1")
    wire = Wire(Http())

    async def go() -> None:
        call = asyncio.create_task(app.upgraded(wire, "n1"))
        await asyncio.sleep(0)
        wire.protocol.data_received(b"x" * (1 << 17))
        assert wire.closing
        wire.protocol.connection_lost(None)
        await call

    asyncio.run(go())
    assert orjson.loads(wire.writes[-1])["reason"] == "BadRequest"
