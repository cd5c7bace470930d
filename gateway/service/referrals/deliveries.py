"""Referrals: a consented disclosure of part of a plan to a community agency, via the outbox.

``refer`` decides what may go with the same per-element ``decide_disclosure`` a plan read uses
(action ``disclose``, to the recipient organization and role), and in one transaction writes a
``queued`` delivery holding the shaped plan, its obligations and a referral header, plus the
``disclosure.queued`` audit entry (ids, categories, basis, decision ids and the body digest; never
values). The body is fixed then, as canonical JSON bytes with their digest and an idempotency key:
every attempt sends exactly those bytes. Nothing in it changes per attempt or per decision (the
decision ids, which name their time, are in the audit entries, not the body). A referral of which
nothing may go is refused exactly as a denied plan read is. The worker
(``delivery_worker.deliver_due``) decides again at send time and cancels what may no longer go;
``referrals`` takes the agency's status reports back into the plan.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gateway.artifacts import Vocabulary
from gateway.core.canonical import canonical_json, digest, digest_bytes
from gateway.core.ids import derive_id
from gateway.core.plan import iter_elements
from gateway.core.policy import DISCLOSE
from gateway.errors import InputInvalid, Issue, NotFound
from gateway.service.compliance import audit, disclosures
from gateway.service.fhir import fhir_referrals
from gateway.service.identity.students import resolve_student_ref
from gateway.service.policy.terms import term_issues
from gateway.service.runtime import Runtime
from gateway.service.views.plans import (
    Disclosure,
    ReadRequest,
    decide_disclosure,
    not_visible,
    registered,
    shared_obligations,
)
from gateway.storage import delivery_store, plan_store
from gateway.storage.db import Session
from gateway.storage.tables import Delivery

REFERRAL = "referral"
QUEUED, SENDING, SENT, FAILED, CANCELLED = "queued", "sending", "sent", "failed", "cancelled"
STATUSES = (QUEUED, SENDING, SENT, FAILED, CANCELLED)
DEFAULT_DOMAIN = "familyBasicNeeds"
NOTE_CODE = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
# The referral header fields that identify one delivery rather than what it says.
_INSTANCE_FIELDS = ("deliveryId", "created", "requestedBy")


@dataclass(frozen=True, kw_only=True)
class DeliverySummary:
    id: str
    kind: str
    student_id: str
    source: str
    recipient: str
    purpose: str
    role: str
    status: str
    reason: str | None
    attempts: int
    response_status: int | None
    next_attempt_at: dt.datetime | None
    categories: tuple[str, ...]
    consent_ids: tuple[str, ...]
    payload_digest: str
    created_at: dt.datetime
    updated_at: dt.datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "studentId": self.student_id,
            "source": self.source,
            "recipient": self.recipient,
            "purpose": self.purpose,
            "role": self.role,
            "status": self.status,
            "reason": self.reason,
            "attempts": self.attempts,
            "responseStatus": self.response_status,
            "nextAttemptAt": self.next_attempt_at.isoformat() if self.next_attempt_at else None,
            "categories": list(self.categories),
            "consentIds": list(self.consent_ids),
            "payloadDigest": self.payload_digest,
            "createdAt": self.created_at.isoformat(),
            "updatedAt": self.updated_at.isoformat(),
        }


def summary_of(row: Delivery) -> DeliverySummary:
    # While sending, the next attempt is due when the sender's lease lapses (if it ever does).
    due = row.lease_until if row.status == SENDING else row.next_attempt_at if row.status == QUEUED else None
    return DeliverySummary(
        id=row.id,
        kind=row.kind,
        student_id=row.student_id,
        source=row.source_org,
        recipient=row.recipient_org,
        purpose=row.purpose,
        role=row.role,
        status=row.status,
        reason=row.reason,
        attempts=row.attempts,
        response_status=row.response_status,
        next_attempt_at=due,
        categories=tuple(row.categories),
        consent_ids=tuple(row.consent_ids or ()),
        payload_digest=row.body_digest,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


# -- what may go: the shaped body ----------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Shaped:
    """The body that may go to the recipient now (None: nothing may), and the decisions behind it."""

    payload: dict[str, Any] | None
    disclosure: Disclosure

    @property
    def categories(self) -> list[str]:
        plan = self.disclosure.plan or {}
        return sorted({str(e["labels"]["category"]) for _, e in iter_elements(plan)})

    @property
    def decision_ids(self) -> list[str]:
        return sorted({d.decision_id for d in self.disclosure.permitted})

    @property
    def first_decision_id(self) -> str | None:
        # The row has room for one decision id; the audit entry lists them all.
        return self.decision_ids[0] if self.decision_ids else None

    @property
    def basis(self) -> list[str]:
        return sorted({b for d in self.disclosure.permitted for b in d.basis})

    def refusal(self, carried: Sequence[str] = ()) -> str:
        """Why nothing may go: the reasons of the first denial of a category the referral carried
        (so a revoked consent is named, rather than a category that never went)."""
        denied = [(key[1], d) for key, d in self.disclosure.decisions.items() if not d.permitted]
        denied.sort(key=lambda pair: pair[0] not in carried)  # stable: plan order within each group
        if not denied:
            return "the student's plan holds nothing this recipient may receive"
        return "; ".join(denied[0][1].reasons) or "denied by policy"


def read_request(header: dict[str, Any]) -> ReadRequest:
    """The disclosure a referral asks for: to the recipient organization, in the recipient's role."""
    return ReadRequest(
        student_id=header["studentId"],
        organization_id=header["recipient"],
        actor=header["requestedBy"],
        role=header["role"],
        purpose=header["purpose"],
        action=DISCLOSE,
    )


def shape(session: Session, rt: Runtime, header: dict[str, Any]) -> Shaped:
    """Decide every element for the referral described by ``header`` and build the body to send."""
    disclosure = decide_disclosure(session, rt, read_request(header))
    if disclosure.plan is None:
        return Shaped(payload=None, disclosure=disclosure)
    obligations = list(shared_obligations(disclosure.permitted))
    body: dict[str, Any] = {
        "referral": dict(header),
        "plan": disclosure.plan,
        "obligations": obligations,
        # No decision ids: they name the time of each decision, and the body must be the same
        # bytes at every attempt. The audit entries name them.
        "disclosure": {
            "policyVersion": disclosure.policy.version,
            "basis": sorted({b for d in disclosure.permitted for b in d.basis}),
            "consentIds": disclosure.consent_ids,
        },
    }
    notice = next((o["text"] for o in obligations if o.get("type") == "attach-notice"), None)
    if notice is not None:
        # 42 CFR 2.32: the notice travels with the records, where a person will read it.
        body["notice"] = notice
    return Shaped(payload=body, disclosure=disclosure)


def content_digest(payload: dict[str, Any]) -> str:
    """What a referral says, not which delivery or when: equal digests are the same referral."""
    header = {k: v for k, v in payload["referral"].items() if k not in _INSTANCE_FIELDS}
    return digest({"referral": header, "plan": payload["plan"], "obligations": payload["obligations"]})


# -- queueing a referral -------------------------------------------------------------------


def refer(
    rt: Runtime,
    *,
    student_ref: str,
    source_org: str,
    recipient_org: str,
    actor: str,
    role: str,
    purpose: str,
    note_code: str | None = None,
) -> DeliverySummary:
    """Queue a consented referral; the same referral while one is still queued returns that one."""
    _check_referral(rt.artifacts.vocabulary, source_org, recipient_org, actor, role, purpose, note_code)
    try:
        student_id = resolve_student_ref(rt, student_ref)
    except NotFound as exc:
        raise not_visible() from exc
    header = {
        "studentId": student_id,
        "source": source_org,
        "recipient": recipient_org,
        "purpose": purpose,
        "role": role,
        "requestedBy": actor,
        **({"reasonCode": note_code} if note_code else {}),
    }
    with rt.sessions.begin() as session:
        summary = _queue(session, rt, header)
    audit.checkpoint(rt)
    if summary is None:
        raise not_visible()
    return summary


def _check_referral(
    vocabulary: Vocabulary,
    source_org: str,
    recipient_org: str,
    actor: str,
    role: str,
    purpose: str,
    note_code: str | None,
) -> None:
    values = {"source": source_org, "recipient": recipient_org, "actor": actor, "role": role}
    issues = [
        Issue(path=name, message=f"required: say which {name} this referral is for")
        for name, value in {**values, "purpose": purpose}.items()
        if not value
    ]
    if source_org and source_org == recipient_org:
        issues.append(Issue(path="recipient", message="a referral goes to another organization"))
    if note_code is not None and not NOTE_CODE.match(note_code):
        issues.append(Issue(path="reasonCode", message="a code of at most 64 letters, digits or ._:-"))
    # Before the student is looked up, so a bad term gets the same answer for every student.
    issues += term_issues(vocabulary, role=role, purpose=purpose)
    if issues:
        raise InputInvalid("the referral is incomplete", issues)


def _queue(session: Session, rt: Runtime, header: dict[str, Any]) -> DeliverySummary | None:
    # Locking the plan row serialises referrals of one student, so a double submit queues once.
    plan_row = plan_store.lock_plan(session, header["studentId"])
    known = plan_row is not None and _holds_records_of(plan_row.document, header["source"])
    shaped = shape(session, rt, header)
    if shaped.payload is None or not known:
        # A referrer with no record of the student learns no more than a denied reader would.
        # Audited under the canonical id of a registered student only, never what was typed.
        subject = registered(session, header["studentId"])
        refused = _refused_draft({**header, "studentId": subject}, shaped, known)
        audit.record(session, rt, [*decision_drafts(header, shaped, subject), refused])
        return None
    shaped.payload["referral"]["domain"] = _domain(shaped.payload["plan"], header.get("reasonCode"))
    existing = _same_queued(session, header, content_digest(shaped.payload))
    if existing is not None:
        return summary_of(existing)
    row = _new_delivery(rt, header, shaped)
    delivery_store.add_delivery(session, row)
    fhir_referrals.write_referral(session, row, rt.now())
    drafts = decision_drafts(header, shaped, row.student_id)
    audit.record(session, rt, [*drafts, queued_draft(row, shaped)])
    return summary_of(row)


def _holds_records_of(plan: dict[str, Any], organization: str) -> bool:
    return any(e["provenance"]["sourceOrganization"] == organization for _, e in iter_elements(plan))


def _domain(plan: dict[str, Any], note_code: str | None) -> str:
    """The domain of the need the referral names, if one is disclosed; else family & basic needs."""
    for need in plan.get("needs", []):
        if note_code and need.get("code", {}).get("code") == note_code:
            return str(need["domain"])
    return DEFAULT_DOMAIN


def _same_queued(session: Session, header: dict[str, Any], content: str) -> Delivery | None:
    candidates = delivery_store.queued_deliveries_like(
        session, header["studentId"], header["recipient"], header["purpose"]
    )
    return next((row for row in candidates if content_digest(row.payload) == content), None)


def _new_delivery(rt: Runtime, header: dict[str, Any], shaped: Shaped) -> Delivery:
    assert shaped.payload is not None
    now = rt.now()
    # A delivery is an event, not content: the same referral made again after the first one went
    # is a new delivery. Double submits are caught by the queued check, not by the id.
    delivery_id = derive_id("dlv", str(uuid.uuid4()))
    shaped.payload["referral"] = {
        **shaped.payload["referral"],
        "deliveryId": delivery_id,
        "created": now.isoformat(),
    }
    body = canonical_json(shaped.payload)
    return Delivery(
        id=delivery_id,
        student_id=header["studentId"],
        source_org=header["source"],
        recipient_org=header["recipient"],
        kind=REFERRAL,
        purpose=header["purpose"],
        role=header["role"],
        categories=shaped.categories,
        payload=shaped.payload,
        body=body,
        body_digest=digest_bytes(body),
        idempotency_key=delivery_id,
        status=QUEUED,
        reason=None,
        decision_id=shaped.first_decision_id,
        consent_ids=shaped.disclosure.consent_ids,
        attempts=0,
        response_status=None,
        next_attempt_at=now,
        created_at=now,
        updated_at=now,
    )


# -- audit drafts (ids, categories, digests: never values) ----------------------------------


def grounds_of(shaped: Shaped) -> disclosures.Grounds:
    return disclosures.Grounds(
        decision_ids=tuple(shaped.decision_ids),
        policy_version=shaped.disclosure.policy.version,
        basis=tuple(shaped.basis),
        consent_ids=tuple(shaped.disclosure.consent_ids),
        rules=tuple(r for d in shaped.disclosure.permitted for r in d.matched_rules),
    )


def decision_drafts(header: dict[str, Any], shaped: Shaped, subject: str) -> list[audit.AuditDraft]:
    """Each decision behind a referral's body, once (kind ``decision``)."""
    return disclosures.element_decision_drafts(
        shaped.disclosure.decisions,
        action=DISCLOSE,
        recipient=header["recipient"],
        role=header["role"],
        purpose=header["purpose"],
        actor=f"{header['source']}/{header['requestedBy']}",
        subject=subject,
    )


def queued_draft(row: Delivery, shaped: Shaped) -> audit.AuditDraft:
    return audit.AuditDraft(
        kind="disclosure.queued",
        actor=f"{row.source_org}/{row.payload['referral']['requestedBy']}",
        subject=row.student_id,
        details=disclosures.delivery_details(row, grounds_of(shaped)),
    )


def _refused_draft(header: dict[str, Any], shaped: Shaped, known: bool) -> audit.AuditDraft:
    decisions = shaped.disclosure.decisions.values()
    return audit.AuditDraft(
        kind="disclosure.refused",
        actor=f"{header['source']}/{header['requestedBy']}",
        subject=header["studentId"],
        details={
            "recipient": header["recipient"],
            "purpose": header["purpose"],
            "role": header["role"],
            "referrerHoldsRecords": known,
            # The decisions themselves are their own entries, written with this one.
            "decisions": sorted(d.decision_id for d in decisions),
            "policyVersion": shaped.disclosure.policy.version,
        },
    )


# -- reading the outbox ------------------------------------------------------------------------


def list_deliveries(
    rt: Runtime,
    *,
    organization: str | None = None,
    status: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[DeliverySummary]:
    """Deliveries, oldest first; with ``organization``, only those it sent or received."""
    if status is not None and status not in STATUSES:
        raise InputInvalid(
            "unknown delivery status", [Issue(path="status", message=f"one of {', '.join(STATUSES)}")]
        )
    with rt.sessions() as session:
        rows = delivery_store.list_deliveries(
            session, visible_to=organization, status=status, limit=limit, offset=offset
        )
        return [summary_of(row) for row in rows]
