"""The coordinator's page of a student, and the list of the coordinator's students.

The plan comes from the same ``read_plan`` a partner's API read uses, as the person reads
(``people.read_request_for``): decided element by element, audited as a read, and a student who
is unknown, not the coordinator's, or of whom nothing may be shown is the same not-found. Only
after that read answers does the page add what the view can and cannot include (from agreements
and consents: ``coordinator_scope``), the referrals the coordinator's organization made with
their status history, and what a referral from this page may name.

A coordinator's students are the students holding records from their own organization or from an
organization that has an agreement in force with it (the same agreements a read needs).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from gateway.core.people import Person
from gateway.core.policy import PolicySet
from gateway.formats.fhir_referral import task_id
from gateway.service.identity import people
from gateway.service.identity.students import resolve_in
from gateway.service.policy.consent_checks import birth_date
from gateway.service.policy.policies import consents_for, policy_set
from gateway.service.referrals.deliveries import CANCELLED, FAILED, QUEUED, SENT
from gateway.service.runtime import Runtime
from gateway.service.views.coordinator_plan import PlanLayout, layout
from gateway.service.views.coordinator_scope import Scope, scope_of
from gateway.service.views.plans import birth_date_of, read_plan
from gateway.storage import coordinator_store as store
from gateway.storage import fhir_store, organization_store
from gateway.storage.db import Session
from gateway.storage.tables import Delivery

MAX_LISTED = 200
_STEP = {QUEUED: 0, "requested": 1, SENT: 2, FAILED: 2, CANCELLED: 2}
MAX_QUERY = 300
REFERRAL = "referral"


@dataclass(frozen=True, kw_only=True)
class ListedStudent:
    student_id: str
    identifiers: tuple[tuple[str, str], ...]  # (system, value) of the reader's own organization


@dataclass(frozen=True, kw_only=True)
class StatusEvent:
    at: dt.datetime
    status: str
    note: str = ""


@dataclass(frozen=True, kw_only=True)
class ReferralHistory:
    delivery_id: str
    recipient: str
    purpose: str
    role: str
    created_at: dt.datetime
    delivery_status: str  # the outbox: queued | sending | sent | failed | cancelled
    referral_status: str  # the agency's: requested, accepted, ... (the Task's status)
    reason: str | None
    events: tuple[StatusEvent, ...]


@dataclass(frozen=True, kw_only=True)
class ReferTarget:
    """A recipient a referral from this page may name, with the purposes and roles its agreements allow."""

    organization: str
    purposes: tuple[str, ...]
    roles: tuple[str, ...]
    default_purpose: str = ""
    default_role: str = ""


@dataclass(frozen=True, kw_only=True)
class CoordinatorPage:
    student_id: str
    plan: PlanLayout
    scope: Scope
    referrals: tuple[ReferralHistory, ...]
    targets: tuple[ReferTarget, ...]
    organization_names: dict[str, str] = field(default_factory=dict)
    obligations: tuple[dict[str, Any], ...] = ()


def student_page(rt: Runtime, person: Person, student_ref: str) -> CoordinatorPage:
    """Everything the page of one student shows; ``NotFound`` (the plan read's) when nothing may be."""
    request = people.read_request_for(person, "")
    view = read_plan(rt, request, student_ref=student_ref)
    student_id = str(view.plan["student"]["id"])
    with rt.sessions.begin() as session:
        policy = policy_set(session, rt)
        scope = scope_of(
            rt.artifacts,
            people.read_request_for(person, student_id),
            policy=policy,
            consents=consents_for(session, rt, student_id),
            # The read shows it in most cases; else the stored one (who may consent depends on it).
            birth_date=birth_date_of(view.plan) or birth_date(session, student_id),
            now=rt.now(),
        )
        referrals = tuple(
            _history(session, row)
            for row in store.referrals_from(session, student_id, request.organization_id)
        )
        docs = organization_store.organization_docs(session)
    return CoordinatorPage(
        student_id=student_id,
        plan=layout(view.plan),
        scope=scope,
        referrals=referrals,
        targets=refer_targets(policy, docs, request.organization_id, rt.now().date()),
        organization_names={str(d["id"]): str(d.get("name", d["id"])) for d in docs},
        obligations=view.obligations,
    )


def partners_of(policy: PolicySet, organization: str, today: dt.date) -> set[str]:
    """The reader's own organization and every organization with an agreement in force with it."""
    found = {organization}
    for agreement in policy.agreements:
        if agreement.in_force(today) and organization in agreement.parties:
            found |= set(agreement.parties)
    return found


def students_of(rt: Runtime, person: Person, query: str = "") -> tuple[ListedStudent, ...]:
    """The coordinator's students, or those of them ``query`` names (stu-..., SYSTEM|VALUE, or a value)."""
    query = query.strip()[:MAX_QUERY]
    with rt.sessions.begin() as session:
        partners = partners_of(policy_set(session, rt), person.organization_id, rt.now().date())
        if query:
            named = _named(session, query)
            ids = [s for s in named if store.has_records_from(session, s, partners)][:MAX_LISTED]
        else:
            ids = store.students_with_records_from(session, partners, limit=MAX_LISTED)
        identifiers = store.identifiers_of(session, ids)
        systems = _own_systems(organization_store.organization_docs(session), person.organization_id)
    return tuple(
        ListedStudent(
            student_id=s, identifiers=tuple((sys, v) for sys, v in identifiers.get(s, []) if sys in systems)
        )
        for s in ids
    )


def _named(session: Session, query: str) -> list[str]:
    if "|" in query or query.startswith("stu-"):
        found = resolve_in(session, query)
        return [found] if found else []
    return store.students_named(session, query)


def _own_systems(docs: list[dict[str, Any]], organization: str) -> set[str]:
    doc = next((d for d in docs if d["id"] == organization), {})
    return {str(v) for v in doc.get("identifier_systems", {}).values()}


def refer_targets(
    policy: PolicySet, docs: list[dict[str, Any]], organization: str, today: dt.date
) -> tuple[ReferTarget, ...]:
    """Organizations an agreement in force lets receive referrals from ``organization``."""
    by_org: dict[str, tuple[set[str], set[str]]] = {}
    for agreement in policy.agreements:
        sender = agreement.entry_for(organization)
        if not agreement.in_force(today) or sender is None or REFERRAL not in sender.sends:
            continue
        for entry in agreement.schedule:
            if entry.party != organization and REFERRAL in entry.receives:
                purposes, roles = by_org.setdefault(entry.party, (set(), set()))
                purposes |= agreement.purposes
                roles |= agreement.recipient_roles
    defaults = {str(d["id"]): d for d in docs}
    return tuple(
        ReferTarget(
            organization=org,
            purposes=tuple(sorted(purposes)),
            roles=tuple(sorted(roles)),
            default_purpose=_default(defaults.get(org, {}), "default_purpose", purposes),
            default_role=_default(defaults.get(org, {}), "default_role", roles),
        )
        for org, (purposes, roles) in sorted(by_org.items())
    )


def _default(doc: dict[str, Any], key: str, allowed: set[str]) -> str:
    value = str(doc.get(key, ""))
    return value if value in allowed else min(allowed, default="")


# -- referral status and its history -------------------------------------------------------


def _history(session: Session, row: Delivery) -> ReferralHistory:
    """Queued, then every status the referral's Task took (the agency's reports), then how the
    outbox ended (sent, failed, cancelled), in time order."""
    events = [StatusEvent(at=row.created_at, status=QUEUED)]
    task_status = "requested"
    for version in fhir_store.versions(session, "Task", task_id(row.id)):
        task_status = str(version.document.get("status", task_status))
        events.append(StatusEvent(at=version.last_updated, status=task_status))
    if row.status in (SENT, FAILED, CANCELLED):
        events.append(StatusEvent(at=row.updated_at, status=row.status, note=row.reason or ""))
    # Ties (one clock tick) keep the order things happen in: queued, requested, sent, then the
    # agency's reports.
    events.sort(key=lambda e: (e.at, _STEP.get(e.status, len(_STEP))))
    return ReferralHistory(
        delivery_id=row.id,
        recipient=row.recipient_org,
        purpose=row.purpose,
        role=row.role,
        created_at=row.created_at,
        delivery_status=row.status,
        referral_status=task_status,
        reason=row.reason,
        events=tuple(events),
    )
