"""An agency answers a referral by updating its Task (PUT or JSON Patch on ``/fhir/r4/Task/{id}``).

Only the organization the Task is addressed to may, and only what the IG lets a performer
change: ``status``, ``businessStatus``, ``statusReason``, ``output`` (a completed Procedure),
notes and times. The status moves along the Gravity referral machine (409 otherwise); a new
status is the same report the delivery status alias makes (``referrals.report_in``), so the
plan's support follows it, in the same transaction as the Task's new version and its audit entry.
"""

from __future__ import annotations

from typing import Any

from gateway.core.referral_status import REFERRAL, check_transition
from gateway.errors import Conflict, InputInvalid, Issue, PreconditionFailed
from gateway.formats.fhir_validate import check_resource
from gateway.formats.records import RecordProblem
from gateway.service.administration.partners import Principal
from gateway.service.compliance import audit
from gateway.service.fhir import fhir_referrals, fhir_served
from gateway.service.fhir.fhir_reads import Found, not_found
from gateway.service.referrals import referrals
from gateway.service.runtime import Runtime
from gateway.storage import delivery_store, fhir_store

PERFORMER_FIELDS = frozenset(
    {
        "status",
        "businessStatus",
        "statusReason",
        "output",
        "note",
        "lastModified",
        "executionPeriod",
        "meta",
        "text",
    }
)


def update_task(
    rt: Runtime, principal: Principal, task_id: str, document: dict[str, Any], expected: int | None
) -> Found:
    with rt.sessions.begin() as session:
        row = fhir_store.current(session, "Task", task_id, lock=True)
        if row is None or row.delivery_id is None or row.owner_org != principal.organization_id:
            raise not_found("Task")
        if expected is not None and expected != row.version_id:
            raise PreconditionFailed(
                f"Task/{task_id} is at version {row.version_id}",
                [Issue(path="If-Match", message="read the Task again and apply the change to it")],
            )
        previous = str(row.document.get("status"))
        _check_change(row.document, document)
        delivery = delivery_store.get_delivery(session, row.delivery_id, lock=True)
        if delivery is None:
            raise not_found("Task")
        kept = {**document, "meta": {"profile": row.document.get("meta", {}).get("profile", [])}}
        written = fhir_served.write(
            session, "Task", task_id, kept, fhir_referrals.labels_for(delivery), rt.now()
        )
        status = str(document["status"])
        if status != previous:
            report = referrals.StatusReport(
                delivery_id=delivery.id,
                reporter=principal.organization_id,
                status=status,
                outcome=outcome_of(document),
            )
            referrals.report_in(session, rt, report, collected=True)
        audit.record(
            session,
            rt,
            [_draft(principal, delivery.student_id, task_id, previous, status, written.version_id)],
        )
        found = Found(
            document=written.document,
            version_id=written.version_id,
            last_updated=written.last_updated.isoformat(),
        )
    audit.checkpoint(rt)
    return found


def _check_change(stored: dict[str, Any], document: dict[str, Any]) -> None:
    changed = sorted(
        k
        for k in set(stored) | set(document)
        if k not in PERFORMER_FIELDS and stored.get(k) != document.get(k)
    )
    if changed:
        raise InputInvalid(
            "an agency may change only a referral Task's status, businessStatus, statusReason, output, notes",
            [Issue(path=f"Task.{k}", message="keep it as the gateway wrote it") for k in changed],
        )
    problems = [p for p in check_resource(document, "Task") if isinstance(p, RecordProblem)]
    if problems:
        raise InputInvalid("the Task is not valid FHIR R4", list(problems[0].issues)[:20])
    previous, status = stored.get("status"), document.get("status")
    check = check_transition(REFERRAL, str(previous), str(status))
    if not check.allowed:
        raise Conflict(
            f"the referral Task is '{previous}' and cannot become '{status}'",
            [Issue(path="Task.status", message=check.reason or "follow the referral state machine")],
        )


def outcome_of(document: dict[str, Any]) -> str | None:
    """What came of the service, as the agency put it: its reason or business status, or the
    Procedure its output names."""
    for name in ("statusReason", "businessStatus"):
        concept = document.get(name) or {}
        text = concept.get("text") or next(
            (c.get("display") for c in concept.get("coding") or [] if c.get("display")), None
        )
        if text:
            return str(text)[: referrals.MAX_OUTCOME]
    for output in document.get("output") or []:
        reference = output.get("valueReference") or {}
        if reference.get("reference"):
            return str(reference.get("display") or reference["reference"])[: referrals.MAX_OUTCOME]
    return None


def _draft(
    principal: Principal, student_id: str, task_id: str, previous: str, status: str, version: int
) -> audit.AuditDraft:
    return audit.AuditDraft(
        kind="fhir.update",
        actor=f"{principal.organization_id}/{principal.client_id}",
        subject=student_id,
        details={"resource": f"Task/{task_id}", "versionId": version, "from": previous, "to": status},
    )
