"""Deterministic identifiers derived from content, so re-ingest is idempotent."""

from __future__ import annotations

import base64
import hashlib


def derive_id(prefix: str, *parts: str) -> str:
    """A short, stable id for the given parts: ``prefix-<26 base32 chars>`` (130 bits)."""
    joined = "\x1f".join(parts).encode("utf-8")
    raw = hashlib.sha256(joined).digest()[:17]
    return f"{prefix}-" + base64.b32encode(raw).decode("ascii").rstrip("=").lower()[:26]


def student_id_for(system: str, value: str) -> str:
    """The canonical id of a student first seen under ``(system, value)``."""
    return derive_id("stu", system, value)


def element_id_for(mapping_id: str, rule_id: str, source_record_id: str, index: int = 0) -> str:
    return derive_id("el", mapping_id, rule_id, source_record_id, str(index))
