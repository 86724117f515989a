"""Compact JSON encoding for the apiserver's hot paths: orjson, with the stdlib's exact output where they differ.

orjson writes NaN and Infinity as null (the stdlib writes NaN, Infinity) and refuses integers past 64
bits, lone surrogates and non-str keys. Validated objects carry no nulls (pydantic drops None), so any
null in orjson's output sends the value to the stdlib, as does every refusal; the JSON then means
exactly what `json.dumps` would have said (non-ASCII text is UTF-8 instead of \\u escapes).

Decoding is orjson's too, except where it would differ from the stdlib's: orjson turns integers past
64 bits into floats (so any run of 19 digits sends the text to the stdlib) and refuses NaN, Infinity,
lone surrogates and numbers past a double (which the stdlib accepts, or refuses with its own message).
"""
from __future__ import annotations

import json
import re
from typing import Any

import orjson

__all__ = ["dumps", "loads"]

_LONG_NUMBER = re.compile(rb"[0-9]{19}")


def dumps(value: Any) -> bytes:
    """`value` as compact JSON bytes, meaning what `json.dumps(value, separators=(",", ":"))` means."""
    try:
        out = orjson.dumps(value)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        out = b"null"
    if b"null" in out:  # maybe a NaN or an Infinity orjson wrote as null
        return json.dumps(value, separators=(",", ":")).encode()
    return out


def loads(data: bytes | bytearray) -> Any:
    """JSON bytes decoded as `json.loads` decodes them (and refused with its ValueError), at orjson's speed."""
    if _LONG_NUMBER.search(data) is None:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass  # the stdlib may take it (NaN, a lone surrogate), or says why not in its own words
    return json.loads(data)
