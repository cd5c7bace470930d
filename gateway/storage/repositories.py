"""Repository functions over a caller's session. Nothing here commits."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import and_, delete, or_, select, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.core.audit import AuditEntry, Checkpoint
from gateway.storage.tables import (
    AgreementRow,
    AttendanceEventRow,
    AuditCheckpoint,
    AuditEntryRow,
    AuditHead,
    ConsentRow,
    Credential,
    Delivery,
    Message,
    Organization,
    Plan,
    SourceRecordRow,
    Student,
    StudentLink,
    SyncState,
    UsedAssertion,
)

# -- organizations, credentials, agreements ---------------------------------------------


def upsert_organization(session: Session, doc: dict[str, Any], now: dt.datetime) -> None:
    row = session.get(Organization, doc["id"])
    if row is None:
        session.add(
            Organization(
                id=doc["id"],
                name=doc["name"],
                kind=doc["kind"],
                document=doc,
                created_at=now,
            )
        )
    else:
        row.name, row.kind, row.document = doc["name"], doc["kind"], doc


def organization_docs(session: Session) -> list[dict[str, Any]]:
    return [row.document for row in session.scalars(select(Organization).order_by(Organization.id))]


def add_credential(session: Session, credential: Credential) -> None:
    session.add(credential)


def active_credential(session: Session, client_id: str) -> Credential | None:
    row = session.get(Credential, client_id)
    return row if row is not None and row.revoked_at is None else None


def remember_assertion(session: Session, jti: str, expires_at: dt.datetime, now: dt.datetime) -> bool:
    """False when ``jti`` was already used (a replayed assertion)."""
    session.execute(delete(UsedAssertion).where(UsedAssertion.expires_at < now))
    if session.get(UsedAssertion, jti) is not None:
        return False
    # Two requests with one jti at once (PostgreSQL, read committed): both see no row, the
    # second insert then fails on the key. That is a replay too, not a server error.
    try:
        with session.begin_nested():
            session.add(UsedAssertion(jti=jti, expires_at=expires_at))
    except IntegrityError:
        return False
    return True


def upsert_agreement(session: Session, doc: dict[str, Any], now: dt.datetime) -> None:
    row = session.get(AgreementRow, doc["id"])
    if row is None:
        session.add(
            AgreementRow(
                id=doc["id"],
                version=doc["version"],
                status=doc["status"],
                document=doc,
                updated_at=now,
            )
        )
    else:
        row.version, row.status, row.document, row.updated_at = (
            doc["version"],
            doc["status"],
            doc,
            now,
        )


def agreement_docs(session: Session) -> list[dict[str, Any]]:
    return [row.document for row in session.scalars(select(AgreementRow).order_by(AgreementRow.id))]


# -- message store ----------------------------------------------------------------------


def add_message(session: Session, message: Message) -> None:
    session.add(message)
    session.flush()


def get_message(session: Session, message_id: str, *, for_update: bool = False) -> Message | None:
    return session.get(Message, message_id, with_for_update=for_update)


def touch_message(session: Session, message_id: str, now: dt.datetime) -> None:
    session.execute(update(Message).where(Message.id == message_id).values(updated_at=now))


def in_flight_messages(session: Session) -> list[tuple[str, dict[str, Any], dt.datetime]]:
    """(id, outcome, updated_at) of every ``received`` message, without its payload."""
    query = select(Message.id, Message.outcome, Message.updated_at).where(Message.status == "received")
    return [(row.id, row.outcome, row.updated_at) for row in session.execute(query)]


def list_messages(
    session: Session, status: str | None, limit: int, offset: int = 0, source: str | None = None
) -> list[Message]:
    query = select(Message).order_by(Message.received_at, Message.id).limit(limit).offset(offset)
    if status is not None:
        query = query.where(Message.status == status)
    if source is not None:
        query = query.where(Message.organization_id == source)
    return list(session.scalars(query))


def message_ids_with_status(session: Session, statuses: Iterable[str]) -> list[str]:
    query = select(Message.id).where(Message.status.in_(list(statuses))).order_by(Message.received_at)
    return list(session.scalars(query))


def message_ids_with_held_records(session: Session) -> list[str]:
    """Messages any of whose records wait for a link, whatever the message's overall status."""
    query = (
        select(Message.id, Message.outcome)
        .where(Message.status.in_(["held", "partial", "rejected"]))
        .order_by(Message.received_at)
    )
    return [row.id for row in session.execute(query) if (row.outcome or {}).get("held", 0) > 0]


# -- identity ---------------------------------------------------------------------------


def links_for(session: Session, identifiers: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
    keys = list(set(identifiers))
    found: dict[tuple[str, str], str] = {}
    for start in range(0, len(keys), 400):
        chunk = keys[start : start + 400]
        query = select(StudentLink.system, StudentLink.value, StudentLink.student_id).where(
            tuple_(StudentLink.system, StudentLink.value).in_(chunk)
        )
        found.update({(s, v): sid for s, v, sid in session.execute(query)})
    return found


def add_students(session: Session, student_ids: Iterable[str], now: dt.datetime) -> None:
    session.add_all(Student(id=sid, created_at=now) for sid in student_ids)


def add_links(
    session: Session,
    links: Iterable[tuple[str, str, str]],
    message_id: str | None,
    now: dt.datetime,
) -> None:
    session.add_all(
        StudentLink(system=s, value=v, student_id=sid, message_id=message_id, created_at=now)
        for s, v, sid in links
    )


def student_exists(session: Session, student_id: str) -> bool:
    return session.get(Student, student_id) is not None


# -- plans ------------------------------------------------------------------------------


def plans_for(session: Session, student_ids: Iterable[str]) -> dict[str, Plan]:
    ids = list(set(student_ids))
    found: dict[str, Plan] = {}
    for start in range(0, len(ids), 400):
        query = select(Plan).where(Plan.student_id.in_(ids[start : start + 400]))
        found.update({row.student_id: row for row in session.scalars(query)})
    return found


def save_plan(
    session: Session,
    row: Plan | None,
    student_id: str,
    document: dict[str, Any],
    now: dt.datetime,
) -> int:
    if row is None:
        session.add(Plan(student_id=student_id, document=document, version=1, updated_at=now))
        return 1
    row.document, row.version, row.updated_at = document, row.version + 1, now
    return row.version


def get_plan(session: Session, student_id: str) -> Plan | None:
    return session.get(Plan, student_id)


def count_plans(session: Session) -> int:
    from sqlalchemy import func

    return int(session.scalar(select(func.count()).select_from(Plan)) or 0)


# -- audit ------------------------------------------------------------------------------


def lock_audit_head(session: Session) -> AuditHead | None:
    return session.scalars(select(AuditHead).where(AuditHead.id == 1).with_for_update()).first()


def append_audit(session: Session, head: AuditHead | None, entries: list[AuditEntry]) -> None:
    session.add_all(
        AuditEntryRow(
            seq=e.seq,
            recorded_at=e.recorded_at,
            kind=e.kind,
            actor=e.actor,
            subject=e.subject,
            details=dict(e.details),
            prev_hash=e.prev_hash,
            hash=e.hash,
        )
        for e in entries
    )
    last = entries[-1]
    if head is None:
        session.add(AuditHead(id=1, seq=last.seq, hash=last.hash))
    else:
        head.seq, head.hash = last.seq, last.hash


def iter_audit(session: Session, batch: int = 2000) -> Iterator[AuditEntry]:
    query = select(AuditEntryRow).order_by(AuditEntryRow.seq).execution_options(yield_per=batch)
    for row in session.scalars(query):
        yield AuditEntry(
            seq=row.seq,
            recorded_at=row.recorded_at,
            kind=row.kind,
            actor=row.actor,
            subject=row.subject,
            details=row.details,
            prev_hash=row.prev_hash,
            hash=row.hash,
        )


def audit_entries(session: Session, kind: str | None, limit: int, offset: int) -> list[AuditEntryRow]:
    query = select(AuditEntryRow).order_by(AuditEntryRow.seq).limit(limit).offset(offset)
    if kind is not None:
        query = query.where(AuditEntryRow.kind == kind)
    return list(session.scalars(query))


def audit_head(session: Session) -> AuditHead | None:
    return session.get(AuditHead, 1)


def add_checkpoint(session: Session, point: Checkpoint, key_id: str, signature: str) -> None:
    if session.get(AuditCheckpoint, point.seq) is None:
        session.add(
            AuditCheckpoint(
                seq=point.seq,
                hash=point.hash,
                signed_at=point.signed_at,
                key_id=key_id,
                signature=signature,
            )
        )


def checkpoints(session: Session) -> list[AuditCheckpoint]:
    return list(session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.seq)))


# -- consents ---------------------------------------------------------------------------


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


def student_identifiers(session: Session, student_id: str) -> list[tuple[str, str]]:
    query = (
        select(StudentLink.system, StudentLink.value)
        .where(StudentLink.student_id == student_id)
        .order_by(StudentLink.created_at, StudentLink.system)
    )
    return [(system, value) for system, value in session.execute(query)]


def cancel_queued_deliveries(session: Session, consent_id: str, reason: str, now: dt.datetime) -> int:
    """Cancel the queued deliveries that rely on ``consent_id``; how many were cancelled.

    The JSON containment test runs in Python so the query stays the same on SQLite and
    PostgreSQL; only the consent's student's queued deliveries are loaded.
    """
    consent = session.get(ConsentRow, consent_id)
    query = select(Delivery).where(Delivery.status == "queued").with_for_update()
    if consent is not None and consent.student_id is not None:
        query = query.where(Delivery.student_id == consent.student_id)
    cancelled = 0
    for delivery in session.scalars(query):
        if consent_id in (delivery.consent_ids or []):
            delivery.status, delivery.reason, delivery.updated_at = "cancelled", reason, now
            cancelled += 1
    session.flush()
    return cancelled


def get_agreement(session: Session, agreement_id: str) -> AgreementRow | None:
    return session.get(AgreementRow, agreement_id)


def agreement_rows(session: Session) -> list[AgreementRow]:
    return list(session.scalars(select(AgreementRow).order_by(AgreementRow.id)))


# -- deliveries (the transactional outbox) ----------------------------------------------

# A delivery being sent is 'sending' until its outcome is recorded, held by a lease its sender
# renews; once ``lease_until`` has passed (the sender died), another worker may take it over.


def add_delivery(session: Session, delivery: Delivery) -> None:
    session.add(delivery)
    session.flush()


def get_delivery(session: Session, delivery_id: str, *, lock: bool = False) -> Delivery | None:
    if not lock:
        return session.get(Delivery, delivery_id)
    query = select(Delivery).where(Delivery.id == delivery_id).with_for_update()
    return session.scalars(query).first()


def queued_deliveries_like(
    session: Session, student_id: str, recipient_org: str, purpose: str
) -> list[Delivery]:
    query = (
        select(Delivery)
        .where(
            Delivery.student_id == student_id,
            Delivery.recipient_org == recipient_org,
            Delivery.purpose == purpose,
            Delivery.status == "queued",
        )
        .order_by(Delivery.created_at, Delivery.id)
    )
    return list(session.scalars(query))


def claim_due_deliveries(session: Session, now: dt.datetime, limit: int) -> list[Delivery]:
    """Due deliveries (queued and due, or sending with a lapsed lease), locked; rows another
    worker holds are skipped (PostgreSQL SKIP LOCKED).

    SQLite renders no FOR UPDATE; its writers are serialised by BEGIN IMMEDIATE instead.
    """
    due = or_(
        and_(Delivery.status == "queued", Delivery.next_attempt_at <= now),
        and_(Delivery.status == "sending", Delivery.lease_until <= now),
    )
    query = (
        select(Delivery)
        .where(due)
        .order_by(Delivery.next_attempt_at, Delivery.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(session.scalars(query))


def renew_delivery_leases(session: Session, owner: str, until: dt.datetime) -> int:
    """Extend the leases ``owner`` still holds to ``until``; how many it still holds."""
    held = (Delivery.lease_owner == owner) & (Delivery.status == "sending")
    result = session.execute(update(Delivery).where(held).values(lease_until=until))
    return int(getattr(result, "rowcount", 0) or 0)


def list_deliveries(
    session: Session,
    *,
    visible_to: str | None,
    status: str | None,
    limit: int,
    offset: int = 0,
) -> list[Delivery]:
    """Deliveries, oldest first. ``visible_to``: those an organization sent, and those it received."""
    query = select(Delivery).order_by(Delivery.created_at, Delivery.id).limit(limit).offset(offset)
    if visible_to is not None:
        # A recipient sees only what reached it: never a queued or cancelled referral's reason.
        query = query.where(
            or_(
                Delivery.source_org == visible_to,
                and_(Delivery.recipient_org == visible_to, Delivery.status == "sent"),
            )
        )
    if status is not None:
        query = query.where(Delivery.status == status)
    return list(session.scalars(query))


def lock_plan(session: Session, student_id: str) -> Plan | None:
    """The plan row, locked, so two writers of one plan never lose each other's update."""
    query = select(Plan).where(Plan.student_id == student_id).with_for_update()
    return session.scalars(query).first()


# -- source record index, pull watermarks -----------------------------------------------


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
    insert = _dialect_insert(session)
    statement = insert(SourceRecordRow.__table__)  # Core, not ORM: no per-row unit of work
    updated = {
        k: statement.excluded[k]
        for k in ("student_id", "record_digest", "message_id", "status", "updated_at")
    }
    session.execute(statement.on_conflict_do_update(index_elements=["key_digest"], set_=updated), unique)


def _dialect_insert(session: Session) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert


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


def get_sync_state(session: Session, source_org: str, feed: str) -> SyncState | None:
    return session.get(SyncState, (source_org, feed))


def save_sync_state(
    session: Session,
    source_org: str,
    feed: str,
    watermark: str | None,
    details: dict[str, Any],
    now: dt.datetime,
) -> None:
    row = session.get(SyncState, (source_org, feed))
    if row is None:
        session.add(
            SyncState(source_org=source_org, feed=feed, watermark=watermark, details=details, updated_at=now)
        )
        return
    row.watermark, row.details, row.updated_at = watermark, details, now


# -- attendance events (kept beside the plan) -------------------------------------------

_CHUNK = 900  # bound parameters per IN list: well under SQLite's and PostgreSQL's limits


def attendance_content_keys(session: Session, element_ids: Iterable[str]) -> dict[str, str]:
    """element id -> content key of the stored events among ``element_ids``."""
    ids = list(set(element_ids))
    found: dict[str, str] = {}
    table = AttendanceEventRow.__table__
    for start in range(0, len(ids), _CHUNK):
        query = select(table.c.element_id, table.c.content_key).where(
            table.c.element_id.in_(ids[start : start + _CHUNK])
        )
        found.update({element_id: key for element_id, key in session.execute(query)})
    return found


def upsert_attendance_events(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert or replace events by element id (one executemany, no ORM objects)."""
    if not rows:
        return
    statement = _dialect_insert(session)(AttendanceEventRow.__table__)
    replaced = {k: statement.excluded[k] for k in rows[0] if k != "element_id"}
    session.execute(statement.on_conflict_do_update(index_elements=["element_id"], set_=replaced), rows)


def attendance_inputs(session: Session, student_ids: Iterable[str]) -> list[tuple[Any, ...]]:
    """(student_id, source_org, school, event_date, category, record_digest, regime, sensitivity)
    of every stored event of ``student_ids``: the derivation's inputs, without the documents."""
    ids = list(set(student_ids))
    table = AttendanceEventRow.__table__
    columns = (
        table.c.student_id,
        table.c.source_org,
        table.c.school,
        table.c.event_date,
        table.c.category,
        table.c.record_digest,
        table.c.regime,
        table.c.sensitivity,
    )
    found: list[tuple[Any, ...]] = []
    for start in range(0, len(ids), _CHUNK):
        query = select(*columns).where(table.c.student_id.in_(ids[start : start + _CHUNK]))
        found.extend(tuple(row) for row in session.execute(query))
    return found


def attendance_events(session: Session, student_id: str) -> list[AttendanceEventRow]:
    query = (
        select(AttendanceEventRow)
        .where(AttendanceEventRow.student_id == student_id)
        .order_by(AttendanceEventRow.event_date, AttendanceEventRow.element_id)
    )
    return list(session.scalars(query))


def delete_attendance_events(
    session: Session, source_org: str, entity: str, student_id: str, source_ids: Iterable[str]
) -> int:
    """Remove the events one source's records brought to one student; how many were removed."""
    ids = list(set(source_ids))
    removed = 0
    for start in range(0, len(ids), _CHUNK):
        result = session.execute(
            delete(AttendanceEventRow).where(
                AttendanceEventRow.student_id == student_id,
                AttendanceEventRow.source_org == source_org,
                AttendanceEventRow.entity == entity,
                AttendanceEventRow.source_id.in_(ids[start : start + _CHUNK]),
            )
        )
        removed += int(getattr(result, "rowcount", 0) or 0)
    return removed
