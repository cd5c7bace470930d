"""The audit chain and canonical JSON: a sealed chain verifies, and each way of tampering with
it is reported as its own kind of break at the right sequence number."""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Callable
from typing import Any

import pytest

from gateway.core.audit import (
    GENESIS_HASH,
    AuditEntry,
    Checkpoint,
    entry_hash,
    seal,
    verify_chain,
)
from gateway.core.canonical import canonical_json, digest, digest_bytes

DIGEST_FORMAT = re.compile(r"^sha256:[0-9a-f]{64}$")


def build_chain(
    n: int = 5, details: Callable[[int], dict[str, Any]] = lambda seq: {"n": seq}
) -> list[AuditEntry]:
    entries: list[AuditEntry] = []
    prev = GENESIS_HASH
    for seq in range(1, n + 1):
        entry = seal(
            AuditEntry(
                seq=seq,
                recorded_at=f"2026-11-23T12:00:{seq:02d}Z",
                kind="ingest",
                actor="grand-bend-isd",
                subject=f"msg-{seq}",
                details=details(seq),
                prev_hash=prev,
            )
        )
        entries.append(entry)
        prev = entry.hash
    return entries


CHAIN = build_chain()
HEAD = Checkpoint(seq=5, hash=CHAIN[-1].hash, signed_at="2026-11-23T13:00:00Z")

Tamper = Callable[[list[AuditEntry]], tuple[list[AuditEntry], list[Checkpoint]]]


def _edit(seq: int, **changes: Any) -> Tamper:
    """Change an entry's content and keep its old hash."""
    return lambda c: ([dataclasses.replace(e, **changes) if e.seq == seq else e for e in c], [])


def _delete(*seqs: int) -> Tamper:
    return lambda c: ([e for e in c if e.seq not in seqs], [])


def _swap(a: int, b: int) -> Tamper:
    """Move two entries' content to each other's place (each keeps its own hash)."""

    def tamper(c: list[AuditEntry]) -> tuple[list[AuditEntry], list[Checkpoint]]:
        moved = {a: dataclasses.replace(c[b - 1], seq=a), b: dataclasses.replace(c[a - 1], seq=b)}
        return [moved.get(e.seq, e) for e in c], []

    return tamper


def _reseal(seq: int, **changes: Any) -> Tamper:
    """Change an entry and recompute its hash, as a tamperer with the code would."""
    return lambda c: (
        [seal(dataclasses.replace(e, hash="", **changes)) if e.seq == seq else e for e in c],
        [],
    )


def _truncate(keep: int) -> Tamper:
    return lambda c: (c[:keep], [HEAD])


def _checkpoint(point: Checkpoint) -> Tamper:
    return lambda c: (c, [point])


def _rewrite_all_after_edit(c: list[AuditEntry]) -> tuple[list[AuditEntry], list[Checkpoint]]:
    return build_chain(details=lambda seq: {"n": seq * 10 if seq == 2 else seq}), [HEAD]


WRONG_HASH = "sha256:" + "f" * 64


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        # untouched
        pytest.param(lambda c: (c, []), [], id="untouched chain verifies"),
        pytest.param(_checkpoint(HEAD), [], id="untouched chain matches its head checkpoint"),
        pytest.param(
            _checkpoint(dataclasses.replace(HEAD, seq=3, hash=CHAIN[2].hash)),
            [],
            id="matching older checkpoint",
        ),
        # edited in place (hash kept)
        pytest.param(_edit(3, details={"n": 99}), [(3, "edited")], id="edited details"),
        pytest.param(_edit(1, actor="someone-else"), [(1, "edited")], id="edited actor of the first entry"),
        pytest.param(
            _edit(5, recorded_at="2026-11-24T00:00:00Z"), [(5, "edited")], id="edited time of the head"
        ),
        pytest.param(
            _edit(4, prev_hash=WRONG_HASH), [(4, "edited")], id="edited prev_hash without resealing"
        ),
        pytest.param(
            _checkpoint(dataclasses.replace(HEAD, seq=3, hash=WRONG_HASH)),
            [(3, "edited")],
            id="checkpoint hash mismatch",
        ),
        # deleted
        pytest.param(_delete(3), [(3, "deleted")], id="deleted middle entry"),
        pytest.param(_delete(1), [(1, "deleted")], id="deleted first entry"),
        pytest.param(_delete(2, 3), [(2, "deleted")], id="deleted two entries in a row"),
        pytest.param(_delete(2, 4), [(2, "deleted"), (4, "deleted")], id="deleted two separate entries"),
        # reordered
        pytest.param(_swap(4, 5), [(4, "reordered"), (5, "reordered")], id="swapped the last two entries"),
        pytest.param(_swap(2, 3), [(2, "reordered"), (3, "reordered")], id="swapped two middle entries"),
        # truncated
        pytest.param(_truncate(3), [(5, "truncated")], id="tail cut off, checkpoint at the old head"),
        pytest.param(_truncate(0), [(5, "truncated")], id="everything cut off, checkpoint at the old head"),
        # re-sealed
        pytest.param(
            _reseal(5, prev_hash=WRONG_HASH), [(5, "broken-link")], id="head re-sealed with a wrong prev_hash"
        ),
        pytest.param(
            _reseal(3, prev_hash=WRONG_HASH),
            [(3, "broken-link"), (4, "broken-link")],
            id="middle entry re-sealed with a wrong prev_hash (and so its successor's link breaks)",
        ),
        pytest.param(
            _reseal(3, details={"n": 99}),
            [(4, "broken-link")],
            id="edited and re-sealed: the next link breaks",
        ),
        pytest.param(
            _rewrite_all_after_edit, [(5, "edited")], id="whole chain rewritten: caught by the checkpoint"
        ),
    ],
)
def test_verify_chain(tamper: Tamper, expected: list[tuple[int, str]]) -> None:
    entries, checkpoints = tamper(list(CHAIN))
    report = verify_chain(entries, checkpoints)
    assert [(b.seq, b.kind) for b in report.breaks] == expected
    assert report.ok is (not expected)
    assert report.to_dict()["ok"] is report.ok


def test_intact_chain_reports_its_head() -> None:
    report = verify_chain(CHAIN)
    assert (report.ok, report.entries, report.head_seq, report.head_hash) == (True, 5, 5, CHAIN[-1].hash)


def test_empty_chain_is_ok() -> None:
    report = verify_chain([])
    assert (report.ok, report.entries, report.head_seq, report.head_hash) == (True, 0, 0, GENESIS_HASH)


@pytest.mark.parametrize(
    ("tamper", "says"),
    [
        pytest.param(_delete(3), "entries 3 are missing", id="deleted names the missing seq"),
        pytest.param(_delete(2, 3), "entries 2..3 are missing", id="deleted names the missing range"),
        pytest.param(
            _swap(4, 5), "holds the entry written as seq 5", id="reordered names where the content belongs"
        ),
        pytest.param(_truncate(3), "names entry 5, but the log ends at 3", id="truncated names both ends"),
        pytest.param(_edit(3, details={}), "content does not match its hash", id="edited"),
    ],
)
def test_break_messages_explain(tamper: Tamper, says: str) -> None:
    entries, checkpoints = tamper(list(CHAIN))
    assert says in verify_chain(entries, checkpoints).breaks[0].message


def test_breaks_name_no_entry_content() -> None:
    secret = {"note": "student disclosed housing instability"}
    entries = [dataclasses.replace(e, details=secret) if e.seq == 2 else e for e in CHAIN]
    rendered = str(verify_chain(entries).to_dict())
    assert "housing" not in rendered


# --- seal and entry hashes -----------------------------------------------------------------


def test_seal_fills_a_hash_over_the_canonical_body() -> None:
    entry = CHAIN[0]
    assert DIGEST_FORMAT.match(entry.hash)
    assert entry.hash == entry_hash(entry)
    assert entry.prev_hash == GENESIS_HASH
    assert seal(dataclasses.replace(entry, hash="")) == entry


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"seq": 9}, id="seq"),
        pytest.param({"recorded_at": "2026-11-23T12:00:02Z"}, id="recorded_at"),
        pytest.param({"kind": "read"}, id="kind"),
        pytest.param({"actor": "riverside-health"}, id="actor"),
        pytest.param({"subject": "msg-x"}, id="subject"),
        pytest.param({"details": {"n": 2}}, id="details"),
        pytest.param({"prev_hash": WRONG_HASH}, id="prev_hash"),
    ],
)
def test_every_field_is_covered_by_the_hash(change: dict[str, Any]) -> None:
    assert entry_hash(dataclasses.replace(CHAIN[0], **change)) != CHAIN[0].hash


def test_the_stored_hash_is_not_part_of_the_body() -> None:
    assert entry_hash(dataclasses.replace(CHAIN[0], hash=WRONG_HASH)) == CHAIN[0].hash


def test_entry_hash_for_another_seq_differs() -> None:
    assert entry_hash(CHAIN[0], seq=2) != entry_hash(CHAIN[0])


# --- canonical JSON and digests ------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param({"b": 1, "a": 2}, b'{"a":2,"b":1}', id="keys sorted, no whitespace"),
        pytest.param(
            {"a": {"d": [3, {"z": 1, "y": 2}], "c": None}},
            b'{"a":{"c":null,"d":[3,{"y":2,"z":1}]}}',
            id="nested keys sorted, lists kept in order",
        ),
        pytest.param(
            {"name": "Jos\u00e9 \u00c1lvarez"},
            '{"name":"José Álvarez"}'.encode(),
            id="non-ASCII as UTF-8, not escaped",
        ),
        pytest.param(
            {"emoji": "\U0001f34e"}, '{"emoji":"🍎"}'.encode(), id="astral plane character as UTF-8"
        ),
        pytest.param({"t": True, "f": False, "n": 0}, b'{"f":false,"n":0,"t":true}', id="JSON literals"),
        pytest.param('quote"and\\slash', b'"quote\\"and\\\\slash"', id="escapes"),
    ],
)
def test_canonical_json(value: Any, expected: bytes) -> None:
    assert canonical_json(value) == expected


def test_canonical_json_ignores_key_insertion_order() -> None:
    one = {"seq": 1, "details": {"x": 1, "y": [1, 2]}, "kind": "ingest"}
    two = {"kind": "ingest", "details": {"y": [1, 2], "x": 1}, "seq": 1}
    assert canonical_json(one) == canonical_json(two)
    assert digest(one) == digest(two)


def test_canonical_json_refuses_nan() -> None:
    with pytest.raises(ValueError, match="not JSON compliant"):
        canonical_json({"x": float("nan")})


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(
            b"", "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", id="empty bytes"
        ),
        pytest.param(
            b"abc", "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", id="abc"
        ),
    ],
)
def test_digest_bytes_known_answers(data: bytes, expected: str) -> None:
    assert digest_bytes(data) == expected


def test_digest_is_sha256_of_the_canonical_form() -> None:
    value = {"b": "é", "a": [1, 2]}
    assert digest(value) == "sha256:" + hashlib.sha256('{"a":[1,2],"b":"é"}'.encode()).hexdigest()
    assert DIGEST_FORMAT.match(digest(value))
    assert digest(value) != digest({"b": "e", "a": [1, 2]})
