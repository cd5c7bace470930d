"""The reads behind ``/metrics`` and ``/ready``: counts and ages the database holds, so every
worker process reports the same figures (nothing is counted in a process's memory).

Each is one set-based query over indexed columns; the decision count reads only the audit
entries appended since the caller's last read (the log is append-only, see ``decisions_since``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from gateway.errors import StorageUnavailable
from gateway.storage.db import _alembic_config
from gateway.storage.tables import (
    AuditCheckpoint,
    AuditEntryRow,
    AuditHead,
    CheckpointWitness,
    Delivery,
    Message,
)

DECISION_KIND = "decision"  # gateway.core.disclosure.DECISION; storage may not import core's names


def messages_by_format_and_status(session: Session) -> list[tuple[str, str, int]]:
    stmt = select(Message.format, Message.status, func.count()).group_by(Message.format, Message.status)
    return [(f, s, n) for f, s, n in session.execute(stmt)]


def deliveries_by_status(session: Session) -> list[tuple[str, int]]:
    stmt = select(Delivery.status, func.count()).group_by(Delivery.status)
    return [(s, n) for s, n in session.execute(stmt)]


def oldest_delivery(session: Session, statuses: Sequence[str]) -> dt.datetime | None:
    stmt = select(func.min(Delivery.created_at)).where(Delivery.status.in_(statuses))
    value = session.scalar(stmt)
    # func.min loses the column's type decorator on SQLite: make the time aware again.
    return _aware(value)


def audit_size(session: Session) -> int:
    return session.scalar(select(AuditHead.seq).where(AuditHead.id == 1)) or 0


def latest_checkpoint(session: Session) -> tuple[int, str] | None:
    stmt = select(AuditCheckpoint.seq, AuditCheckpoint.signed_at).order_by(AuditCheckpoint.seq.desc())
    row = session.execute(stmt.limit(1)).first()
    return (row[0], row[1]) if row is not None else None


def entry_time(session: Session, seq: int) -> str | None:
    return session.scalar(select(AuditEntryRow.recorded_at).where(AuditEntryRow.seq == seq))


def decisions_since(session: Session, after: int, upto: int) -> list[tuple[str, int]]:
    """Decision entries with ``after < seq <= upto``, by effect. ``upto`` is a committed head:
    entries are appended under the head's row lock, so every seq up to it is committed too."""
    effect = AuditEntryRow.details["effect"].as_string()
    stmt = (
        select(effect, func.count())
        .where(AuditEntryRow.kind == DECISION_KIND, AuditEntryRow.seq > after, AuditEntryRow.seq <= upto)
        .group_by(effect)
    )
    return [(str(e or "unknown"), n) for e, n in session.execute(stmt)]


def witness_copies_waiting(session: Session) -> int:
    stmt = select(func.count()).select_from(CheckpointWitness).where(CheckpointWitness.status == "queued")
    return session.scalar(stmt) or 0


def unavailable(exc: SQLAlchemyError) -> StorageUnavailable:
    # The driver's class name only: its message may carry the URL or a statement's values.
    return StorageUnavailable(f"the database does not answer ({type(exc).__name__})")


def ping(sessions: sessionmaker[Session]) -> None:
    """``SELECT 1`` in a session of its own; StorageUnavailable when the database does not answer."""
    try:
        with sessions() as session:
            session.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        raise unavailable(exc) from exc


def migration_revisions(engine: Engine) -> tuple[str | None, str | None]:
    """(the database's revision, the newest revision this code ships); StorageUnavailable when the
    database does not answer."""
    try:
        with engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
    except SQLAlchemyError as exc:
        raise unavailable(exc) from exc
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    return current, head


def _aware(value: dt.datetime | str | None) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
