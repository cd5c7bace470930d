"""Family consents: imported and exported as FHIR R4 Consent, recorded, revoked and listed.

A consent is checked whole before anything is stored: a valid R4 Consent, every required
element present (34 CFR 99.30, 45 CFR 164.508(c), 42 CFR 2.31), known codes and partners,
and, when the student's birth date is known, a signer who may consent for this data at the
signing time (R5). Every problem is reported at once; nothing is half stored. The stored
document stays as received; the gateway tracks the link to a student and the revocation
beside it, so an export can show the revocation without rewriting what the family signed.
"""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import dataclass, replace
from typing import Any

from gateway.core.canonical import digest
from gateway.core.consent import Consent, Provision, revoke
from gateway.errors import AccessDenied, Conflict, InputInvalid, Issue, NotFound
from gateway.formats.fhir_consent import read_consent
from gateway.formats.records import load_json
from gateway.service.compliance import audit
from gateway.service.fhir import fhir_consents
from gateway.service.policy.consent_checks import check_consent
from gateway.service.policy.consent_forms import ConsentForm, consent_document
from gateway.service.policy.policies import consent_from_row, link_pending_consents
from gateway.service.runtime import Runtime
from gateway.storage import consent_store, delivery_store, organization_store, student_store
from gateway.storage.db import Session
from gateway.storage.tables import ConsentRow


@dataclass(frozen=True, kw_only=True)
class ConsentSummary:
    """What the gateway holds about one consent (no patient identifier: it is sensitive)."""

    id: str
    student_id: str | None
    status: str
    state: str  # active | revoked | expired | not-yet-valid | the FHIR status otherwise
    scope: str
    grantor: str
    provision: str  # permit | deny
    recipients: tuple[str, ...]
    categories: tuple[str, ...]
    purposes: tuple[str, ...]
    labels: tuple[str, ...]
    signer_role: str | None
    signed_at: dt.datetime | None
    expires: dt.datetime | None
    revoked_at: dt.datetime | None
    document_digest: str
    created: bool = False
    cancelled_deliveries: int = 0

    @property
    def parties(self) -> frozenset[str]:
        return frozenset({self.grantor, *self.recipients})

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "studentId": self.student_id,
            "status": self.status,
            "state": self.state,
            "scope": self.scope,
            "grantor": self.grantor,
            "provision": self.provision,
            "recipients": list(self.recipients),
            "categories": list(self.categories),
            "purposes": list(self.purposes),
            "labels": list(self.labels),
            "signerRole": self.signer_role,
            "signedAt": _iso(self.signed_at),
            "expires": _iso(self.expires),
            "revokedAt": _iso(self.revoked_at),
            "documentDigest": self.document_digest,
            "created": self.created,
            "cancelledDeliveries": self.cancelled_deliveries,
        }


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat()


# -- import -------------------------------------------------------------------------------


def import_consent_bytes(rt: Runtime, payload: bytes, *, recorded_by: str) -> ConsentSummary:
    """``import_consent`` for a body as received (strict JSON: no duplicate keys, UTF-8)."""
    return import_consent(rt, load_json(payload), recorded_by=recorded_by)


def import_consent(
    rt: Runtime, document: Any, *, recorded_by: str, actor: str | None = None
) -> ConsentSummary:
    """``actor``: who the audit names when not the recorder (a family member on the family page,
    recording through the organization that holds the records)."""
    with rt.sessions.begin() as session:
        summary, draft = store_consent(session, rt, document, recorded_by=recorded_by)
        if draft is not None:
            audit.record(session, rt, [replace(draft, actor=actor or draft.actor)])
    if draft is not None:
        audit.checkpoint(rt)
    return summary


def store_consent(
    session: Session, rt: Runtime, document: Any, *, recorded_by: str
) -> tuple[ConsentSummary, audit.AuditDraft | None]:
    """Check and store one consent in the caller's transaction; the audit draft when it is new."""
    consent = check_consent(session, rt, document)
    if recorded_by != consent.grantor:
        raise _not_grantor()
    key = _key_for(session, rt, consent.id, recorded_by)
    existing = consent_store.get_consent(session, key)
    if existing is not None:
        if digest(existing.document) != digest(document):
            raise Conflict(
                f"consent {consent.id} already exists with other content; a changed consent needs a new id",
                [Issue(path="Consent.id", message="already used by a different consent of yours")],
            )
        return _summary(rt, existing), None
    row = ConsentRow(
        id=key,
        student_id=consent.student_id or None,
        status=consent.status,
        scope=consent.scope,
        grantor=consent.grantor,
        signed_at=consent.signed_at,
        recorded_by=recorded_by,
        local_id=consent.id,
        document=copy.deepcopy(document),
        updated_at=rt.now(),
    )
    consent_store.add_consent(session, row)
    fhir_consents.serve(session, rt, row)
    summary = _summary(rt, row, created=True)
    return summary, _recorded_draft(summary, recorded_by)


def _key_for(session: Session, rt: Runtime, consent_id: str, organization: str) -> str:
    """The stored key of a consent id chosen by ``organization``: the id itself, unless another
    organization's consent already holds it; then a key scoped to the recorder, so that no 409
    reveals a consent the caller has no part in (a clash among its own is a 409)."""
    taken = consent_store.get_consent(session, consent_id)
    if taken is None or organization in _row_parties(rt, taken):
        return consent_id
    return scoped_consent_key(consent_id, organization)


def scoped_consent_key(consent_id: str, organization: str) -> str:
    # FHIR ids hold no '~', so a scoped key never collides with a chosen id.
    return f"{consent_id}~{digest(organization)[7:15]}"


def _row_parties(rt: Runtime, row: ConsentRow) -> set[str]:
    """The organizations a stored consent names, and the one that recorded it."""
    consent = consent_from_row(rt, row)
    return {row.recorded_by or consent.grantor, consent.grantor, *_actors(consent.provision)}


def _find(session: Session, consent_id: str, party: str | None) -> ConsentRow | None:
    """The consent ``consent_id`` names for ``party``: its own scoped one first, then the plain id."""
    if party is not None:
        own = consent_store.get_consent(session, scoped_consent_key(consent_id, party))
        if own is not None:
            return own
    return consent_store.get_consent(session, consent_id)


def grantor_of(rt: Runtime, document: dict[str, Any]) -> str:
    """The organization a consent document lets disclose (who may record and revoke it)."""
    return read_consent(document, rt.artifacts.codes).consent.grantor


def _not_grantor() -> AccessDenied:
    return AccessDenied(
        "only the organization a consent lets disclose (Consent.organization) may record or revoke it"
    )


def record_consent(
    rt: Runtime,
    *,
    student_ref: str,
    grantor: str,
    recipients: tuple[str, ...] | list[str],
    categories: tuple[str, ...] | list[str],
    purposes: tuple[str, ...] | list[str],
    signer_role: str,
    signed_at: dt.date | dt.datetime,
    expires: dt.date,
    labels: tuple[str, ...] | list[str] = (),
    deny: bool = False,
    recorded_by: str,
    signer_identifier: tuple[str, str] | None = None,
    relationship: str | None = None,
    actor: str | None = None,
) -> ConsentSummary:
    """Write what the family signed as a FHIR Consent and import it (checked like any import).

    A parent or guardian is named by ``signer_identifier`` (system, value), which a guardian link
    to the student must know (issue 10); ``relationship`` is an HL7 v3 RoleCode."""
    form = ConsentForm(
        patient=_patient_identifier(rt, student_ref, grantor),
        grantor=grantor,
        recipients=tuple(recipients),
        categories=tuple(categories),
        purposes=tuple(purposes),
        signer_role=signer_role,
        signed_at=signed_at,
        expires=expires,
        labels=tuple(labels),
        deny=deny,
        signer_identifier=signer_identifier,
        relationship=relationship,
    )
    document = consent_document(form, rt.artifacts.codes)
    return import_consent(rt, document, recorded_by=recorded_by, actor=actor)


def _patient_identifier(rt: Runtime, student_ref: str, grantor: str) -> tuple[str, str]:
    """SYSTEM|VALUE as given (the student may not be known yet); for stu-..., a linked identifier,
    the grantor's own first (the one its records and the family's form use)."""
    if "|" in student_ref:
        system, value = student_ref.rsplit("|", 1)
        return system, value
    with rt.sessions() as session:
        identifiers = student_store.student_identifiers(session, student_ref)
        own = {
            system
            for org in organization_store.organization_docs(session)
            if org["id"] == grantor
            for system in org.get("identifier_systems", {}).values()
        }
    identifiers.sort(key=lambda identifier: identifier[0] not in own)
    if not identifiers:
        raise NotFound(
            f"student {student_ref} is not known; give SYSTEM|VALUE to record a consent "
            "before the student's records arrive"
        )
    return identifiers[0]


# -- revoke, list, export -----------------------------------------------------------------


REQUESTERS = ("organization", "student", "parent", "guardian", "legal-representative")


def revoke_consent(
    rt: Runtime,
    consent_id: str,
    *,
    at: dt.datetime | None = None,
    by: str,
    requested_by: str = "organization",
    actor: str | None = None,
) -> ConsentSummary:
    """Revocation takes effect from ``at`` (default now) on; revoking again changes nothing.

    A partner may revoke a consent it recorded or one that names it as a recipient (a family
    may withdraw through either side); ``requested_by`` says who asked, and is audited, with
    ``actor`` when someone else than ``by`` acted (a family member on the family page)."""
    _check_requester(requested_by)
    now = rt.now()
    when = at or now
    with rt.sessions.begin() as session:
        row = _find(session, consent_id, by)
        if row is None:
            raise NotFound(f"consent {consent_id} does not exist")
        current = consent_from_row(rt, row)
        if by not in {row.recorded_by or current.grantor, *_actors(current.provision)}:
            raise _not_revoker()
        _check_revocation_time(current, when, now)
        revoked_at = revoke(current, when).revoked_at
        if revoked_at == row.revoked_at:
            return _summary(rt, row)
        row.revoked_at, row.status, row.updated_at = revoked_at, "inactive", now
        fhir_consents.serve(session, rt, row)
        reason = f"consent {consent_id} was revoked"
        cancelled = delivery_store.cancel_queued_deliveries(session, row.id, reason, now)
        summary = replace(_summary(rt, row), cancelled_deliveries=cancelled)
        draft = _revoked_draft(summary, by, requested_by)
        audit.record(session, rt, [replace(draft, actor=actor or draft.actor)])
    audit.checkpoint(rt)
    return summary


def _check_requester(requested_by: str) -> None:
    if requested_by not in REQUESTERS:
        raise InputInvalid(
            "say who asked for the revocation",
            [Issue(path="requestedBy", message=f"one of {', '.join(REQUESTERS)}")],
        )


def _not_revoker() -> AccessDenied:
    return AccessDenied(
        "only the organization that recorded a consent, or a recipient it names, may revoke it"
    )


def _check_revocation_time(consent: Consent, when: dt.datetime, now: dt.datetime) -> None:
    problem = None
    if when.tzinfo is None:
        problem = "give a time with its UTC offset"
    elif when > now:
        problem = "a revocation takes effect when it is recorded or earlier, never later"
    elif consent.signed_at is not None and when < consent.signed_at:
        problem = "a consent cannot be revoked before it was signed"
    if problem:
        raise InputInvalid("invalid revocation time", [Issue(path="at", message=problem)])


def list_consents(
    rt: Runtime, student_ref: str | None = None, *, party: str | None = None
) -> list[ConsentSummary]:
    """Consents (of one student when ``student_ref`` is given), only ``party``'s when given."""
    with rt.sessions.begin() as session:
        link_pending_consents(session, rt)
        summaries = [_summary(rt, row) for row in _rows_for(session, rt, student_ref)]
    return [s for s in summaries if party is None or party in s.parties]


def _rows_for(session: Session, rt: Runtime, student_ref: str | None) -> list[ConsentRow]:
    if student_ref is None:
        return consent_store.consent_rows(session)
    if "|" not in student_ref:
        return consent_store.consent_rows(session, student_ref)
    system, value = student_ref.rsplit("|", 1)
    student_id = student_store.links_for(session, [(system, value)]).get((system, value))
    linked = consent_store.consent_rows(session, student_id) if student_id else []
    # Still unlinked: a consent recorded before the student's records arrived.
    waiting = [
        row
        for row in consent_store.unlinked_consents(session)
        if read_consent(row.document, rt.artifacts.codes).patient_identifier == (system, value)
    ]
    return sorted([*linked, *waiting], key=lambda row: row.id)


def export_consent(rt: Runtime, consent_id: str, *, party: str | None = None) -> dict[str, Any]:
    """The stored FHIR Consent; once revoked, ``inactive`` and ending no later than the revocation."""
    with rt.sessions() as session:
        row = _find(session, consent_id, party)
        summary = _summary(rt, row) if row is not None else None
        document = copy.deepcopy(row.document) if row is not None else {}
    if summary is None or (party is not None and party not in summary.parties):
        # Someone else's consent is reported as not existing.
        raise NotFound(f"consent {consent_id} does not exist")
    if summary.revoked_at is not None:
        document["status"] = "inactive"
        period = document.setdefault("provision", {}).setdefault("period", {})
        if summary.expires is None or summary.expires > summary.revoked_at:
            period["end"] = summary.revoked_at.isoformat()
    return document


# -- summaries and audit ------------------------------------------------------------------


def _summary(rt: Runtime, row: ConsentRow, *, created: bool = False) -> ConsentSummary:
    consent = consent_from_row(rt, row)
    root = consent.provision
    return ConsentSummary(
        id=row.local_id or row.id,
        student_id=row.student_id,
        status=consent.status,
        state=_state(consent, rt.now()),
        scope=consent.scope,
        grantor=consent.grantor,
        provision=root.type,
        recipients=tuple(sorted(_actors(root))),
        categories=tuple(sorted(root.classes)),
        purposes=tuple(sorted(root.purposes)),
        labels=tuple(sorted(root.labels)),
        signer_role=consent.signer_role,
        signed_at=consent.signed_at,
        expires=root.end,
        revoked_at=consent.revoked_at,
        document_digest=digest(row.document),
        created=created,
    )


def _actors(provision: Provision) -> set[str]:
    return set(provision.actors).union(*(_actors(child) for child in provision.children))


def _state(consent: Consent, now: dt.datetime) -> str:
    root = consent.provision
    if consent.revoked_at is not None and consent.revoked_at <= now:
        return "revoked"
    if consent.status != "active":
        return consent.status
    if root.start is not None and now < root.start:
        return "not-yet-valid"
    if root.end is not None and now > root.end:
        return "expired"
    return "active"


def _recorded_draft(summary: ConsentSummary, recorded_by: str) -> audit.AuditDraft:
    # Ids, codes and a digest only: the document holds the patient identifier.
    return audit.AuditDraft(
        kind="consent.recorded",
        actor=recorded_by,
        subject=summary.student_id or "",
        details={
            "consentId": summary.id,
            "documentDigest": summary.document_digest,
            "grantor": summary.grantor,
            "provision": summary.provision,
            "recipients": list(summary.recipients),
            "categories": list(summary.categories),
            "purposes": list(summary.purposes),
            "labels": list(summary.labels),
            "signerRole": summary.signer_role,
            "status": summary.status,
            "linked": summary.student_id is not None,
        },
    )


def _revoked_draft(summary: ConsentSummary, by: str, requested_by: str) -> audit.AuditDraft:
    return audit.AuditDraft(
        kind="consent.revoked",
        actor=by,
        subject=summary.student_id or "",
        details={
            "consentId": summary.id,
            "revokedBy": by,
            "requestedBy": requested_by,
            "revokedAt": _iso(summary.revoked_at),
            "cancelledDeliveries": summary.cancelled_deliveries,
        },
    )
