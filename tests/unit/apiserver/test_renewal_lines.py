"""The renewal stream's server side: lines in, one answer each; `+` renewals stamped from memory."""
from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from apiserver.heartbeats import Heartbeats
from apiserver.renewals import RenewalStream, split_lines
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
