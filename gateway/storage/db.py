"""Engines, sessions and migrations.

SQLite is the embedded default (WAL, foreign keys on); PostgreSQL is the production
database. Callers get a ``sessionmaker``; only the service layer opens transactions on it.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.exc import SQLAlchemyError as StorageError
from sqlalchemy.orm import Session, sessionmaker

from gateway.storage.pg_copy import primary_message

# What services name: a unit of work and a failure of the database, without importing SQLAlchemy.
__all__ = [
    "Session",
    "StorageError",
    "is_initialised",
    "make_engine",
    "migrate",
    "normalise_url",
    "session_factory",
    "without_mmap",
]

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def normalise_url(url: str) -> str:
    """``postgresql://`` means the psycopg 3 driver here."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


@dataclass(frozen=True, slots=True)
class JsonText:
    """A JSON column's value already written as JSON text: stored as it is (a served FHIR
    resource joined from its parts, ``core.fhir_text``)."""

    text: bytes


def _json_dumps(value: Any) -> str:
    if type(value) is JsonText:
        return value.text.decode("utf-8")
    return orjson.dumps(value).decode("utf-8")


def make_engine(url: str, **options: Any) -> Engine:
    """An engine whose JSON columns go through orjson: plan documents are the bulk of each write.

    Bound parameters are student records: no error or log line of any engine may show them.
    """
    url = normalise_url(url)
    options = {"json_serializer": _json_dumps, "json_deserializer": orjson.loads, **options}
    options["hide_parameters"] = True
    if url.startswith("sqlite"):
        engine = create_engine(url, **options)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin_immediate)
        return engine
    engine = create_engine(url, pool_pre_ping=True, **options)
    event.listen(engine, "handle_error", _primary_message_only)
    return engine


def _primary_message_only(context: ExceptionContext) -> None:
    """PostgreSQL's DETAIL quotes values ("Key (value)=(604822) already exists", "Failing row
    contains (...)"): keep only the primary message, which names constraints and columns."""
    original = context.original_exception
    primary = primary_message(original)
    if not primary:
        return
    original.args = (primary,)
    wrapped = context.sqlalchemy_exception
    if wrapped is not None:
        kind = type(original)
        wrapped.args = (f"({kind.__module__}.{kind.__name__}) {primary}",)


def _sqlite_begin_immediate(connection: Any) -> None:
    # Take the write lock at BEGIN, so two writers never both read the audit head and fork it.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite's own implicit BEGIN is switched off; _sqlite_begin_immediate issues it.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    # Reads through the OS page cache instead of copying each page into SQLite's own cache: a
    # directory search reads a thousand index rows; the mapping is only address space (256 MiB).
    cursor.execute(f"PRAGMA mmap_size={MMAP_BYTES}")
    cursor.close()


MMAP_BYTES = 256 * 1024 * 1024


@contextlib.contextmanager
def without_mmap(session: Session) -> Iterator[None]:
    """SQLite reads without mmap for the rest of this transaction. A bulk batch reads a few rows of
    each of thousands of students, spread over the whole file; every mapped page it touches stays
    resident in the process (counted in its memory up to ``MMAP_BYTES``: a school year's load grew
    by 220 MB), where reading through SQLite's page cache holds a bounded 2 MB and costs the load
    nothing measurable. Searches, which read the same few pages again and again, keep mmap."""
    dbapi = _sqlite_connection(session)
    if dbapi is None:
        yield
        return
    dbapi.execute("PRAGMA mmap_size=0")  # unmaps at once: no statement of the transaction is open
    try:
        yield
    finally:
        try:
            dbapi.execute(f"PRAGMA mmap_size={MMAP_BYTES}")
        except sqlite3.Error:
            # A connection SQLite cannot serve is discarded by the pool; only a search's speed
            # depends on the setting, never an answer.
            log.warning("could not restore mmap on a SQLite connection")


def _sqlite_connection(session: Session) -> sqlite3.Connection | None:
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        return None
    dbapi = connection.connection.dbapi_connection
    return dbapi if isinstance(dbapi, sqlite3.Connection) else None


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def migrate(engine: Engine) -> None:
    """Create or upgrade the schema to the newest revision."""
    config = _alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def is_initialised(engine: Engine) -> bool:
    return inspect(engine).has_table("alembic_version")
