"""Agreement versions and signatures: the queries of the agreement life cycle.

``agreements`` holds the version in force of each agreement (what the decision point reads);
``agreement_versions`` every version proposed; ``agreement_signatures`` who signed which.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from gateway.storage.tables import AgreementRow, AgreementSignatureRow, AgreementVersionRow

PROPOSED, IN_FORCE, SUPERSEDED, WITHDRAWN = "proposed", "in-force", "superseded", "withdrawn"


def keys_for_id(session: Session, agreement_id: str) -> list[str]:
    """Every agreement key whose parties chose this id (one, unless scoped apart)."""
    query = (
        select(AgreementVersionRow.key)
        .where(AgreementVersionRow.agreement_id == agreement_id)
        .distinct()
        .order_by(AgreementVersionRow.key)
    )
    return list(session.scalars(query))


def all_keys(session: Session) -> list[str]:
    return list(session.scalars(select(AgreementVersionRow.key).distinct().order_by(AgreementVersionRow.key)))


def versions(session: Session, key: str) -> list[AgreementVersionRow]:
    query = (
        select(AgreementVersionRow)
        .where(AgreementVersionRow.key == key)
        .order_by(AgreementVersionRow.version)
    )
    return list(session.scalars(query))


def version_row(session: Session, key: str, version: int) -> AgreementVersionRow | None:
    return session.get(AgreementVersionRow, (key, version))


def add_version(session: Session, row: AgreementVersionRow) -> None:
    session.add(row)
    session.flush()


def propose(
    session: Session,
    *,
    key: str,
    document: dict[str, Any],
    digest: str,
    widens: tuple[str, ...],
    proposed_by: str,
    now: dt.datetime,
) -> AgreementVersionRow:
    """Store ``document`` as a proposed version of ``key`` (its own ``version`` number)."""
    row = AgreementVersionRow(
        key=key,
        version=document["version"],
        agreement_id=document["id"],
        state=PROPOSED,
        document=document,
        digest=digest,
        change="widening" if widens else "narrowing",
        widens=list(widens),
        proposed_by=proposed_by,
        created_at=now,
        decided_at=None,
    )
    add_version(session, row)
    return row


def withdraw_pending(session: Session, key: str, now: dt.datetime) -> list[int]:
    """Pending proposals of ``key`` end withdrawn; their version numbers."""
    pending = [row for row in versions(session, key) if row.state == PROPOSED]
    for row in pending:
        row.state, row.decided_at = WITHDRAWN, now
    session.flush()
    return [row.version for row in pending]


def put_in_force(session: Session, row: AgreementVersionRow, now: dt.datetime) -> None:
    """``row`` becomes the version in force of its agreement; the one before is superseded."""
    session.execute(
        update(AgreementVersionRow)
        .where(AgreementVersionRow.key == row.key, AgreementVersionRow.state == IN_FORCE)
        .values(state=SUPERSEDED, decided_at=now)
    )
    row.state, row.decided_at = IN_FORCE, now
    current = session.get(AgreementRow, row.key)
    document: dict[str, Any] = dict(row.document)
    if current is None:
        session.add(
            AgreementRow(
                id=row.key, version=row.version, status=document["status"], document=document, updated_at=now
            )
        )
    else:
        current.version, current.status, current.document, current.updated_at = (
            row.version,
            document["status"],
            document,
            now,
        )
    session.flush()


def signatures(session: Session, key: str, version: int) -> list[AgreementSignatureRow]:
    query = (
        select(AgreementSignatureRow)
        .where(AgreementSignatureRow.key == key, AgreementSignatureRow.version == version)
        .order_by(AgreementSignatureRow.organization_id)
    )
    return list(session.scalars(query))


def add_signature(session: Session, row: AgreementSignatureRow) -> None:
    session.add(row)
    session.flush()


# -- the agreements in force, as documents ---------------------------------------------


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


def get_agreement(session: Session, agreement_id: str) -> AgreementRow | None:
    return session.get(AgreementRow, agreement_id)


def agreement_rows(session: Session) -> list[AgreementRow]:
    return list(session.scalars(select(AgreementRow).order_by(AgreementRow.id)))
