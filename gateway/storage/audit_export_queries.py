"""The audit export's read: entries by seq cursor, kind, subject and ``recorded_at`` range, as plain
rows in ``yield_per`` batches (no ORM identity map), so memory is one batch whatever the range.

``recorded_at`` is ISO text in one format and indexed, so comparing text is comparing time.
"""

from __future__ import annotations

import contextlib
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.core.audit import AuditEntry
from gateway.storage.audit_store import ENTRY_COLUMNS, entry_of
from gateway.storage.tables import AuditEntryRow


@dataclass(frozen=True, kw_only=True)
class DateBound:
    op: str  # ge | gt | le | lt | eq
    start: str  # the first instant the value names (ISO, as recorded_at is written)
    end: str  # the first instant after it


@dataclass(frozen=True, kw_only=True)
class EntryFilter:
    after_seq: int = 0
    dates: tuple[DateBound, ...] = ()
    kinds: tuple[tuple[str, ...], ...] = ()  # each a set the kind must be in
    subject: str | None = None
    seq: int | None = None


def _date_clauses(bounds: Sequence[DateBound]) -> list[Any]:
    col = AuditEntryRow.recorded_at
    out: list[Any] = []
    for b in bounds:
        out += {
            "ge": [col >= b.start],
            "gt": [col >= b.end],
            "le": [col < b.end],
            "lt": [col < b.start],
            "eq": [col >= b.start, col < b.end],
        }[b.op]
    return out


def filtered_entries(session: Session, where: EntryFilter, *, batch: int) -> Generator[AuditEntry]:
    """The entries ``where`` selects, in seq order. Close the generator before the session: on
    PostgreSQL the result is a server-side cursor."""
    stmt = select(*ENTRY_COLUMNS).where(AuditEntryRow.seq > where.after_seq, *_date_clauses(where.dates))
    for kinds in where.kinds:
        stmt = stmt.where(AuditEntryRow.kind.in_(kinds))
    if where.subject is not None:
        stmt = stmt.where(AuditEntryRow.subject == where.subject)
    if where.seq is not None:
        stmt = stmt.where(AuditEntryRow.seq == where.seq)
    stmt = stmt.order_by(AuditEntryRow.seq).execution_options(yield_per=batch)
    with contextlib.closing(session.execute(stmt)) as rows:
        for row in rows:
            yield entry_of(row)
