"""Queries over ``people``, ``person_students`` and ``web_sessions``. Nothing here commits."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from gateway.storage.people_tables import PersonRow, PersonStudentRow, WebSessionRow


def person_by_email(session: Session, email: str) -> PersonRow | None:
    return session.scalars(select(PersonRow).where(PersonRow.email == email)).first()


def person_by_id(session: Session, person_id: str) -> PersonRow | None:
    return session.get(PersonRow, person_id)


def add_person(session: Session, row: PersonRow, student_ids: list[str]) -> None:
    session.add(row)
    session.flush()
    session.add_all(PersonStudentRow(person_id=row.id, student_id=student) for student in student_ids)
    session.flush()


def link_students(session: Session, person_id: str, student_ids: list[str]) -> None:
    known = set(students_of(session, person_id))
    session.add_all(
        PersonStudentRow(person_id=person_id, student_id=s)
        for s in dict.fromkeys(student_ids)
        if s not in known
    )
    session.flush()


def students_of(session: Session, person_id: str) -> list[str]:
    query = select(PersonStudentRow.student_id).where(PersonStudentRow.person_id == person_id)
    return sorted(session.scalars(query))


def people(session: Session) -> list[PersonRow]:
    return list(session.scalars(select(PersonRow).order_by(PersonRow.role, PersonRow.email)))


def add_session(session: Session, row: WebSessionRow) -> None:
    session.add(row)
    session.flush()


def web_session(session: Session, token_digest: str) -> WebSessionRow | None:
    return session.get(WebSessionRow, token_digest)


def end_sessions_of(session: Session, person_id: str, now: dt.datetime) -> int:
    query = (
        update(WebSessionRow)
        .where(WebSessionRow.person_id == person_id, WebSessionRow.ended_at.is_(None))
        .values(ended_at=now)
    )
    return int(session.execute(query).rowcount or 0)  # type: ignore[attr-defined]
