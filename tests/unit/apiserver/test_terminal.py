"""The browser terminal's rules that need no server: what a link request may say, and when a link
or its session is refused."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from apiserver.terminal import DEFAULT_TTL, MAX_TTL, _digest, parse_request, refusal, session_refusal
from dlxc.client.errors import BadRequest, Gone, Unauthorized

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(None, (DEFAULT_TTL, None), id="no-body"),
        pytest.param({}, (DEFAULT_TTL, None), id="empty"),
        pytest.param({"ttlSeconds": 1, "user": "nobody"}, (1, "nobody"), id="shortest-as-user"),
        pytest.param({"ttlSeconds": MAX_TTL, "user": "1000"}, (MAX_TTL, "1000"), id="longest-uid"),
    ],
)
def test_link_request_accepted(body: Any, expected: tuple[int, str | None]) -> None:
    assert parse_request(body) == expected


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param([], "body", id="not-an-object"),
        pytest.param({"ttl": 5}, "ttl", id="unknown-field"),
        pytest.param({"ttlSeconds": 0}, "ttlSeconds", id="zero"),
        pytest.param({"ttlSeconds": MAX_TTL + 1}, "ttlSeconds", id="over-a-day"),
        pytest.param({"ttlSeconds": 1.5}, "ttlSeconds", id="fraction"),
        pytest.param({"ttlSeconds": True}, "ttlSeconds", id="bool"),
        pytest.param({"user": ""}, "user", id="empty-user"),
        pytest.param({"user": "a\nb"}, "user", id="control-character"),
        pytest.param({"user": 0}, "user", id="user-not-a-string"),
    ],
)
def test_link_request_refused_naming_the_field(body: Any, field: str) -> None:
    with pytest.raises(BadRequest) as caught:
        parse_request(body)
    assert [d["field"] for d in caught.value.details] == [field]


def record(**extra: Any) -> dict[str, Any]:
    return {"container": "web", "expiresAt": iso(NOW + timedelta(minutes=1))} | extra


@pytest.mark.parametrize(
    ("stored", "message"),
    [
        pytest.param(record(), None, id="fresh"),
        pytest.param(record(usedAt=iso(NOW)), "this terminal link was already used (at 2026-11-30T12:00:00Z)", id="used"),
        pytest.param(record(expiresAt=iso(NOW)), "this terminal link expired at 2026-11-30T12:00:00Z", id="expired"),
        pytest.param(record(expiresAt=iso(NOW), usedAt=iso(NOW)), "this terminal link was already used", id="used-and-expired"),
    ],
)
def test_link_refusal(stored: dict[str, Any], message: str | None) -> None:
    why = refusal(stored, now=NOW)
    if message is None:
        assert why is None
        return
    assert isinstance(why, Gone) and why.status == 410
    assert why.message.startswith(message) and why.message.endswith("ask an admin for a new link (`dlxc terminal web`)")


def session(**extra: Any) -> dict[str, Any]:
    return record(usedAt=iso(NOW), sessionHash=_digest("s3cret"), sessionExpiresAt=iso(NOW + timedelta(seconds=30))) | extra


@pytest.mark.parametrize(
    ("stored", "secret", "error", "message"),
    [
        pytest.param(session(), "s3cret", None, None, id="fresh"),
        pytest.param(session(), "guess", Unauthorized, "the terminal session is not valid", id="wrong-secret"),
        pytest.param(record(), "s3cret", Unauthorized, "the terminal session is not valid", id="link-not-exchanged"),
        pytest.param(session(sessionUsedAt=iso(NOW)), "s3cret", Gone, "this terminal session was already opened", id="replayed"),
        pytest.param(session(sessionExpiresAt=iso(NOW)), "s3cret", Gone, "this terminal session was not opened within 60 s", id="late"),
    ],
)
def test_session_refusal(stored: dict[str, Any], secret: str, error: type | None, message: str | None) -> None:
    why = session_refusal(stored, secret, now=NOW)
    if error is None:
        assert why is None
        return
    assert type(why) is error and message is not None and why.message.startswith(message)
