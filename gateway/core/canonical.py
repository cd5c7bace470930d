"""Canonical JSON and digests: the byte form that hashes and signatures are computed over.

The form follows RFC 8785 (JCS) for the values the gateway hashes: keys sorted, no
insignificant whitespace, UTF-8. Floats are not used in hashed documents, so JCS number
formatting never matters here.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any


def canonical_json(value: Any) -> bytes:
    return json.dumps(
        value,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    ).encode("utf-8")


def digest_bytes(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def digest(value: Any) -> str:
    return digest_bytes(canonical_json(value))
