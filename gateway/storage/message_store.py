"""Inbound messages and the pull feeds' sync state (watermarks). Nothing here commits."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from gateway.storage.tables import Message, SyncState


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
