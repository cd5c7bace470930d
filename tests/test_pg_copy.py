"""Many rows into a PostgreSQL table by COPY (storage.pg_copy): the same rows as the INSERTs,
the same refusal (PostgreSQL only; CI runs the suite on it too), and only for a plain INSERT."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from gateway.storage import dialect
from gateway.storage.dialect import insert_of
from gateway.storage.fhir_bulk import TOKENS, VERSIONS

NOW = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)
# Values COPY's text format must escape: tabs, newlines, backslashes, quotes, "\N", non-ASCII.
AWKWARD = ["a\tb", "line\nnext", "back\\slash", 'quote "q"', "\\N", "é ü 中", "", "comma,semi;"]


@pytest.fixture
def pg(rt: Any) -> Any:
    if rt.engine.dialect.name != "postgresql":
        pytest.skip("COPY is PostgreSQL's")
    return rt


def _tokens(resource_type: str, count: int) -> list[dict[str, Any]]:
    return [
        {
            "resource_type": resource_type,
            "param": "code",
            "value": f"{AWKWARD[n % len(AWKWARD)]}|{n}",
            "id": f"r{n}",
        }
        for n in range(count)
    ]


def _stored_tokens(session: Any, resource_type: str) -> set[tuple[str, str, str]]:
    rows = session.execute(select(TOKENS).where(TOKENS.c.resource_type == resource_type))
    return {(r.param, r.value, r.id) for r in rows}


@pytest.mark.parametrize("count", [1, 99, 1000])
def test_copied_rows_are_the_rows_inserted(pg: Any, monkeypatch: pytest.MonkeyPatch, count: int) -> None:
    copied: list[int] = []
    real = dialect.copy_rows

    def spy(connection: Any, table: Any, names: Any, rows: Any) -> None:
        copied.append(len(rows))
        real(connection, table, names, rows)

    monkeypatch.setattr(dialect, "copy_rows", spy)
    with pg.sessions.begin() as session:
        dialect.execute_many(session, insert(TOKENS), _tokens("Copied", count), copy=True)
        dialect.execute_many(session, insert(TOKENS), _tokens("Inserted", count))
    assert copied == [count]  # only the rows asked to be copied, however few
    with pg.sessions() as session:
        copied_rows = _stored_tokens(session, "Copied")
        inserted_rows = _stored_tokens(session, "Inserted")
    assert len(copied_rows) == count
    assert copied_rows == inserted_rows


def test_documents_and_timestamps_are_copied_as_inserted(pg: Any) -> None:
    documents = [
        {"resourceType": "Basic", "id": f"b{n}", "note": [{"text": AWKWARD[n % 8]}], "n": n}
        for n in range(150)
    ]
    rows = [
        {"resource_type": "Basic", "id": f"b{n}", "version_id": 1, "document": document}
        | {"last_updated": NOW, "deleted": 0}
        for n, document in enumerate(documents)
    ]
    with pg.sessions.begin() as session:
        dialect.execute_many(session, insert(VERSIONS), rows, copy=True)
    with pg.sessions() as session:
        stored = {
            r.id: r for r in session.execute(select(VERSIONS).where(VERSIONS.c.resource_type == "Basic"))
        }
    assert {key: row.document for key, row in stored.items()} == {d["id"]: d for d in documents}
    assert {row.last_updated for row in stored.values()} == {NOW}


def test_a_refused_copy_is_the_insert_s_refusal_without_the_values(pg: Any) -> None:
    rows = _tokens("Twice", 200)
    rows[150] = dict(rows[3])  # the same key twice: PostgreSQL's DETAIL would quote it
    with pytest.raises(IntegrityError) as refused, pg.sessions.begin() as session:
        dialect.execute_many(session, insert(TOKENS), rows, copy=True)
    message = str(refused.value)
    assert "duplicate key value violates unique constraint" in message
    assert 'quote "q"|3' not in message
    assert "r3" not in message
    with pg.sessions() as session:
        assert _stored_tokens(session, "Twice") == set()  # nothing of the refused batch stays


@pytest.mark.parametrize(
    "statement",
    [
        pytest.param(lambda name: insert_of(name)(TOKENS).on_conflict_do_nothing(), id="an upsert"),
        pytest.param(lambda name: insert(TOKENS).returning(TOKENS.c.id), id="an insert that returns"),
        pytest.param(lambda name: update(TOKENS).values(value="x"), id="not an insert"),
    ],
)
def test_only_a_plain_insert_is_copied(rt: Any, statement: Any) -> None:
    """On either database: a wrong call fails in the SQLite suite too, not only on PostgreSQL."""
    made = statement(rt.engine.dialect.name)
    with pytest.raises(ValueError, match="plain insert"), rt.sessions.begin() as session:
        dialect.execute_many(session, made, _tokens("Refused", 3), copy=True)
