"""Organizations, their client credentials and the assertion ids already used. Nothing here commits."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.storage.tables import Credential, Organization, UsedAssertion


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
