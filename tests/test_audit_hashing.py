"""verify_chain's fast hash check (orjson, sorted keys) agrees with canonical_json, and falls back
to it where orjson cannot encode or writes other bytes."""

from __future__ import annotations

import pytest

from gateway.core.audit import GENESIS_HASH, AuditEntry, seal, verify_chain


@pytest.mark.parametrize(
    "details",
    [
        {"b": 1, "a": [1, "x", {"z": None, "y": True}]},
        {"name": 'Zoë ☃ \u2028 "quoted" \\ \n\t\x01'},
        {"big": 2**70},  # beyond orjson's integers: canonical_json decides
        {"nested": {"k" + str(i): i for i in range(20)}},
        {},
    ],
)
def test_an_entry_sealed_with_canonical_json_verifies(details):
    entry = seal(
        AuditEntry(
            seq=1, recorded_at="t", kind="k", actor="a", subject="s", details=details, prev_hash=GENESIS_HASH
        )
    )
    assert verify_chain([entry]).ok
    edited = AuditEntry(**{**entry.__dict__, "details": {**details, "extra": 1}})
    assert [b.kind for b in verify_chain([edited]).breaks] == ["edited"]
