"""Deterministic identifiers derived from content, so re-ingest is idempotent."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

_ALPHABET = b"abcdefghijklmnopqrstuvwxyz234567"  # RFC 4648 base32, lower case
_LETTERS = bytes(_ALPHABET[i] if i < 32 else 0 for i in range(256))  # a 5-bit value -> its letter


def _spreads() -> tuple[tuple[int, int, int], ...]:
    """Five (keep, move, shift) steps that move 32 five-bit groups, packed, one to a byte: each
    step lifts the upper half of every block of groups by three bits a group."""
    steps = []
    at = [5 * group for group in range(32)]  # where each group's low bit is, lowest group first
    for half in (16, 8, 4, 2, 1):
        moved = [group for group in range(32) if group // half % 2]
        keep = sum(31 << at[group] for group in range(32) if group not in moved)
        move = sum(31 << at[group] for group in moved)
        steps.append((keep, move, 3 * half))
        for group in moved:
            at[group] += 3 * half
    return tuple(steps)


(_K1, _M1, _S1), (_K2, _M2, _S2), (_K3, _M3, _S3), (_K4, _M4, _S4), (_K5, _M5, _S5) = _spreads()


def _encoded(digest: bytes) -> str:
    """The first 26 lower-case base32 characters of the digest's first 17 bytes (136 bits).

    The 130 bits are spread five to a byte by five mask-and-shift steps and the bytes translated
    to letters: a fifth faster than 13 reads of a table of letter pairs (``base64.b32encode`` is
    pure Python in 3.11, with padding and upper case besides); tests/test_core_ids.py compares."""
    b = int.from_bytes(digest[:17], "big") >> 6
    b = (b & _K1) | ((b & _M1) << _S1)
    b = (b & _K2) | ((b & _M2) << _S2)
    b = (b & _K3) | ((b & _M3) << _S3)
    b = (b & _K4) | ((b & _M4) << _S4)
    b = (b & _K5) | ((b & _M5) << _S5)
    return b.to_bytes(26, "big").translate(_LETTERS).decode("ascii")


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
