"""Queries over ``guardian_links`` (who may consent for a student). Nothing here commits."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete, select, tuple_
from sqlalchemy.orm import Session

from gateway.storage.dialect import one_of
from gateway.storage.tables import GuardianLinkRow

_CHUNK = 400  # bound the parameters of one IN list


def upsert_links(session: Session, rows: list[dict[str, Any]], now: dt.datetime) -> int:
    """Insert or refresh links by id (the created time stays the first one); how many were new."""
    wanted = {row["id"]: row for row in rows}
    existing = {link.id: link for link in _by_ids(session, list(wanted))}
    for link_id, row in wanted.items():
        link = existing.get(link_id)
        if link is None:
            session.add(GuardianLinkRow(**row, created_at=now, updated_at=now))
            continue
        for key, value in row.items():
            setattr(link, key, value)
        link.updated_at = now
    session.flush()
    return len(wanted.keys() - existing.keys())


def _by_ids(session: Session, ids: list[str]) -> list[GuardianLinkRow]:
    found: list[GuardianLinkRow] = []
    for start in range(0, len(ids), _CHUNK):
        query = select(GuardianLinkRow).where(
            one_of(session, GuardianLinkRow.id, ids[start : start + _CHUNK])
        )
        found.extend(session.scalars(query))
    return found


def links_of_records(
    session: Session, source_org: str, entity: str, source_ids: Iterable[str]
) -> list[GuardianLinkRow]:
    """The links one source's records (by source id) made."""
    ids = sorted(set(source_ids))
    found: list[GuardianLinkRow] = []
    for start in range(0, len(ids), _CHUNK):
        query = select(GuardianLinkRow).where(
            GuardianLinkRow.source_org == source_org,
            GuardianLinkRow.entity == entity,
            one_of(session, GuardianLinkRow.source_id, ids[start : start + _CHUNK]),
        )
        found.extend(session.scalars(query))
    return found


def record_source_ids(session: Session, source_org: str, entity: str) -> set[str]:
    query = select(GuardianLinkRow.source_id).where(
        GuardianLinkRow.source_org == source_org, GuardianLinkRow.entity == entity
    )
    return {str(value) for value in session.scalars(query) if value is not None}


def delete_links(session: Session, ids: Iterable[str]) -> int:
    wanted = sorted(set(ids))
    removed = 0
    for start in range(0, len(wanted), _CHUNK):
        result = session.execute(
            delete(GuardianLinkRow).where(one_of(session, GuardianLinkRow.id, wanted[start : start + _CHUNK]))
        )
        removed += int(getattr(result, "rowcount", 0) or 0)
    return removed


def linked_people(
    session: Session, student_ids: Iterable[str], people: Iterable[tuple[str, str]]
) -> set[tuple[str, str, str]]:
    """(student, system, value) of the given people linked to the given students."""
    students, persons = sorted(set(student_ids)), sorted(set(people))
    if not students or not persons:
        return set()
    found: set[tuple[str, str, str]] = set()
    for start in range(0, len(persons), _CHUNK):
        query = select(
            GuardianLinkRow.student_id, GuardianLinkRow.person_system, GuardianLinkRow.person_value
        ).where(
            GuardianLinkRow.student_id.in_(students),
            tuple_(GuardianLinkRow.person_system, GuardianLinkRow.person_value).in_(
                persons[start : start + _CHUNK]
            ),
        )
        found.update((str(s), str(system), str(value)) for s, system, value in session.execute(query))
    return found


def links_of_student(session: Session, student_id: str) -> list[GuardianLinkRow]:
    query = (
        select(GuardianLinkRow)
        .where(GuardianLinkRow.student_id == student_id)
        .order_by(GuardianLinkRow.person_system, GuardianLinkRow.person_value, GuardianLinkRow.id)
    )
    return list(session.scalars(query))
