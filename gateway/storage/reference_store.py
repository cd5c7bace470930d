"""Reference records over a caller's session (``reference_records``). Nothing here commits."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete as sa_delete
from sqlalchemy import select, tuple_, update
from sqlalchemy.orm import Session

from gateway.storage.tables import ReferenceRecordRow

CREATED, REPLACED, UNCHANGED = "created", "replaced", "unchanged"
_CHUNK = 500  # bounded IN lists on every database


@dataclass(frozen=True, kw_only=True)
class ReferenceRecord:
    source_org: str
    entity: str
    key_digest: str
    natural_key: str
    body: dict[str, Any]
    body_digest: str
    message_id: str


def save(session: Session, records: Iterable[ReferenceRecord], now: dt.datetime) -> dict[str, str]:
    """Store each record (the last one wins for a key sent twice); returns what happened per
    key digest: created, replaced (its body changed) or unchanged (sent again as it was)."""
    latest = {(r.source_org, r.entity, r.key_digest): r for r in records}
    if not latest:
        return {}
    stored = _stored_digests(session, latest)
    outcome: dict[str, str] = {}
    for key, record in latest.items():
        known = stored.get(key)
        if known == record.body_digest:
            outcome[record.key_digest] = UNCHANGED
        elif known is None:
            session.add(_row(record, now))
            outcome[record.key_digest] = CREATED
        else:
            _replace(session, record, now)
            outcome[record.key_digest] = REPLACED
    session.flush()
    return outcome


def find(session: Session, source_org: str, entity: str, key_digest: str) -> ReferenceRecordRow | None:
    return session.get(ReferenceRecordRow, (source_org, entity, key_digest))


def bodies(
    session: Session, keys: Iterable[tuple[str, str, str]]
) -> dict[tuple[str, str, str], dict[str, Any]]:
    """The stored body per (source org, resource, key digest) of those that exist: one query
    for up to 500 keys (a plan's references are far fewer), a query per 500 beyond."""
    columns = (ReferenceRecordRow.source_org, ReferenceRecordRow.entity, ReferenceRecordRow.key_digest)
    wanted = sorted(set(keys))
    found: dict[tuple[str, str, str], dict[str, Any]] = {}
    for start in range(0, len(wanted), _CHUNK):
        statement = select(*columns, ReferenceRecordRow.body).where(
            tuple_(*columns).in_(wanted[start : start + _CHUNK])
        )
        found.update({(org, entity, key): body for org, entity, key, body in session.execute(statement)})
    return found


def delete(session: Session, source_org: str, entity: str, key_digests: Iterable[str]) -> int:
    """Forget the records with these key digests (an Ed-Fi delete or key change); returns how
    many existed."""
    wanted = sorted(set(key_digests))
    removed = 0
    for start in range(0, len(wanted), _CHUNK):
        result = session.execute(
            sa_delete(ReferenceRecordRow).where(
                ReferenceRecordRow.source_org == source_org,
                ReferenceRecordRow.entity == entity,
                ReferenceRecordRow.key_digest.in_(wanted[start : start + _CHUNK]),
            )
        )
        removed += int(getattr(result, "rowcount", 0) or 0)
    return removed


def records_of(session: Session, source_org: str, entity: str) -> list[ReferenceRecordRow]:
    statement = (
        select(ReferenceRecordRow)
        .where(ReferenceRecordRow.source_org == source_org, ReferenceRecordRow.entity == entity)
        .order_by(ReferenceRecordRow.natural_key)
    )
    return list(session.scalars(statement))


def _stored_digests(
    session: Session, keys: Iterable[tuple[str, str, str]]
) -> dict[tuple[str, str, str], str]:
    columns = (ReferenceRecordRow.source_org, ReferenceRecordRow.entity, ReferenceRecordRow.key_digest)
    wanted = list(keys)
    found: dict[tuple[str, str, str], str] = {}
    for start in range(0, len(wanted), _CHUNK):
        statement = select(*columns, ReferenceRecordRow.body_digest).where(
            tuple_(*columns).in_(wanted[start : start + _CHUNK])
        )
        found.update({(org, entity, key): digest for org, entity, key, digest in session.execute(statement)})
    return found


def _row(record: ReferenceRecord, now: dt.datetime) -> ReferenceRecordRow:
    return ReferenceRecordRow(
        source_org=record.source_org,
        entity=record.entity,
        key_digest=record.key_digest,
        natural_key=record.natural_key,
        body=record.body,
        body_digest=record.body_digest,
        message_id=record.message_id,
        updated_at=now,
    )


def _replace(session: Session, record: ReferenceRecord, now: dt.datetime) -> None:
    session.execute(
        update(ReferenceRecordRow)
        .where(
            ReferenceRecordRow.source_org == record.source_org,
            ReferenceRecordRow.entity == record.entity,
            ReferenceRecordRow.key_digest == record.key_digest,
        )
        .values(
            natural_key=record.natural_key,
            body=record.body,
            body_digest=record.body_digest,
            message_id=record.message_id,
            updated_at=now,
        )
    )
