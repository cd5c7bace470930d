"""The INSERT ... ON CONFLICT construct of the session's database (SQLite or PostgreSQL), and bulk
statements run as one DBAPI executemany."""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import QueryableAttribute, Session
from sqlalchemy.sql.dml import Insert
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.expression import Executable

from gateway.storage.pg_copy import copy_rows, copy_upsert


def dialect_insert(session: Session) -> Any:
    return insert_of(session.get_bind().dialect.name)


def one_of(
    session: Session, column: ColumnElement[Any] | QueryableAttribute[Any], values: Sequence[Any]
) -> ColumnElement[bool]:
    """``column IN (values)``; on PostgreSQL ``column = ANY(:array)``, one parameter for them all.

    A batch looks up hundreds of keys at a time. As an IN list of 500 parameters, PostgreSQL
    answered in 85-90 ms on a table whose statistics were not gathered yet (a first bulk load:
    autovacuum analyses it a minute later), against 4-6 ms for the array; with statistics,
    3.2-4.8 against 1.4-1.6 ms. SQLite has no arrays and is fast either way."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
    return column.in_(values)


def insert_of(dialect_name: str) -> Any:
    """The insert construct with ``on_conflict_do_update`` of the database named."""
    if dialect_name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert


@dataclass(frozen=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]  # the bound parameters, in the statement's order
    processors: Mapping[str, Callable[[Any], Any]]  # name -> the type's conversion for the DBAPI
    positional: bool  # SQLite's qmark (tuples) or psycopg's pyformat (dicts)


# (id of the statement, dialect) -> (the statement, kept alive so its id stays its own; its compiled form)
_COMPILED: dict[tuple[int, str], tuple[Executable, _Compiled]] = {}


def _compiled(statement: Executable, dialect: Dialect) -> _Compiled:
    key = (id(statement), dialect.name)
    found = _COMPILED.get(key)
    if found is not None and found[0] is statement:
        return found[1]
    compiled = statement.compile(dialect=dialect)  # type: ignore[attr-defined]
    names = tuple(compiled.positiontup or ()) if compiled.positional else tuple(compiled.binds)
    processors = {}
    for name in names:
        processor = compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
        if processor is not None:
            processors[name] = processor
    result = _Compiled(
        sql=compiled.string, names=names, processors=processors, positional=compiled.positional
    )
    _COMPILED[key] = (statement, result)
    return result


_NOTHING = object()


def _last_kept(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``convert`` that reuses its last answer for the very same value (one ``now`` in every row)."""
    last: list[Any] = [_NOTHING, None]

    def run(value: Any) -> Any:
        if value is not last[0]:
            last[0], last[1] = value, convert(value)
        return last[1]

    return run


def execute_many(
    session: Session,
    statement: Executable,
    rows: Sequence[Mapping[str, Any]],
    constants: Mapping[str, Any] | None = None,
    *,
    copy: bool = False,
) -> None:
    """Run ``statement`` (built once, its bound parameters named) once per row in one DBAPI
    executemany: the same statement and values SQLAlchemy would send, without its per-row
    parameter handling, which costs more than the database's own work on a batch. A value the
    same in every row goes in ``constants`` and is converted once.

    ``copy``: ``statement`` is a plain ``insert(table)`` (every column bound, no conflict clause,
    nothing returned); on PostgreSQL its rows then go in with ``COPY ... FROM STDIN``
    (``pg_copy``).

    Like ``session.execute``, it flushes the session's pending objects first."""
    if not rows:
        return
    session.flush()
    connection = session.connection()
    plan = _compiled(statement, connection.dialect)
    # Checked on every database, so a wrong call shows in the SQLite suite too.
    copied_table = _copied_table(statement, plan.sql) if copy else None
    params = _parameters(plan, rows, constants)
    if copied_table is not None and connection.dialect.name == "postgresql":
        copy_rows(connection, copied_table, plan.names, params)
        return
    if not plan.positional:
        params = [dict(zip(plan.names, values, strict=True)) for values in params]
    connection.exec_driver_sql(plan.sql, params)


def _parameters(
    plan: _Compiled, rows: Sequence[Mapping[str, Any]], constants: Mapping[str, Any] | None
) -> list[Any]:
    """Each row's values in the statement's order, converted as its types convert them."""
    fixed = {k: plan.processors[k](v) if k in plan.processors else v for k, v in (constants or {}).items()}
    names = plan.names
    values_of = operator.itemgetter(*names) if len(names) > 1 else lambda row: (row[names[0]],)
    converted = [
        (i, _last_kept(plan.processors[n]))
        for i, n in enumerate(names)
        if n in plan.processors and n not in fixed
    ]
    whole = [({**row, **fixed} if fixed else row) for row in rows]
    params: list[Any] = [values_of(row) for row in whole]
    if converted:
        for index, values in enumerate(params):
            changed = list(values)
            for i, convert in converted:
                changed[i] = convert(changed[i])
            params[index] = tuple(changed)
    return params


@dataclass(frozen=True)
class Upsert:
    """``INSERT ... ON CONFLICT (key) DO UPDATE``, setting each ``updated`` column to the new
    row's value; a row holds every column of ``table``."""

    table: Table
    key: tuple[str, ...]
    updated: tuple[str, ...]


# Rows from which PostgreSQL stages an upsert: the staging table costs about 1.5 ms, as much as
# an executemany of about 50 rows (1 row: 1.78 against 0.27 ms; 50: 2.13 against 2.26; 1,000:
# 20 against 39; 5,000: 81 against 156). An HTTP POST's few rows keep the executemany.
STAGED_FROM = 50


@functools.cache
def upsert_statement(upsert: Upsert, dialect_name: str) -> Any:
    statement = insert_of(dialect_name)(upsert.table)
    replaced = {column: statement.excluded[column] for column in upsert.updated}
    return statement.on_conflict_do_update(index_elements=list(upsert.key), set_=replaced)


def upsert_many(
    session: Session,
    upsert: Upsert,
    rows: Sequence[Mapping[str, Any]],
    constants: Mapping[str, Any] | None = None,
) -> None:
    """Insert or update ``rows`` by their key, as an executemany of the upsert would leave them.

    On PostgreSQL the rows are COPYed into a staging table and upserted by one
    ``INSERT ... SELECT`` (``pg_copy.copy_upsert``): as an executemany, each row's statement was
    parsed and planned (Ed-Fi JSON 10k: attendance events 30 us a row, the source index 18). One
    statement may not update a row twice, so rows of one key become one first: the first row's
    values, with the ``updated`` columns of the last (what the executemany would leave)."""
    if not rows:
        return
    dialect_name = session.get_bind().dialect.name
    statement = upsert_statement(upsert, dialect_name)
    if dialect_name != "postgresql" or len(rows) < STAGED_FROM:
        execute_many(session, statement, rows, constants)
        return
    session.flush()
    connection = session.connection()
    plan = _compiled(statement, connection.dialect)
    params = _once_per_key(_parameters(plan, rows, constants), plan.names, upsert)
    copy_upsert(connection, upsert.table, plan.names, params, upsert.key, upsert.updated)


def _once_per_key(params: list[Any], names: Sequence[str], upsert: Upsert) -> list[Any]:
    key_at = [names.index(name) for name in upsert.key]
    updated_at = [names.index(name) for name in upsert.updated]
    merged: dict[tuple[Any, ...], list[Any]] = {}
    for values in params:
        key = tuple(values[i] for i in key_at)
        found = merged.get(key)
        if found is None:
            merged[key] = list(values)
        else:
            for i in updated_at:
                found[i] = values[i]
    return [tuple(values) for values in merged.values()]


def _copied_table(statement: Executable, sql: str) -> Any:
    """The table of a plain INSERT, which COPY can stand for; anything else is a caller's mistake."""
    if not isinstance(statement, Insert) or " ON CONFLICT " in sql or " RETURNING " in sql:
        raise ValueError("COPY stands only for a plain insert(table)")
    return statement.table
