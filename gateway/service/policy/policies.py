"""What the decision point reads, built from the database: the policy set and the consents."""

from __future__ import annotations

from collections.abc import Iterable

from gateway.artifacts import agreement_from_doc
from gateway.core.consent import Consent
from gateway.core.policy import PolicySet
from gateway.formats.fhir_consent import read_consent
from gateway.service.identity import guardians
from gateway.service.runtime import Runtime
from gateway.storage import agreement_store, consent_store, organization_store, student_store
from gateway.storage.db import Session
from gateway.storage.tables import ConsentRow


def policy_set(session: Session, rt: Runtime) -> PolicySet:
    vocabulary = rt.artifacts.vocabulary
    return PolicySet(
        organizations={doc["id"]: doc["kind"] for doc in organization_store.organization_docs(session)},
        agreements=tuple(agreement_from_doc(doc) for doc in agreement_store.agreement_docs(session)),
        purposes=vocabulary.purposes,
        roles=vocabulary.roles,
        categories=vocabulary.categories,
    )


def consent_from_row(rt: Runtime, row: ConsentRow) -> Consent:
    """The stored FHIR Consent as a value, with what the gateway tracks (link, revocation)."""
    parsed = read_consent(row.document, rt.artifacts.codes, student_id=row.student_id or "")
    consent = parsed.consent
    # Revocation counts from its time on: keep the time, and let validity checks compare it to now.
    # The stored key names it in decisions: a chosen id scoped apart from another partner's.
    return Consent(**{**consent.__dict__, "id": row.id, "revoked_at": row.revoked_at, "status": row.status})


def consents_for(session: Session, rt: Runtime, student_id: str) -> tuple[Consent, ...]:
    """The student's consents, each parent's or guardian's marked linked when a guardian link
    names its signer (core.consent counts a RelatedPerson's signature only then)."""
    link_pending_consents(session, rt)
    rows = consent_store.consents_for_student(session, student_id)
    return guardians.with_links(session, (consent_from_row(rt, row) for row in rows))


def consents_for_many(
    session: Session, rt: Runtime, student_ids: Iterable[str]
) -> dict[str, tuple[Consent, ...]]:
    """``consents_for`` of many students in a few queries (a search decides rows of many)."""
    link_pending_consents(session, rt)
    rows = consent_store.consents_for_students(session, student_ids)
    linked = guardians.with_links(session, (consent_from_row(rt, row) for row in rows))
    found: dict[str, list[Consent]] = {student_id: [] for student_id in student_ids}
    for row, consent in zip(rows, linked, strict=True):
        found.setdefault(row.student_id or "", []).append(consent)
    return {student_id: tuple(consents) for student_id, consents in found.items()}


def link_pending_consents(session: Session, rt: Runtime) -> int:
    """Consents recorded before their student was known get linked once the link exists."""
    pending = consent_store.unlinked_consents(session)
    if not pending:
        return 0
    wanted = {row.id: read_consent(row.document, rt.artifacts.codes).patient_identifier for row in pending}
    links = student_store.links_for(session, [i for i in wanted.values() if i is not None])
    linked = 0
    for row in pending:
        identifier = wanted[row.id]
        if identifier is not None and identifier in links:
            row.student_id = links[identifier]
            linked += 1
    session.flush()
    return linked
