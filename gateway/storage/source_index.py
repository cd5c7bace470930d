"""The source record index: which student each source record fed, with its digest. Nothing here commits."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from json.encoder import encode_basestring
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from gateway.core.canonical import digest
from gateway.storage.dialect import Upsert, one_of, upsert_many
from gateway.storage.tables import SourceRecordRow


def source_key_digest(source_org: str, entity: str, source_id: str) -> str:
    """``digest([source_org, entity, source_id])``; three strings spelled as canonical JSON
    directly (the very bytes ``canonical_json`` writes for them), five times faster per row."""
    if type(source_org) is str and type(entity) is str and type(source_id) is str:
        text = f"[{encode_basestring(source_org)},{encode_basestring(entity)},{encode_basestring(source_id)}]"
        return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()
    return digest([source_org, entity, source_id])


_UPSERT = Upsert(
    table=cast(Table, SourceRecordRow.__table__),
    key=("key_digest",),
    updated=("student_id", "record_digest", "message_id", "status", "updated_at"),
)


def index_source_records(
    session: Session, rows: Iterable[tuple[str, str, str, str, str, str]], now: dt.datetime
) -> None:
    """Upsert (source_org, entity, source_id, student_id, record_digest, message_id) as active."""
    unique: dict[str, dict[str, Any]] = {}  # a record sent twice: its later row, in its first place
    for org, entity, source_id, student_id, record_digest, message_id in rows:
        key = source_key_digest(org, entity, source_id)
        unique[key] = {
            "key_digest": key,
            "source_org": org,
            "entity": entity,
            "source_id": source_id,
            "student_id": student_id,
            "record_digest": record_digest,
            "message_id": message_id,
        }
    if not unique:
        return
    upsert_many(session, _UPSERT, list(unique.values()), {"status": "active", "updated_at": now})


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
        chunk = query.where(one_of(session, SourceRecordRow.key_digest, digests[start : start + 400]))
        found.extend(session.scalars(chunk))
    return found


def active_source_ids(session: Session, source_org: str, entity: str) -> set[str]:
    """The ids of ``active_source_records(session, source_org, entity)``, read as one column (no ORM
    objects: a manifest check reads every record the source ever sent)."""
    table = SourceRecordRow.__table__
    query = select(table.c.source_id).where(
        table.c.source_org == source_org, table.c.entity == entity, table.c.status == "active"
    )
    return set(session.scalars(query))
