"""Rows upserted by their key (``storage.dialect.upsert_many``): what an executemany of the
INSERT ... ON CONFLICT leaves, on both databases (on PostgreSQL, from ``STAGED_FROM`` rows on,
through a staging table and one INSERT ... SELECT), including a key sent twice in one call and
keys already stored; a refusal keeps nothing of the call and names no value."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

import pytest
from sqlalchemy import Table, select
from sqlalchemy.exc import IntegrityError

from gateway.storage import dialect
from gateway.storage.dialect import Upsert, execute_many, upsert_many, upsert_statement
from gateway.storage.tables import SourceRecordRow

TABLE = cast(Table, SourceRecordRow.__table__)
UPSERT = Upsert(table=TABLE, key=("key_digest",), updated=("student_id", "record_digest", "status"))
NOW = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)


def _row(key: str, source_id: str, student: str, digest: str = "d", status: str = "active") -> dict[str, Any]:
    return {
        "key_digest": key,
        "source_org": "org",
        "entity": "e",
        "source_id": source_id,
        "student_id": student,
        "record_digest": digest,
        "message_id": "m",
        "status": status,
    }


def _calls(prefix: str) -> list[list[dict[str, Any]]]:
    """Two calls: the first stores two keys; the second updates one, sends a new key twice and
    the other stored key twice (the first row's columns that are not updated stay, as they would)."""
    p = prefix
    return [
        [_row(f"{p}1", "one", "s1"), _row(f"{p}2", "two", "s2")],
        [
            _row(f"{p}1", "one-again", "s9", "d9", "retracted"),
            _row(f"{p}3", "first", "s3", "d3"),
            _row(f"{p}2", "two-a", "s4", "d4"),
            _row(f"{p}3", "second", "s5", "d5"),
            _row(f"{p}2", "two-b", "s6", "d6"),
        ],
    ]


def _stored(session: Any, prefix: str) -> dict[str, tuple[Any, ...]]:
    rows = session.execute(select(TABLE).where(TABLE.c.key_digest.startswith(prefix)))
    return {
        r.key_digest[len(prefix) :]: (r.source_id, r.student_id, r.record_digest, r.status, r.updated_at)
        for r in rows
    }


@pytest.fixture(params=["staged", "executemany"])
def staging(request: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """On PostgreSQL, every call staged (this file's calls are small), or none."""
    monkeypatch.setattr(dialect, "STAGED_FROM", 1 if request.param == "staged" else 10**9)
    return str(request.param)


def test_upsert_many_leaves_what_the_executemany_leaves(rt: Any, staging: str) -> None:
    statement = upsert_statement(UPSERT, rt.engine.dialect.name)
    for rows_a, rows_b in zip(_calls("A-"), _calls("B-"), strict=True):
        with rt.sessions.begin() as session:
            upsert_many(session, UPSERT, rows_a, {"updated_at": NOW})
            execute_many(session, statement, rows_b, {"updated_at": NOW})
    with rt.sessions() as session:
        by_copy, by_statement = _stored(session, "A-"), _stored(session, "B-")
    assert by_copy == by_statement
    assert by_copy["1"][:4] == ("one", "s9", "d9", "retracted")
    assert by_copy["2"][:3] == ("two", "s6", "d6")  # source_id is not updated: the stored one stays
    assert by_copy["3"][:3] == ("first", "s5", "d5")  # a new key sent twice: its first row, updated


def test_two_upserts_of_one_table_in_one_transaction(rt: Any, staging: str) -> None:
    with rt.sessions.begin() as session:
        upsert_many(session, UPSERT, [_row("T-1", "a", "s1")], {"updated_at": NOW})
        upsert_many(session, UPSERT, [_row("T-1", "a", "s2"), _row("T-2", "b", "s3")], {"updated_at": NOW})
    with rt.sessions.begin() as session:  # the next transaction may stage the same table again
        upsert_many(session, UPSERT, [_row("T-2", "b", "s4")], {"updated_at": NOW})
    with rt.sessions() as session:
        assert {k: v[1] for k, v in _stored(session, "T-").items()} == {"1": "s2", "2": "s4"}


def test_a_refused_upsert_keeps_nothing_and_names_no_value(rt: Any, staging: str) -> None:
    secret = "student-604822"
    rows = [_row("R-1", "a", secret), {**_row("R-2", "b", secret), "source_org": None}]
    with pytest.raises(IntegrityError) as refused, rt.sessions.begin() as session:
        upsert_many(session, UPSERT, rows, {"updated_at": NOW})
    assert secret not in str(refused.value)
    with rt.sessions() as session:
        assert _stored(session, "R-") == {}
