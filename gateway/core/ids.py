"""Deterministic identifiers derived from content, so re-ingest is idempotent."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"  # RFC 4648 base32, lower case
# Two base32 characters per 10 bits: 13 table reads give the 26 characters of an id (130 bits),
# several times faster than ``base64.b32encode`` (pure Python in 3.11) with its padding and case.
_PAIRS = tuple(a + b for a in _ALPHABET for b in _ALPHABET)


def _encoded(digest: bytes) -> str:
    """The first 26 lower-case base32 characters of the digest's first 17 bytes (136 bits)."""
    b = int.from_bytes(digest[:17], "big") >> 6
    p = _PAIRS
    # Spelled out: a loop or a join over the 13 shifts costs a third more.
    return (
        p[b >> 120]
        + p[(b >> 110) & 1023]
        + p[(b >> 100) & 1023]
        + p[(b >> 90) & 1023]
        + p[(b >> 80) & 1023]
        + p[(b >> 70) & 1023]
        + p[(b >> 60) & 1023]
        + p[(b >> 50) & 1023]
        + p[(b >> 40) & 1023]
        + p[(b >> 30) & 1023]
        + p[(b >> 20) & 1023]
        + p[(b >> 10) & 1023]
        + p[b & 1023]
    )


def derive_id(prefix: str, *parts: str) -> str:
    """A short, stable id for the given parts: ``prefix-<26 base32 chars>`` (130 bits)."""
    joined = "\x1f".join(parts).encode("utf-8")
    return f"{prefix}-" + _encoded(hashlib.sha256(joined).digest())


def id_deriver(prefix: str, *fixed: str) -> Callable[..., str]:
    """``derive_id(prefix, *fixed, *rest)`` as a function of ``rest`` (at least one part), with
    the fixed parts hashed once: a compiled mapping derives its element ids so."""
    start = hashlib.sha256(("\x1f".join(fixed) + "\x1f").encode("utf-8") if fixed else b"")
    head = f"{prefix}-"

    def derive(*rest: str) -> str:
        hasher = start.copy()
        hasher.update("\x1f".join(rest).encode("utf-8"))
        return head + _encoded(hasher.digest())

    return derive


def student_id_for(system: str, value: str) -> str:
    """The canonical id of a student first seen under ``(system, value)``."""
    return derive_id("stu", system, value)


def element_id_for(mapping_id: str, rule_id: str, source_record_id: str, index: int = 0) -> str:
    return derive_id("el", mapping_id, rule_id, source_record_id, str(index))
