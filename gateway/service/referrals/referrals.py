"""Closing the loop: the agency reports what became of a referral, and the plan shows it.

Only the recipient of a delivered referral may report on it. A report is an inbound record
of category ``referral`` from the agency (decided at the ``inbound`` point like any exchange)
and becomes one ``supports`` element of the student's plan: its id is derived from the
delivery id, so every report updates the same element, with full provenance pointing at the
delivery and a digest of the report. Statuses move forward only:

    requested -> accepted -> in-progress -> completed   (accepted -> completed is allowed too)
    rejected or cancelled from any status that is not final

Reporting the current status again changes nothing (a retried report is harmless).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from gateway.core.canonical import digest
from gateway.core.ids import element_id_for
from gateway.core.mapping import PlanElement
from gateway.core.plan import empty_plan, merge_elements
from gateway.core.policy import INBOUND, DecisionRequest
from gateway.errors import AccessDenied, Conflict, InputInvalid, Issue, NotFound, PlanInvalid
from gateway.service.compliance import audit
from gateway.service.fhir import fhir_referrals
from gateway.service.policy import enforcement
from gateway.service.policy.policies import policy_set
from gateway.service.referrals.deliveries import DEFAULT_DOMAIN, FAILED, QUEUED, SENDING, SENT
from gateway.service.runtime import Runtime
from gateway.storage import delivery_store, plan_store
from gateway.storage.db import Session
from gateway.storage.tables import Delivery

REQUESTED = "requested"
# The Gravity referral Task machine (core/referral_status), plus rejection after acceptance.
NEXT: dict[str, tuple[str, ...]] = {
    REQUESTED: ("accepted", "rejected", "cancelled"),
    "accepted": ("in-progress", "on-hold", "completed", "rejected", "cancelled", "failed"),
    "in-progress": ("on-hold", "completed", "rejected", "cancelled", "failed"),
    "on-hold": ("in-progress", "completed", "cancelled", "failed"),
    "completed": (),
    "rejected": (),
    "cancelled": (),
    "failed": (),
}
REPORTABLE = ("accepted", "in-progress", "on-hold", "completed", "rejected", "cancelled", "failed")
COLLECTED = "collected by the recipient through /fhir/r4/Task"
STARTED = frozenset({"accepted", "in-progress", "completed"})
MAX_OUTCOME = 500
REFERRAL_SYSTEM = "https://success-plan-gateway.org/referrals"
MAPPING_ID, RULE_ID = "spgw.referral-status", "support"
LABELS = {"regime": "not-covered", "sensitivity": "restricted", "category": "referral"}


@dataclass(frozen=True, kw_only=True)
class StatusReport:
    delivery_id: str
    reporter: str  # the organization that reports (must be the delivery's recipient)
    status: str
    outcome: str | None = None

    def body(self) -> dict[str, Any]:
        return {"status": self.status, **({"outcome": self.outcome} if self.outcome else {})}


@dataclass(frozen=True, kw_only=True)
class ReferralStatus:
    delivery_id: str
    referral_status: str
    previous: str
    element_id: str
    plan_version: int
    changed: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "deliveryId": self.delivery_id,
            "referralStatus": self.referral_status,
            "previousStatus": self.previous,
            "elementId": self.element_id,
            "planVersion": self.plan_version,
            "changed": self.changed,
        }


def report_status(rt: Runtime, report: StatusReport) -> ReferralStatus:
    """Record the agency's report on the referral's ``supports`` element of the plan."""
    _check(report)
    with rt.sessions.begin() as session:
        result = report_in(session, rt, report)
    audit.checkpoint(rt)
    return result


def report_in(
    session: Session, rt: Runtime, report: StatusReport, *, collected: bool = False
) -> ReferralStatus:
    """The report inside the caller's transaction. ``collected``: the agency found the referral by
    polling its Tasks, so a referral not (yet) pushed to it counts as delivered from now on."""
    _check(report)
    delivery = _reported_delivery(session, report, collected=collected)
    _decide_inbound(session, rt, report)
    if collected and delivery.status != SENT:
        delivery.status, delivery.reason, delivery.updated_at = SENT, COLLECTED, rt.now()
    return _apply(session, rt, delivery, report)


def _check(report: StatusReport) -> None:
    issues = []
    if report.status not in REPORTABLE:
        issues.append(Issue(path="status", message=f"one of {', '.join(REPORTABLE)}"))
    if report.outcome is not None and not 1 <= len(report.outcome) <= MAX_OUTCOME:
        issues.append(Issue(path="outcome", message=f"a short code or text of 1 to {MAX_OUTCOME} characters"))
    if issues:
        raise InputInvalid("the referral status report is not valid", issues)


def _reported_delivery(session: Session, report: StatusReport, *, collected: bool = False) -> Delivery:
    row = delivery_store.get_delivery(session, report.delivery_id, lock=True)
    reached = (SENT, QUEUED, SENDING, FAILED) if collected else (SENT,)
    # Someone else's delivery, or one that never reached the reporter, does not exist for it.
    if row is None or row.recipient_org != report.reporter or row.status not in reached:
        raise NotFound(f"no delivered referral {report.delivery_id} for '{report.reporter}'")
    return row


def _decide_inbound(session: Session, rt: Runtime, report: StatusReport) -> None:
    """A report is a record the agency sends us: its agreements must let it send referrals."""
    request = DecisionRequest(
        action=INBOUND, source_org=report.reporter, recipient_org="", categories=frozenset({"referral"})
    )
    decision = enforcement.enforce("inbound", request, policy_set(session, rt), (), rt.now())
    if not decision.permitted:
        raise AccessDenied(
            "no agreement in force lets this organization send referral status",
            [Issue(path="status", message="ask the gateway operator to check the agreement")],
        )


def _apply(session: Session, rt: Runtime, delivery: Delivery, report: StatusReport) -> ReferralStatus:
    plan_row = plan_store.lock_plan(session, delivery.student_id)
    plan = plan_row.document if plan_row is not None else empty_plan(delivery.student_id)
    element_id = element_id_for(MAPPING_ID, RULE_ID, delivery.id)
    current: dict[str, Any] = next((e for e in plan.get("supports", []) if e["id"] == element_id), {})
    previous = str(current.get("referralStatus", REQUESTED))
    _check_transition(delivery.id, previous, report.status)
    element = support_element(delivery, report, current, element_id, rt.now())
    merged = merge_elements(plan, [PlanElement(slot="supports", element=element)])
    version = plan_row.version if plan_row is not None else 0
    if merged.changed:
        _validate(rt, merged.plan)
        version = plan_store.save_plan(session, plan_row, delivery.student_id, merged.plan, rt.now())
        audit.record(session, rt, [_draft(delivery, report, previous, element, version)])
    fhir_referrals.follow_status(session, delivery, report.status, rt.now())
    return ReferralStatus(
        delivery_id=delivery.id,
        referral_status=report.status,
        previous=previous,
        element_id=element_id,
        plan_version=version,
        changed=bool(merged.changed),
    )


def _check_transition(delivery_id: str, previous: str, status: str) -> None:
    allowed = NEXT.get(previous, ())
    if status == previous or status in allowed:
        return
    where = f"it may move to {', '.join(allowed)}" if allowed else "it is closed"
    raise Conflict(
        f"referral {delivery_id} is '{previous}': {where}",
        [Issue(path="status", message=f"'{previous}' cannot become '{status}'")],
    )


def support_element(
    delivery: Delivery,
    report: StatusReport,
    current: dict[str, Any],
    element_id: str,
    now: dt.datetime,
) -> dict[str, Any]:
    """The referral as a ``supports`` element, with the provenance of this report."""
    today = now.date().isoformat()
    element: dict[str, Any] = {
        "id": element_id,
        "domain": delivery.payload["referral"].get("domain", DEFAULT_DOMAIN),
        "service": {
            "system": REFERRAL_SYSTEM,
            "code": delivery.id,
            "display": f"Referral to {delivery.recipient_org}",
        },
        "provider": delivery.recipient_org,
        "referralStatus": report.status,
        "provenance": _provenance(delivery, report, now),
        "labels": dict(LABELS),
    }
    start = current.get("start") or (today if report.status in STARTED else None)
    end = current.get("end") or (today if not NEXT[report.status] else None)
    outcome = report.outcome or current.get("outcome")
    element.update({k: v for k, v in (("start", start), ("end", end), ("outcome", outcome)) if v})
    return element


def _provenance(delivery: Delivery, report: StatusReport, now: dt.datetime) -> dict[str, Any]:
    return {
        "sourceOrganization": report.reporter,
        "sourceSystem": "spgw referral status API",
        "sourceFormat": "spgw-referral-status",
        "sourceRecord": {"type": "Delivery", "id": delivery.id, "digest": digest(report.body())},
        "mapping": f"{MAPPING_ID}@1#{RULE_ID}",
        "messageId": str(uuid.uuid4()),
        "receivedAt": now.isoformat(),
    }


def _validate(rt: Runtime, plan: dict[str, Any]) -> None:
    # The validator's own message can quote the value; name only where and which rule.
    issues = [
        Issue(path=error.json_path, message=f"violates '{error.validator}' of the schema")
        for error in rt.artifacts.plan_validator.iter_errors(plan)
    ]
    if issues:
        raise PlanInvalid("the plan with this referral status does not validate", issues[:20])


def _draft(
    delivery: Delivery, report: StatusReport, previous: str, element: dict[str, Any], version: int
) -> audit.AuditDraft:
    return audit.AuditDraft(
        kind="referral.status",
        actor=report.reporter,
        subject=delivery.student_id,
        details={
            "deliveryId": delivery.id,
            "from": previous,
            "to": report.status,
            "elementId": element["id"],
            "reportDigest": element["provenance"]["sourceRecord"]["digest"],
            "planVersion": version,
            # The agency's own words may describe the family: proof of them, not the text.
            **({"outcome": audit.free_text(report.outcome)} if report.outcome else {}),
        },
    )
