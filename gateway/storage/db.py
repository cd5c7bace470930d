"""Engines, sessions and migrations.

SQLite is the embedded default (WAL, foreign keys on); PostgreSQL is the production
database. Callers get a ``sessionmaker``; only the service layer opens transactions on it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def normalise_url(url: str) -> str:
    """``postgresql://`` means the psycopg 3 driver here."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode("utf-8")


def make_engine(url: str, **options: Any) -> Engine:
    """An engine whose JSON columns go through orjson: plan documents are the bulk of each write."""
    url = normalise_url(url)
    options = {"json_serializer": _json_dumps, "json_deserializer": orjson.loads, **options}
    if url.startswith("sqlite"):
        engine = create_engine(url, **options)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin_immediate)
        return engine
    return create_engine(url, pool_pre_ping=True, **options)


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
    cursor.close()


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
