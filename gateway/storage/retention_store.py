"""Queries of the retention purge and its report: stored copies without their bytes, and locks.

Candidates are read as plain columns (never the payload bytes) so a scan over many messages
stays cheap; a copy is purged only after ``lock_*`` has taken its row (``FOR UPDATE SKIP
LOCKED`` on PostgreSQL: a second runner skips what the first holds; SQLite serialises writers).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gateway.storage.tables import (
    AgreementRow,
    AgreementSignatureRow,
    AgreementVersionRow,
    ConsentRow,
    Delivery,
    Message,
    SyncState,
)


def agreement_documents(session: Session) -> list[dict[str, Any]]:
    """Every agreement version that is or was in force (a copy made under a superseded version
    stays bound by it), with the rows of ``agreements`` (seeded ones may have no version row)."""
    docs = [row.document for row in session.scalars(select(AgreementRow).order_by(AgreementRow.id))]
    states = ("in-force", "superseded")
    query = select(AgreementVersionRow.document).where(AgreementVersionRow.state.in_(states))
    docs += list(session.scalars(query.order_by(AgreementVersionRow.key, AgreementVersionRow.version)))
    return docs


def message_copies(session: Session, *, include_purged: bool = False) -> list[Any]:
    columns = (Message.id, Message.organization_id, Message.status, Message.received_at, Message.purged_at)
    query = select(*columns)
    if not include_purged:
        query = query.where(Message.purged_at.is_(None))
    return list(session.execute(query.order_by(Message.id)))


def delivery_copies(session: Session, *, include_purged: bool = False) -> list[Any]:
    columns = (
        Delivery.id,
        Delivery.source_org,
        Delivery.recipient_org,
        Delivery.status,
        Delivery.created_at,
        Delivery.purged_at,
        Delivery.payload,
    )
    query = select(*columns)
    if not include_purged:
        query = query.where(Delivery.purged_at.is_(None))
    return list(session.execute(query.order_by(Delivery.id)))


def lock_messages(session: Session, ids: Sequence[str]) -> list[Message]:
    query = (
        select(Message)
        .where(Message.id.in_(ids), Message.purged_at.is_(None))
        .order_by(Message.id)
        .with_for_update(skip_locked=True)
    )
    return list(session.scalars(query))


def lock_deliveries(session: Session, ids: Sequence[str]) -> list[Delivery]:
    query = (
        select(Delivery)
        .where(Delivery.id.in_(ids), Delivery.purged_at.is_(None))
        .order_by(Delivery.id)
        .with_for_update(skip_locked=True)
    )
    return list(session.scalars(query))


def file_still_needed(session: Session, payload_file: str) -> bool:
    """Whether an unpurged message still reads ``payload_file`` (files are named by digest, so
    two messages with the same bytes share one)."""
    query = select(func.count()).where(Message.payload_file == payload_file, Message.purged_at.is_(None))
    return bool(session.scalar(query))


def purged_at_of(session: Session, message_id: str) -> dt.datetime | None:
    return session.scalar(select(Message.purged_at).where(Message.id == message_id))


def purged_message_ids(session: Session, ids: Sequence[str]) -> set[str]:
    query = select(Message.id).where(Message.id.in_(ids), Message.purged_at.is_not(None))
    return set(session.scalars(query))


# -- the flow report's reads (report and retention share this module: both scan stored copies) --


def consent_rows(session: Session) -> list[ConsentRow]:
    return list(session.scalars(select(ConsentRow).order_by(ConsentRow.id)))


def agreement_version_rows(session: Session) -> list[AgreementVersionRow]:
    query = select(AgreementVersionRow).order_by(AgreementVersionRow.key, AgreementVersionRow.version)
    return list(session.scalars(query))


def signers_by_version(session: Session) -> dict[tuple[str, int], set[str]]:
    found: dict[tuple[str, int], set[str]] = {}
    rows = session.execute(
        select(
            AgreementSignatureRow.key, AgreementSignatureRow.version, AgreementSignatureRow.organization_id
        )
    )
    for key, version, organization in rows:
        found.setdefault((key, version), set()).add(organization)
    return found


# -- when the purge last ran (``spgw deliver`` runs it every retention interval) -------------

_LAST_RUN = ("gateway", "retention")


def last_run(session: Session) -> dt.datetime | None:
    row = session.get(SyncState, _LAST_RUN)
    return row.updated_at if row is not None else None


def mark_run(session: Session, at: dt.datetime) -> None:
    row = session.get(SyncState, _LAST_RUN, with_for_update=True)
    if row is None:
        session.add(
            SyncState(source_org=_LAST_RUN[0], feed=_LAST_RUN[1], watermark=None, details={}, updated_at=at)
        )
    else:
        row.updated_at = at
