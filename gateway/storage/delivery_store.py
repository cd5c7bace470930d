"""Deliveries: the transactional outbox of referrals, with its sender leases. Nothing here commits."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from gateway.storage.tables import ConsentRow, Delivery

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
