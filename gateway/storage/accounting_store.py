"""The audit entries one student's accounting reads, through the indexed subject column."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.storage.tables import AuditEntryRow


def entries_about(session: Session, subject: str, kinds: Sequence[str]) -> list[Any]:
    """(recorded_at, kind, details) of ``subject``'s entries of ``kinds``, in chain order."""
    query = (
        select(AuditEntryRow.recorded_at, AuditEntryRow.kind, AuditEntryRow.details)
        .where(AuditEntryRow.subject == subject, AuditEntryRow.kind.in_(kinds))
        .order_by(AuditEntryRow.seq)
    )
    return list(session.execute(query))
