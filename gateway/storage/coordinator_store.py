"""Queries behind the coordinator's page: whose records a set of organizations sent, a student
by an identifier value, and the referrals an organization made for a student.
Nothing here commits."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.storage.tables import Delivery, SourceRecordRow, StudentLink


def students_with_records_from(session: Session, organizations: Collection[str], *, limit: int) -> list[str]:
    """Students (canonical ids, in order) holding an active record from one of ``organizations``."""
    if not organizations:
        return []
    query = (
        select(SourceRecordRow.student_id)
        .where(SourceRecordRow.source_org.in_(sorted(organizations)), SourceRecordRow.status == "active")
        .distinct()
        .order_by(SourceRecordRow.student_id)
        .limit(limit)
    )
    return list(session.scalars(query))


def has_records_from(session: Session, student_id: str, organizations: Collection[str]) -> bool:
    query = select(SourceRecordRow.key_digest).where(
        SourceRecordRow.student_id == student_id,
        SourceRecordRow.source_org.in_(sorted(organizations)),
        SourceRecordRow.status == "active",
    )
    return session.scalars(query.limit(1)).first() is not None


def students_named(session: Session, value: str) -> list[str]:
    """Students one of whose linked identifiers (any system) has exactly this value."""
    query = select(StudentLink.student_id).where(StudentLink.value == value).distinct()
    return sorted(session.scalars(query))


def identifiers_of(session: Session, student_ids: Collection[str]) -> dict[str, list[tuple[str, str]]]:
    """Each student's linked (system, value) pairs."""
    found: dict[str, list[tuple[str, str]]] = {s: [] for s in student_ids}
    ids = sorted(student_ids)
    for start in range(0, len(ids), 400):
        query = (
            select(StudentLink.student_id, StudentLink.system, StudentLink.value)
            .where(StudentLink.student_id.in_(ids[start : start + 400]))
            .order_by(StudentLink.system, StudentLink.value)
        )
        for student, system, value in session.execute(query):
            found[student].append((system, value))
    return found


def referrals_from(session: Session, student_id: str, source_org: str) -> list[Delivery]:
    """The referrals ``source_org`` made for the student, newest first."""
    query = (
        select(Delivery)
        .where(
            Delivery.student_id == student_id,
            Delivery.source_org == source_org,
            Delivery.kind == "referral",
        )
        .order_by(Delivery.created_at.desc(), Delivery.id)
    )
    return list(session.scalars(query))
