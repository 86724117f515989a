"""Compact JSON encoding for the apiserver's hot paths: orjson, with the stdlib's exact output where they differ.

orjson writes NaN and Infinity as null (the stdlib writes NaN, Infinity) and refuses integers past 64
bits, lone surrogates and non-str keys. Validated objects carry no nulls (pydantic drops None), so any
null in orjson's output sends the value to the stdlib, as does every refusal; the JSON then means
exactly what `json.dumps` would have said (non-ASCII text is UTF-8 instead of \\u escapes).
Decoding stays with the stdlib: orjson turns integers past 64 bits into floats.
"""
from __future__ import annotations

import json
from typing import Any

import orjson

__all__ = ["dumps"]


def dumps(value: Any) -> bytes:
    """`value` as compact JSON bytes, meaning what `json.dumps(value, separators=(",", ":"))` means."""
    try:
        out = orjson.dumps(value)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        out = b"null"
    if b"null" in out:  # maybe a NaN or an Infinity orjson wrote as null
        return json.dumps(value, separators=(",", ":")).encode()
    return out
