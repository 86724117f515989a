"""The hot path's JSON: orjson's speed, the stdlib's meaning (big integers, NaN, lone surrogates, errors)."""
from __future__ import annotations

import json

import pytest

from apiserver.codec import _long_number, dumps, loads
from apiserver.storage import WatchEvent, with_resource_version


@pytest.mark.parametrize(
    "text",
    [
        b'{"a":1,"b":[true,null,"x\\u00e9"]}',
        b"18446744073709551616",  # past 64 bits: orjson would say 1.8446744073709552e+19
        b"-9223372036854775809",
        b'{"n":123456789012345678901234567890}',
        b"NaN",
        b"[Infinity,-Infinity]",
        b'"\\ud800"',  # a lone surrogate: orjson refuses it
        b"1e400",
        '{"u":"é"}'.encode("utf-16"),  # the stdlib detects UTF-16; orjson takes only UTF-8
        b'{"a":1.5,"b":"2026-11-30T10:56:32.500074Z","n":123456789012345678901234}',  # the long one last
        b"[123456789012345678,1234567890123456789012]",  # 18 digits, then 22
        b'{"x":"12345678901234567890123"}',  # 19+ digits in a string: the stdlib decodes it, same result
        b"[1234567890.1234567890123456789]",  # a long fraction
    ],
    ids=["plain", "u64+1", "i64-1", "long-nested", "nan", "infinity", "surrogate", "huge-float", "utf16",
         "long-after-short-runs", "18-then-22", "digits-in-string", "long-fraction"],
)
def test_loads_means_what_the_stdlib_means(text: bytes) -> None:
    for given in (text, bytearray(text)):  # a request body arrives as a bytearray
        got, want = loads(given), json.loads(text)
        assert repr(got) == repr(want) and type(got) is type(want)


@pytest.mark.parametrize(
    ("text", "long"),
    [
        (b"1234567890123456789", True),
        (b"123456789012345678", False),
        (b"[123456789,0123456789]", False),  # 19 digits, but not in one run
        (b'{"uid":"306d2fa2-2f1f-4a38-9b73-ffdd0bce41d8","t":"2026-11-30T10:56:32.500074Z","x":99.371747}', False),
        (b'{"n":-99999999999999999999}', True),
        (b"", False),
    ],
    ids=["19", "18", "split", "object", "negative-20", "empty"],
)
def test_a_run_of_19_digits_sends_the_text_to_the_stdlib(text: bytes, long: bool) -> None:
    assert _long_number(text) is long
    assert _long_number(bytearray(text)) is long


@pytest.mark.parametrize("text", [b"", b"{", b"[1,]", b'{"a":}', b"\xff"], ids=["empty", "open", "trailing", "no-value", "not-utf8"])
def test_loads_refuses_what_the_stdlib_refuses_with_its_message(text: bytes) -> None:
    with pytest.raises(ValueError) as ours:
        loads(text)
    with pytest.raises(ValueError) as stdlib:
        json.loads(text)
    assert str(ours.value) == str(stdlib.value)


def test_a_stored_event_is_served_from_its_bytes_with_the_resource_version_spliced_in() -> None:
    obj = {"apiVersion": "dlxc.io/v1", "kind": "Container", "metadata": {"name": "web", "uid": "u"}, "spec": {"image": "busybox"}}
    prev = {**obj, "spec": {"image": "debian"}}
    event = WatchEvent.stored("PUT", "web", dumps(obj), (dumps(prev), 7), 9)
    assert event.has_prev and event.name == "web"
    assert event.encoded == b'{"apiVersion":"dlxc.io/v1","kind":"Container","metadata":{"resourceVersion":"9","name":"web","uid":"u"},"spec":{"image":"busybox"}}'
    assert json.loads(event.encoded) == event.obj == {**obj, "metadata": {**obj["metadata"], "resourceVersion": "9"}}
    assert event.prev == {**prev, "metadata": {**prev["metadata"], "resourceVersion": "7"}}


def test_bytes_not_in_the_servers_layout_are_decoded_and_encoded_instead() -> None:
    assert with_resource_version(b'{"metadata":{}}', 3) is None  # empty metadata: nothing to splice before
    odd = {"spec": {"x": "y" * 100}, "metadata": {"name": "late"}}  # metadata past the first bytes
    assert with_resource_version(dumps(odd), 3) is None
    event = WatchEvent.stored("DELETE", "late", dumps(odd), (dumps(odd), 2), 5)
    assert json.loads(event.encoded) == {**odd, "metadata": {"name": "late", "resourceVersion": "5"}}
