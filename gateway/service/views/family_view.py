"""The family's page as a service: their child's record, who saw it and why, and the consents a
parent or guardian gives and withdraws (issue 15, section 4). The words are family_words.py's.

What a family reads. A parent's right of access (FERPA 34 CFR 99.10; HIPAA 45 CFR 164.524 through
164.502(g), the parent as the minor's personal representative) covers the child's whole record the
gateway holds, so the read is not a policy decision: every element is shown, whoever sent it, except

- records of substance-use treatment (regime 42CFRPart2 or category substance-use): 42 CFR 2.14
  leaves them to the minor; they are never shown, and never named in the family's copy of the
  accounting or among the consents it lists;
- everything, once the child is 18 by the birth date the plan holds: the rights have passed to the
  student (34 CFR 99.5(a)); the page says so and shows nothing else.

A person reads only a child their account is linked to, and only while the guardian link the
account made (``GUARDIAN_SYSTEM``, person id) still names them parent or guardian; any other child,
known or not, gets the plan read's NotFound. Reads are audited as purpose ``family-access`` under the
person's actor (``family/<person id>``), ids and digests only; the disclosure entry is one the
family's own copy leaves out (34 CFR 99.32(d)(1)).

Consents: the family sees and withdraws the consents a parent or guardian signed for the child (not
the student's own: an eligible student's or a minor's Part 2 consent is theirs), and grants new ones
signed by themselves. A consent is recorded and withdrawn through the organization whose records it
lets go (the grantor, which records and revokes a consent); the audit names the person as actor.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from gateway.core import accounting as core_accounting
from gateway.core.accounting import FAMILY_ACCESS
from gateway.core.canonical import digest
from gateway.core.consent import AGE_OF_MAJORITY, PARENT_ROLES, RELATED_PERSON, age_on
from gateway.core.disclosure import DISCLOSURE, PLAN_READ, DisclosureRecord
from gateway.core.guardians import LINKING
from gateway.core.people import FAMILY, GUARDIAN_SYSTEM, Person
from gateway.core.plan import iter_elements, without_elements
from gateway.errors import InputInvalid, Issue, NotFound
from gateway.service.compliance import audit, disclosures
from gateway.service.compliance.audit_access import AuditReader, record_read
from gateway.service.exchange import reference_data
from gateway.service.policy import consents
from gateway.service.runtime import Runtime
from gateway.service.views.family_words import (
    PART2_CATEGORY,
    FamilyPlan,
    Words,
    full_name,
    is_part2,
    plain_plan,
    words_for,
)
from gateway.service.views.plans import birth_date_of, not_visible
from gateway.storage import guardians as guardian_store
from gateway.storage import organization_store, plan_store
from gateway.storage.accounting_store import entries_about
from gateway.storage.db import Session

BASIS = ("ferpa:34 CFR 99.10", "hipaa:45 CFR 164.524")
RECIPIENT = "family"  # how a disclosure to a family names its recipient (no organization)
SIGNERS = PARENT_ROLES | {RELATED_PERSON}
REVOCABLE = frozenset({"active", "not-yet-valid"})
# What a family may grant on the page: the purposes of sharing among partners for the child; the
# data categories except substance use (42 CFR 2.14: the minor's to consent to).
GRANTABLE_PURPOSES = ("care-coordination", "treatment", "educational-interest", "referral-fulfillment")
LONGEST_CONSENT = dt.timedelta(days=3 * 366)


# -- who may read ---------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Guardian:
    person: Person
    student_id: str
    authority: str  # parent | guardian


def _authority(session: Session, person: Person, student_id: str) -> str | None:
    if person.role != FAMILY or student_id not in person.student_ids:
        return None
    for row in guardian_store.links_of_student(session, student_id):
        if (row.person_system, row.person_value) == (GUARDIAN_SYSTEM, person.id) and row.authority in LINKING:
            return str(row.authority)
    return None


def guardian_of(rt: Runtime, person: Person, student_ref: str) -> Guardian:
    """The person as a linked parent or guardian of the child; the plan read's NotFound otherwise."""
    with rt.sessions() as session:
        authority = _authority(session, person, student_ref)
    if authority is None:
        raise not_visible()
    return Guardian(person=person, student_id=student_ref, authority=authority)


# -- the children and the plan --------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Child:
    student_id: str
    name: str  # "" when no record names the child yet


def children_of(rt: Runtime, person: Person) -> tuple[Child, ...]:
    """The children the person may read, named as their plans name them (audited: ids only)."""
    found = []
    with rt.sessions.begin() as session:
        for student_id in person.student_ids:
            if _authority(session, person, student_id) is None:
                continue
            row = plan_store.get_plan(session, student_id)
            found.append(Child(student_id=student_id, name=full_name(row.document if row else {})))
        details = {"purpose": FAMILY_ACCESS, "person": person.id, "students": [c.student_id for c in found]}
        draft = audit.AuditDraft(kind="family.children", actor=person.actor, subject="", details=details)
        audit.record(session, rt, [draft])
    audit.checkpoint(rt)
    return tuple(found)


def read_for_family(rt: Runtime, person: Person, student_ref: str, *, lang: str) -> FamilyPlan:
    """The child's plan in words for a linked parent or guardian; audited as family-access."""
    guardian = guardian_of(rt, person, student_ref)
    words = words_for(rt, lang)
    with rt.sessions.begin() as session:
        row = plan_store.get_plan(session, guardian.student_id)
        birth = birth_date_of(row.document) if row is not None else None
        adult = birth is not None and age_on(birth, rt.now().date()) >= AGE_OF_MAJORITY
        shown = _shown(session, rt, row.document) if row is not None and not adult else None
        audit.record(session, rt, _read_drafts(guardian, shown, adult))
    audit.checkpoint(rt)
    if row is None:
        raise not_visible()
    if shown is None:
        return FamilyPlan(student_id=guardian.student_id, adult=adult)
    return plain_plan(guardian.student_id, shown, words)


def _shown(session: Session, rt: Runtime, plan: dict[str, Any]) -> dict[str, Any] | None:
    visible = without_elements(plan, {str(e["id"]) for _, e in iter_elements(plan) if is_part2(e)})
    if next(iter(iter_elements(visible)), None) is None:
        return None
    return reference_data.referenced(session, rt, visible)


def _read_drafts(guardian: Guardian, shown: dict[str, Any] | None, adult: bool) -> list[audit.AuditDraft]:
    elements = [
        (str(e["id"]), str(e["provenance"]["sourceOrganization"]), str(e["labels"]["category"]))
        for _, e in iter_elements(shown or {})
    ]
    ids = sorted(e[0] for e in elements)
    actor, student = guardian.person.actor, guardian.student_id
    categories = tuple(sorted({e[2] for e in elements}))
    outcome = "disclosed" if ids else "eligible-student" if adult else "nothing-disclosed"
    details = {
        "recipient": RECIPIENT,
        "role": guardian.authority,
        "purpose": FAMILY_ACCESS,
        "person": guardian.person.id,
        "outcome": outcome,
        "elementsDisclosed": len(ids),
        "disclosedDigest": digest(ids),
        "categories": list(categories),
        "basis": list(BASIS),
    }
    read = audit.AuditDraft(kind="plan.read", actor=actor, subject=student, details=details)
    if not ids:
        return [read]
    record = DisclosureRecord(
        disclosure_id="dis-" + digest([PLAN_READ, student, RECIPIENT, actor, ids])[-24:],
        flow=PLAN_READ,
        sources=tuple(sorted({e[1] for e in elements})),
        recipient=RECIPIENT,
        recipient_role=guardian.authority,
        actor=actor,
        purpose=FAMILY_ACCESS,
        legal_basis=BASIS,
        categories=categories,
        elements=tuple(ids),
        record_count=len(ids),
        payload_digest=digest(ids),
        redactions=(),
        agreements=(),
        consent_ids=(),
        decision_ids=(),
        policy_version="",
    )
    return [read, disclosures.disclosure_draft(record, actor=actor, subject=student)]


# -- who saw the record and why -------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Seen:
    """One row of the family's copy of the accounting, in words."""

    first: dt.date
    last: dt.date
    count: int
    who: str  # the recipient organization's name
    role: str
    purpose: str
    kinds: tuple[str, ...]  # kinds of records, in words
    sources: tuple[str, ...]  # whose records, by name
    emergency: bool


def who_saw(rt: Runtime, person: Person, student_ref: str, *, lang: str) -> tuple[Seen, ...]:
    """The family's copy of the accounting (gateway/core/accounting.py ``build(family=True)``).

    A family member reads every non-exempt disclosure of their own child, whoever made or received it,
    so ``accounting_for`` (which shows a partner only its own) is not the reader here: the same read,
    audited first with the person as actor, after the link was checked."""
    guardian = guardian_of(rt, person, student_ref)
    reader = AuditReader(organization_id=FAMILY, client_id=person.id, role=FAMILY)
    record_read(rt, reader, "disclosures", {"student": guardian.student_id, "family": True})
    with rt.sessions() as session:
        rows = entries_about(session, guardian.student_id, (DISCLOSURE,))  # the family's copy has no denials
    timed = [
        core_accounting.Timed(recorded_at=str(at), record=_without_elements(details))
        for at, kind, details in rows
        if kind == DISCLOSURE
    ]
    built = core_accounting.build(guardian.student_id, timed, [], family=True)
    words = words_for(rt, lang)
    return tuple(seen for row in built.rows if (seen := _seen(row, words)) is not None)


def _without_elements(details: dict[str, Any]) -> DisclosureRecord:
    """A disclosure without its element ids: the family's copy names kinds of records, never elements
    (``Seen`` has no element count), and most disclosures are plan reads of every element (the
    family's own, one per visit, among them): reading those ids was most of the accounting's time."""
    return DisclosureRecord.from_details({**details, "elements": ()})


def _seen(row: core_accounting.Row, words: Words) -> Seen | None:
    kinds = words.terms("category", row.categories)
    if not kinds:  # only Part 2 records went: the minor's, not named to the family
        return None
    return Seen(
        first=dt.date.fromisoformat(row.first_date),
        last=dt.date.fromisoformat(row.last_date),
        count=row.count,
        who=words.organization(row.recipient) or row.recipient,
        role=words.term("role", row.recipient_role),
        purpose=words.term("purpose", row.purpose),
        kinds=kinds,
        sources=tuple(words.organization(s) or s for s in row.sources),
        emergency=row.emergency,
    )


# -- consents -------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ConsentLine:
    id: str
    state: str  # in words
    revocable: bool
    permit: bool
    grantor: str  # whose records, by name
    recipients: tuple[str, ...]  # to whom, by name ("" : anyone the agreements allow)
    kinds: tuple[str, ...]
    purposes: tuple[str, ...]
    signer: str
    signed: dt.date | None
    until: dt.date | None
    withdrawn: dt.date | None


def _family_consents(rt: Runtime, student_id: str) -> list[consents.ConsentSummary]:
    """The child's consents a parent or guardian signed, without any that names Part 2 data."""
    return [
        s
        for s in consents.list_consents(rt, student_id)
        if s.signer_role in SIGNERS and PART2_CATEGORY not in s.categories and "42CFRPart2" not in s.labels
    ]


def consents_of(rt: Runtime, person: Person, student_ref: str, *, lang: str) -> tuple[ConsentLine, ...]:
    guardian = guardian_of(rt, person, student_ref)
    words = words_for(rt, lang)
    return tuple(_line(s, words) for s in _family_consents(rt, guardian.student_id))


def _line(s: consents.ConsentSummary, words: Words) -> ConsentLine:
    return ConsentLine(
        id=s.id,
        state=words.term("consent-state", s.state) or s.state,
        revocable=s.state in REVOCABLE,
        permit=s.provision == "permit",
        grantor=words.organization(s.grantor) or s.grantor,
        recipients=tuple(words.organization(r) or r for r in s.recipients),
        kinds=words.terms("category", s.categories),
        purposes=words.terms("purpose", s.purposes),
        signer=words.term("role", "parent"),
        signed=s.signed_at.date() if s.signed_at else None,
        until=s.expires.date() if s.expires else None,
        withdrawn=s.revoked_at.date() if s.revoked_at else None,
    )


@dataclass(frozen=True, kw_only=True)
class Grant:
    """What a parent or guardian asks on the page: let ``grantor`` share these kinds of records
    with ``recipient`` for ``purpose`` until ``until``."""

    grantor: str
    recipient: str
    categories: tuple[str, ...]
    purpose: str
    until: dt.date | None  # None: the form's date could not be read


def grant_problems(rt: Runtime, grant: Grant, organizations: frozenset[str]) -> list[Issue]:
    """Every problem of the form at once (paths are the form's field names)."""
    today = rt.now().date()
    checks = [
        ("grantor", grant.grantor in organizations, "choose whose records"),
        ("recipient", grant.recipient in organizations, "choose who may receive them"),
        ("recipient", grant.recipient != grant.grantor, "choose another organization"),
        ("categories", bool(grant.categories), "choose at least one kind of record"),
        ("categories", set(grant.categories) <= grantable_categories(rt), "choose among the kinds listed"),
        ("purpose", grant.purpose in GRANTABLE_PURPOSES, "choose what for"),
        (
            "until",
            grant.until is not None and today < grant.until <= today + LONGEST_CONSENT,
            "a date after today, at most three years on",
        ),
    ]
    return [Issue(path=path, message=message) for path, ok, message in checks if not ok]


def grantable_categories(rt: Runtime) -> frozenset[str]:
    return rt.artifacts.vocabulary.categories - {PART2_CATEGORY}


def grant_consent(rt: Runtime, person: Person, student_ref: str, grant: Grant) -> consents.ConsentSummary:
    """Record what the parent or guardian signed now, as a FHIR Consent with them as signer."""
    guardian = guardian_of(rt, person, student_ref)
    with rt.sessions() as session:
        organizations = frozenset(str(doc["id"]) for doc in organization_store.organization_docs(session))
    problems = grant_problems(rt, grant, organizations)
    if problems or grant.until is None:
        raise InputInvalid("the consent cannot be recorded", problems)
    return consents.record_consent(
        rt,
        student_ref=guardian.student_id,
        grantor=grant.grantor,
        recipients=(grant.recipient,),
        categories=tuple(sorted(set(grant.categories))),
        purposes=(grant.purpose,),
        signer_role=guardian.authority,
        signed_at=rt.now(),
        expires=grant.until,
        recorded_by=grant.grantor,
        signer_identifier=(GUARDIAN_SYSTEM, person.id),
        actor=person.actor,
    )


def withdraw_consent(
    rt: Runtime, person: Person, student_ref: str, consent_id: str
) -> consents.ConsentSummary:
    """Withdraw, from now on, a consent a parent or guardian gave for the child. Through the
    organization that recorded it (``revoke_consent``'s rule), audited with the person as actor."""
    guardian = guardian_of(rt, person, student_ref)
    found = next((s for s in _family_consents(rt, guardian.student_id) if s.id == consent_id), None)
    if found is None:
        raise NotFound("there is no such consent for this child")
    return consents.revoke_consent(
        rt, found.id, by=found.grantor, requested_by=guardian.authority, actor=person.actor
    )
