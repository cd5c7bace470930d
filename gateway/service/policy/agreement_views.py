"""What a caller sees of an agreement, and which agreements it may see at all.

A partner sees only agreements that name it (in the version in force or in a pending
proposal); any other agreement is answered exactly as one that does not exist. The gateway
administrator sees every agreement.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from gateway.artifacts import agreement_from_doc
from gateway.core.canonical import digest
from gateway.errors import NotFound
from gateway.storage import agreement_store as store
from gateway.storage.db import Session
from gateway.storage.tables import AgreementSignatureRow, AgreementVersionRow

ADMINISTRATOR = "administrator"


@dataclass(frozen=True, kw_only=True)
class Acting:
    """Who acts on an agreement: a partner organization, or the gateway administrator."""

    organization: str | None
    credential: str = "cli"

    @property
    def is_administrator(self) -> bool:
        return self.organization is None

    @property
    def audit_actor(self) -> str:
        return self.organization or f"{ADMINISTRATOR}:{self.credential}"

    @classmethod
    def administrator(cls, credential: str = "cli") -> Acting:
        return cls(organization=None, credential=credential)

    @classmethod
    def partner(cls, organization: str, credential: str = "") -> Acting:
        return cls(organization=organization, credential=credential)


@dataclass(frozen=True, kw_only=True)
class AgreementView:
    id: str
    key: str
    status: str  # proposed | active | suspended | terminated | withdrawn
    version: int | None
    in_force: bool
    parties: tuple[str, ...]
    document: dict[str, Any] | None
    signatures: tuple[dict[str, Any], ...]
    proposal: dict[str, Any] | None
    effect: str = "unchanged"  # unchanged | proposed | in-force | signed | withdrawn

    @property
    def changed(self) -> bool:
        return self.effect != "unchanged"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "version": self.version,
            "inForce": self.in_force,
            "parties": list(self.parties),
            "document": self.document,
            "signatures": list(self.signatures),
            "proposal": self.proposal,
            "effect": self.effect,
            "changed": self.changed,
        }


def not_found(agreement_id: str) -> NotFound:
    # The same words whether the agreement does not exist or does not name the caller.
    return NotFound(f"agreement {agreement_id} is not available to this caller")


def named_parties(rows: list[AgreementVersionRow]) -> set[str]:
    """Who may see the agreement: the parties of the version in force and of pending proposals,
    or, when all were withdrawn, of the last version proposed."""
    live = [row for row in rows if row.state in (store.IN_FORCE, store.PROPOSED)] or rows[-1:]
    return {party for row in live for party in row.document["parties"]}


def visible_keys(session: Session, acting: Acting, agreement_id: str | None = None) -> list[str]:
    keys = store.all_keys(session) if agreement_id is None else store.keys_for_id(session, agreement_id)
    if acting.is_administrator:
        return keys
    return [key for key in keys if acting.organization in named_parties(store.versions(session, key))]


def resolve_key(session: Session, acting: Acting, agreement_id: str) -> str:
    """The key of the agreement ``agreement_id`` names for this caller, or NotFound."""
    keys = visible_keys(session, acting, agreement_id)
    if not keys and acting.is_administrator and store.versions(session, agreement_id):
        keys = [agreement_id]  # the administrator may name a scoped agreement by its key
    if not keys:
        raise not_found(agreement_id)
    # Two agreements with one id are told apart by scope: the caller's own first, then the plain id.
    own = scoped_key(agreement_id, acting.organization) if acting.organization else None
    for wanted in (own, agreement_id):
        if wanted in keys:
            return wanted
    return keys[0]


def scoped_key(agreement_id: str, organization: str) -> str:
    # Agreement ids never hold '~', so a scoped key cannot collide with a chosen id.
    return f"{agreement_id}~{digest(organization)[7:15]}"


def view(session: Session, key: str, today: dt.date, *, effect: str = "unchanged") -> AgreementView:
    rows = store.versions(session, key)
    current = next((row for row in rows if row.state == store.IN_FORCE), None)
    pending = next((row for row in reversed(rows) if row.state == store.PROPOSED), None)
    latest = current or pending or rows[-1]
    return AgreementView(
        id=latest.agreement_id,
        key=key,
        status=_status(current, pending),
        version=current.version if current else None,
        in_force=current is not None and agreement_from_doc(current.document).in_force(today),
        parties=tuple(sorted(latest.document["parties"])),
        document=dict(current.document) if current else None,
        signatures=_signatures(session, current),
        proposal=_proposal(session, pending) if pending else None,
        effect=effect,
    )


def _signatures(session: Session, row: AgreementVersionRow | None) -> tuple[dict[str, Any], ...]:
    if row is None:
        return ()
    return tuple(_signature(s) for s in store.signatures(session, row.key, row.version))


def _status(current: AgreementVersionRow | None, pending: AgreementVersionRow | None) -> str:
    if current is not None:
        return str(current.document["status"])
    return "proposed" if pending is not None else "withdrawn"


def _proposal(session: Session, row: AgreementVersionRow) -> dict[str, Any]:
    signed = store.signatures(session, row.key, row.version)
    names = {s.organization_id for s in signed}
    return {
        "version": row.version,
        "digest": row.digest,
        "proposedBy": row.proposed_by,
        "proposedAt": row.created_at.isoformat(),
        "widens": list(row.widens),
        "document": dict(row.document),
        "signatures": [_signature(s) for s in signed],
        "awaiting": sorted(set(row.document["parties"]) - names),
    }


def _signature(row: AgreementSignatureRow) -> dict[str, Any]:
    return {
        "organization": row.organization_id,
        "signedBy": row.signed_by,
        "signedAt": row.signed_at.isoformat(),
        "method": row.method,
        "digest": row.digest,
        "version": row.version,
    }
