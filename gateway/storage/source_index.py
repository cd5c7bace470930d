"""The source record index: which student each source record fed, with its digest. Nothing here commits."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.storage.dialect import dialect_insert
from gateway.storage.tables import SourceRecordRow


def source_key_digest(source_org: str, entity: str, source_id: str) -> str:
    from gateway.core.canonical import digest

    return digest([source_org, entity, source_id])


def index_source_records(
    session: Session, rows: Iterable[tuple[str, str, str, str, str, str]], now: dt.datetime
) -> None:
    """Upsert (source_org, entity, source_id, student_id, record_digest, message_id) as active."""
    values = [
        {
            "key_digest": source_key_digest(org, entity, source_id),
            "source_org": org,
            "entity": entity,
            "source_id": source_id,
            "student_id": student_id,
            "record_digest": record_digest,
            "message_id": message_id,
            "status": "active",
            "updated_at": now,
        }
        for org, entity, source_id, student_id, record_digest, message_id in rows
    ]
    if not values:
        return
    unique = list({v["key_digest"]: v for v in values}.values())
    insert = dialect_insert(session)
    statement = insert(SourceRecordRow.__table__)  # Core, not ORM: no per-row unit of work
    updated = {
        k: statement.excluded[k]
        for k in ("student_id", "record_digest", "message_id", "status", "updated_at")
    }
    session.execute(statement.on_conflict_do_update(index_elements=["key_digest"], set_=updated), unique)


def active_source_records(
    session: Session, source_org: str, entity: str, source_ids: Iterable[str] | None = None
) -> list[SourceRecordRow]:
    query = select(SourceRecordRow).where(
        SourceRecordRow.source_org == source_org,
        SourceRecordRow.entity == entity,
        SourceRecordRow.status == "active",
    )
    if source_ids is None:
        return list(session.scalars(query))
    digests = [source_key_digest(source_org, entity, i) for i in set(source_ids)]
    found: list[SourceRecordRow] = []
    for start in range(0, len(digests), 400):
        chunk = query.where(SourceRecordRow.key_digest.in_(digests[start : start + 400]))
        found.extend(session.scalars(chunk))
    return found
