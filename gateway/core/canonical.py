"""Canonical JSON and digests: the byte form that hashes and signatures are computed over.

The form follows RFC 8785 (JCS) for the values the gateway hashes: keys sorted, no
insignificant whitespace, UTF-8. Floats are not used in hashed documents, so JCS number
formatting never matters here.

The bytes are those of ``json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False,
allow_nan=False)``. For a value made only of exact ``dict`` (text keys), ``list``, ``tuple``,
``str``, ``int``, ``bool``, ``None`` and floats from 1e-4 to 1e16 (every hashed document: an
attendance rate is such a float), orjson with sorted keys writes the very same bytes, about four
times faster with the check; anything else (a float outside that range, which orjson spells
otherwise (``1e16`` where ``json`` writes ``1e+16``), and whose NaN it would write as null; a
subclass; an integer beyond 64 bits; a structure deeper than orjson goes) is written by
``json``, so a digest never changes with the encoder (tests/test_canonical.py compares both over
varied values, floats of every magnitude among them).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import orjson

_LEAVES = frozenset({str, int, bool, type(None)})
# Both write the shortest repr that reads back; they differ only in the exponent form, which
# ``repr`` uses from 1e16 up and below 1e-4 (and NaN and infinities, which ``json`` refuses here).
_PLAIN_FLOATS = (1e-4, 1e16)


def _plain_float(value: float) -> bool:
    magnitude = abs(value)
    return magnitude == 0.0 or _PLAIN_FLOATS[0] <= magnitude < _PLAIN_FLOATS[1]


def _plain(value: Any) -> bool:
    """Whether ``value`` holds only the types orjson spells exactly as ``json`` does."""
    kind = type(value)
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str or (type(item) not in _LEAVES and not _plain(item)):
                return False
        return True
    if kind is list or kind is tuple:
        # A list of leaves (a summary's record digests) is checked in one pass in C.
        if _LEAVES.issuperset(map(type, value)):
            return True
        return all(type(item) in _LEAVES or _plain(item) for item in value)
    if kind is float:
        return _plain_float(value)
    return kind in _LEAVES


def _json(value: Any) -> bytes:
    return json.dumps(
        value,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    ).encode("utf-8")


def canonical_json(value: Any) -> bytes:
    try:
        if _plain(value):
            return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except (TypeError, RecursionError):  # orjson.JSONEncodeError is a TypeError
        pass
    return _json(value)


def digest_bytes(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def digest(value: Any) -> str:
    return digest_bytes(canonical_json(value))
