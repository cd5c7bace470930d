"""Consents, linked to a student or waiting for one. Nothing here commits."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.storage.tables import ConsentRow


def consents_for_student(session: Session, student_id: str) -> list[ConsentRow]:
    query = select(ConsentRow).where(ConsentRow.student_id == student_id).order_by(ConsentRow.id)
    return list(session.scalars(query))


def consents_for_students(session: Session, student_ids: Iterable[str]) -> list[ConsentRow]:
    ids = sorted(set(student_ids))
    found: list[ConsentRow] = []
    for start in range(0, len(ids), 400):
        query = select(ConsentRow).where(ConsentRow.student_id.in_(ids[start : start + 400]))
        found.extend(session.scalars(query.order_by(ConsentRow.id)))
    return found


def unlinked_consents(session: Session) -> list[ConsentRow]:
    return list(session.scalars(select(ConsentRow).where(ConsentRow.student_id.is_(None))))


def get_consent(session: Session, consent_id: str) -> ConsentRow | None:
    return session.get(ConsentRow, consent_id)


def add_consent(session: Session, row: ConsentRow) -> None:
    session.add(row)
    session.flush()


def consent_rows(
    session: Session, student_id: str | None = None, *, unlinked: bool = False
) -> list[ConsentRow]:
    """Consents of ``student_id`` (every consent when None), with the unlinked ones when asked."""
    query = select(ConsentRow).order_by(ConsentRow.id)
    if student_id is not None:
        wanted = ConsentRow.student_id == student_id
        query = query.where(wanted | ConsentRow.student_id.is_(None) if unlinked else wanted)
    return list(session.scalars(query))
