"""Consents as values, and what they say about one request.

A consent (imported from FHIR R4 Consent) holds a root provision (permit or deny) with nested
provisions that carve exceptions out of it. Evaluation, per data category:

1. only **valid** consents count: status active, signed, not revoked at ``now``, inside their
   period, and signed by someone who may consent for this student and this data (R5): the
   student when of age (or alone for Part 2 data where state law lets minors consent), else a
   parent or guardian whom an education record or an administrator links to the student (the
   service looks the link up and sets ``signer_linked``; core only reads the value);
2. a consent **applies** when its root provision matches the request (recipient, action,
   purpose, data category, security label);
3. within one consent **scope**, the most recent applicable consent wins (R20, as LEAP's
   ``mostRecentDecisionCombiner``); across scopes, deny overrides;
4. inside the winning consent, a matching nested ``deny`` overrides a matching nested
   ``permit``, which overrides the root.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, replace

from gateway.core.canonical import digest

PERMIT, DENY, NONE = "permit", "deny", "none"
PARENT_ROLES = frozenset({"parent", "guardian"})
STUDENT_ROLE = "student"
# A RelatedPerson named only by identifier: the consent states no relationship, so the
# relationship (and with it the authority) is the one of the guardian link, when there is one.
RELATED_PERSON = "related-person"
NOT_LINKED = (
    "the RelatedPerson who signed (Consent.performer) is not linked to the student as parent or "
    "guardian: the link comes from an education record (an Ed-Fi student contact or parent "
    "association, a OneRoster parent or guardian user) or from an administrator "
    "(spgw students guardians link)"
)
AGE_OF_MAJORITY = 18
PART2 = "42CFRPart2"


@dataclass(frozen=True, kw_only=True)
class Provision:
    type: str  # permit | deny
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    actors: frozenset[str] = frozenset()  # recipient organization ids; empty: any
    actions: frozenset[str] = frozenset()  # access | disclose | collect | use; empty: any
    purposes: frozenset[str] = frozenset()  # vocabulary purposes; empty: any
    classes: frozenset[str] = frozenset()  # data categories; empty: any
    labels: frozenset[str] = frozenset()  # regimes or confidentiality codes; empty: any
    children: tuple[Provision, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Consent:
    id: str
    student_id: str
    status: str  # active | inactive | draft | proposed | rejected | entered-in-error
    scope: str  # patient-privacy | research | treatment | adr
    signed_at: dt.datetime | None
    signer_role: str | None  # student | parent | guardian | related-person; None: no authority
    grantor: str  # the organization the consent lets disclose
    provision: Provision
    revoked_at: dt.datetime | None = None
    signer_ids: tuple[tuple[str, str], ...] = ()  # a RelatedPerson signer's (system, value)s
    # Set by the service from the guardian links; a parent's signature counts only when True.
    signer_linked: bool = False
    signer_note: str | None = None  # why the performer gives no authority, as read


@dataclass(frozen=True, kw_only=True)
class ConsentQuery:
    """What a request asks of the consents, for one data category."""

    student_id: str
    source: str  # the organization whose records would be disclosed
    recipient: str
    action: str
    purpose: str
    category: str
    labels: frozenset[str]
    birth_date: dt.date | None
    part2_minor_self_consent: bool = True


@dataclass(frozen=True, kw_only=True)
class ConsentOutcome:
    effect: str  # permit | deny | none
    consent_id: str | None
    reasons: tuple[str, ...]


def revoke(consent: Consent, at: dt.datetime) -> Consent:
    """Revocation takes effect from ``at`` on (not before); revoking again changes nothing."""
    if consent.revoked_at is not None and consent.revoked_at <= at:
        return consent
    return replace(consent, revoked_at=at)


def age_on(birth_date: dt.date, day: dt.date) -> int:
    return day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day))


def signer_problem(consent: Consent, query: ConsentQuery, day: dt.date) -> str | None:
    """Why the signer may not consent for this student and this data on ``day``, or None."""
    if query.birth_date is None:
        return "the student's birth date is unknown, so who may consent cannot be checked"
    adult = age_on(query.birth_date, day) >= AGE_OF_MAJORITY
    minor_alone = PART2 in query.labels and query.part2_minor_self_consent and not adult
    if consent.signer_role == STUDENT_ROLE:
        if adult or minor_alone:
            return None
        return "signed by the student, who is under 18 and may not consent alone for this data"
    if consent.signer_role in PARENT_ROLES or consent.signer_role == RELATED_PERSON:
        if adult:
            return "the student is 18 or older: consent must now come from the student"
        if minor_alone:
            return "42 CFR 2.14: only the minor may consent to disclose these records"
        return None if consent.signer_linked else NOT_LINKED
    if consent.signer_note:
        return consent.signer_note
    return f"signer role '{consent.signer_role}' may not consent"


def validity_problem(consent: Consent, query: ConsentQuery, now: dt.datetime) -> str | None:
    if consent.revoked_at is not None and consent.revoked_at <= now:
        return f"consent {consent.id} was revoked"
    if consent.status != "active":
        return f"consent {consent.id} is {consent.status}, not active"
    if consent.signed_at is None or consent.signed_at > now:
        return f"consent {consent.id} is not signed yet"
    root = consent.provision
    if root.start is not None and now < root.start:
        return f"consent {consent.id} is not yet in effect"
    if root.end is not None and now > root.end:
        return f"consent {consent.id} has expired"
    # The signer must have had authority when signing, and must still have it now (turning 18).
    problem = signer_problem(consent, query, consent.signed_at.date()) or signer_problem(
        consent, query, now.date()
    )
    return f"consent {consent.id}: {problem}" if problem else None


def _applies(consent: Consent, query: ConsentQuery, now: dt.datetime) -> bool:
    """The consent speaks to this request: its student, its grantor, and its root's scope.

    The root's period is left to ``validity_problem``, so an expired consent is reported as such.
    """
    return (
        consent.student_id == query.student_id
        and (not consent.grantor or consent.grantor == query.source)
        and _matches(consent.provision, query, now, with_period=False)
    )


def _matches(provision: Provision, query: ConsentQuery, now: dt.datetime, with_period: bool = True) -> bool:
    in_period = not with_period or (
        (provision.start is None or provision.start <= now)
        and (provision.end is None or now <= provision.end)
    )
    return in_period and (
        (not provision.actors or query.recipient in provision.actors)
        and (not provision.actions or query.action in provision.actions)
        and (not provision.purposes or query.purpose in provision.purposes)
        and (not provision.classes or query.category in provision.classes)
        and (not provision.labels or bool(provision.labels & query.labels))
    )


def _effect_of(consent: Consent, query: ConsentQuery, now: dt.datetime) -> str:
    nested = {child.type for child in consent.provision.children if _matches(child, query, now)}
    if DENY in nested:
        return DENY
    if PERMIT in nested:
        return PERMIT
    return consent.provision.type


def evaluate(consents: Iterable[Consent], query: ConsentQuery, now: dt.datetime) -> ConsentOutcome:
    reasons: list[str] = []
    winners: dict[str, Consent] = {}
    for consent in consents:
        if not _applies(consent, query, now):
            continue
        problem = validity_problem(consent, query, now)
        if problem:
            reasons.append(problem)
            continue
        current = winners.get(consent.scope)
        if current is None or _newer(consent, current):
            winners[consent.scope] = consent
    return _combine(winners, query, now, reasons)


def _newer(candidate: Consent, current: Consent) -> bool:
    # Ties on the signing time go to the id, so the result never depends on input order.
    return (candidate.signed_at, candidate.id) > (current.signed_at, current.id)


def _combine(
    winners: dict[str, Consent], query: ConsentQuery, now: dt.datetime, reasons: list[str]
) -> ConsentOutcome:
    if not winners:
        reasons.append(f"no valid consent covers '{query.category}' for '{query.recipient}'")
        return ConsentOutcome(effect=NONE, consent_id=None, reasons=tuple(reasons))
    effects = {scope: (_effect_of(c, query, now), c) for scope, c in sorted(winners.items())}
    denied = [c for effect, c in effects.values() if effect == DENY]
    chosen = denied[0] if denied else next(iter(effects.values()))[1]
    effect = DENY if denied else PERMIT
    verb = "denies" if denied else "permits"
    reasons.append(f"consent {chosen.id} {verb} '{query.category}' to '{query.recipient}'")
    return ConsentOutcome(effect=effect, consent_id=chosen.id, reasons=tuple(reasons))


def fingerprint(consent: Consent) -> str:
    """A digest of everything the consent says, independent of set ordering."""
    return digest(
        {
            "id": consent.id,
            "student": consent.student_id,
            "status": consent.status,
            "scope": consent.scope,
            "signedAt": str(consent.signed_at),
            "signer": consent.signer_role,
            "signerIds": sorted(f"{system}|{value}" for system, value in consent.signer_ids),
            "signerLinked": consent.signer_linked,
            "grantor": consent.grantor,
            "revokedAt": str(consent.revoked_at),
            "provision": _provision_doc(consent.provision),
        }
    )


def _provision_doc(provision: Provision) -> dict[str, object]:
    return {
        "type": provision.type,
        "start": str(provision.start),
        "end": str(provision.end),
        **{
            name: sorted(getattr(provision, name))
            for name in ("actors", "actions", "purposes", "classes", "labels")
        },
        "children": [_provision_doc(child) for child in provision.children],
    }


def missing_elements(consent: Consent) -> tuple[str, ...]:
    """The required elements a consent lacks (34 CFR 99.30, 45 CFR 164.508(c), 42 CFR 2.31)."""
    root = consent.provision
    checks = (
        ("what data (provision.class or provision.securityLabel)", bool(root.classes or root.labels)),
        ("to whom (provision.actor)", bool(root.actors)),
        ("for what purpose (provision.purpose)", bool(root.purposes)),
        # A performer that gives no authority is reported on its own (signer_note), not as missing.
        ("signature (performer)", consent.signer_role is not None or consent.signer_note is not None),
        ("date (dateTime)", consent.signed_at is not None),
        ("expiry (provision.period.end)", root.end is not None),
        ("student (patient)", bool(consent.student_id)),
    )
    return tuple(name for name, present in checks if not present)
