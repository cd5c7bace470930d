"""Partners' public signing keys (``partner_keys``) and their JWKS URLs (``partner_jwks``).

A key is found by the client id of the assertion (its ``iss``) and the ``kid`` of its header. A
removed key stays as a row with ``removed_at`` set, so a refresh of the partner's JWKS never
brings back a key the administrator removed.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from gateway.storage.tables import PartnerJwksRow, PartnerKeyRow


def key_row(session: Session, client_id: str, kid: str) -> PartnerKeyRow | None:
    return session.get(PartnerKeyRow, {"kid": kid, "client_id": client_id})


def active_key(session: Session, client_id: str, kid: str) -> PartnerKeyRow | None:
    row = key_row(session, client_id, kid)
    return row if row is not None and row.removed_at is None else None


def put_key(session: Session, row: PartnerKeyRow) -> None:
    """Add ``row``, or bring back a removed key of the same client and kid with its new JWK."""
    found = key_row(session, row.client_id, row.kid)
    if found is None:
        session.add(row)
        return
    found.jwk, found.algorithm, found.jwks_url = row.jwk, row.algorithm, row.jwks_url
    found.added_by, found.created_at, found.removed_at = row.added_by, row.created_at, None


def keys_of_organization(session: Session, organization_id: str) -> list[PartnerKeyRow]:
    query = (
        select(PartnerKeyRow)
        .where(PartnerKeyRow.organization_id == organization_id, PartnerKeyRow.removed_at.is_(None))
        .order_by(PartnerKeyRow.client_id, PartnerKeyRow.kid)
    )
    return list(session.scalars(query))


def keys_by_kid(session: Session, kid: str, organization_id: str | None = None) -> list[PartnerKeyRow]:
    query = select(PartnerKeyRow).where(PartnerKeyRow.kid == kid, PartnerKeyRow.removed_at.is_(None))
    if organization_id is not None:
        query = query.where(PartnerKeyRow.organization_id == organization_id)
    return list(session.scalars(query.order_by(PartnerKeyRow.client_id)))


def mark_removed(session: Session, rows: list[PartnerKeyRow], now: dt.datetime) -> None:
    for row in rows:
        row.removed_at = now


def jwks_of(session: Session, client_id: str) -> PartnerJwksRow | None:
    row = session.get(PartnerJwksRow, client_id)
    return row if row is not None and row.removed_at is None else None


def jwks_of_organization(session: Session, organization_id: str) -> list[PartnerJwksRow]:
    query = select(PartnerJwksRow).where(
        PartnerJwksRow.organization_id == organization_id, PartnerJwksRow.removed_at.is_(None)
    )
    return list(session.scalars(query.order_by(PartnerJwksRow.client_id)))


def put_jwks(session: Session, row: PartnerJwksRow) -> None:
    found = session.get(PartnerJwksRow, row.client_id)
    if found is None:
        session.add(row)
        return
    found.url, found.fetched_at, found.keys = row.url, row.fetched_at, row.keys
    found.created_at, found.removed_at = row.created_at, None


def claim_refresh(session: Session, client_id: str, now: dt.datetime, not_before: dt.datetime) -> bool:
    """Take the right to fetch ``client_id``'s JWKS now: True for one caller per interval, even
    with many workers at once (one conditional update decides)."""
    result = session.execute(
        update(PartnerJwksRow)
        .where(
            PartnerJwksRow.client_id == client_id,
            PartnerJwksRow.removed_at.is_(None),
            or_(PartnerJwksRow.fetched_at.is_(None), PartnerJwksRow.fetched_at <= not_before),
        )
        .values(fetched_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


def replace_url_keys(
    session: Session, jwks: PartnerJwksRow, keys: list[tuple[str, dict[str, Any], str]], now: dt.datetime
) -> None:
    """The keys of ``jwks``'s URL become ``keys`` (kid, jwk, algorithm); keys the administrator
    removed stay removed, keys gone from the URL are forgotten."""
    removed = {
        row.kid
        for row in session.scalars(
            select(PartnerKeyRow).where(
                PartnerKeyRow.client_id == jwks.client_id, PartnerKeyRow.removed_at.is_not(None)
            )
        )
    }
    session.execute(
        delete(PartnerKeyRow).where(
            PartnerKeyRow.client_id == jwks.client_id,
            PartnerKeyRow.jwks_url.is_not(None),
            PartnerKeyRow.removed_at.is_(None),
        )
    )
    jwks.keys = [jwk for _, jwk, _ in keys]
    for kid, jwk, algorithm in keys:
        if kid in removed or key_row(session, jwks.client_id, kid) is not None:
            continue
        session.add(
            PartnerKeyRow(
                kid=kid,
                client_id=jwks.client_id,
                organization_id=jwks.organization_id,
                jwk=jwk,
                algorithm=algorithm,
                jwks_url=jwks.url,
                added_by="jwks-refresh",
                created_at=now,
                removed_at=None,
            )
        )
