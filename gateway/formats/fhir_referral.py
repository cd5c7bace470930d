"""A queued referral as the Gravity SDOH Clinical Care IG's pair: a ServiceRequest (what is asked
for) and a Task (the request to the agency, which the agency moves along its state machine).

An agency without a FHIR server of its own ("direct light" in the IG) finds these Tasks by
``GET /fhir/r4/Task?owner=Organization/{its id}&status=requested``, reads the ServiceRequest the
Task's ``focus`` names, and answers by updating the Task. The student is named by the gateway's
identifier only; the plan excerpt the referral carries travels in the delivery, never here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.formats.fhir_audit_event import STUDENT_SYSTEM

REFERRAL_SYSTEM = "https://success-plan-gateway.org/referrals"
DOMAIN_SYSTEM = "https://success-plan-gateway.org/domains"
SDOHCC = "http://hl7.org/fhir/us/sdoh-clinicalcare/StructureDefinition"
TASK_PROFILE = f"{SDOHCC}/SDOHCC-TaskForReferralManagement"
SERVICE_REQUEST_PROFILE = f"{SDOHCC}/SDOHCC-ServiceRequest"
TASK_CODE = {
    "system": "http://hl7.org/fhir/CodeSystem/task-code",
    "code": "fulfill",
    "display": "Fulfill the focal request",
}


@dataclass(frozen=True, kw_only=True)
class Referral:
    delivery_id: str
    student_id: str
    source_org: str
    recipient_org: str
    domain: str
    authored: str  # ISO date-time
    reason_code: str | None = None


def task_id(delivery_id: str) -> str:
    return f"task-{delivery_id}"


def service_request_id(delivery_id: str) -> str:
    return f"sr-{delivery_id}"


def service_request(referral: Referral) -> dict[str, Any]:
    document: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "id": service_request_id(referral.delivery_id),
        "meta": {"profile": [SERVICE_REQUEST_PROFILE]},
        "identifier": [{"system": REFERRAL_SYSTEM, "value": referral.delivery_id}],
        "status": "active",
        "intent": "order",
        "category": [{"coding": [{"system": DOMAIN_SYSTEM, "code": referral.domain}]}],
        "code": {"coding": [{"system": DOMAIN_SYSTEM, "code": referral.domain}], "text": "Referral"},
        "subject": _student(referral),
        "authoredOn": referral.authored,
        "requester": {"reference": f"Organization/{referral.source_org}"},
        "performer": [{"reference": f"Organization/{referral.recipient_org}"}],
    }
    if referral.reason_code:
        document["reasonCode"] = [
            {"coding": [{"system": f"{REFERRAL_SYSTEM}/reason", "code": referral.reason_code}]}
        ]
    return document


def task(referral: Referral) -> dict[str, Any]:
    return {
        "resourceType": "Task",
        "id": task_id(referral.delivery_id),
        "meta": {"profile": [TASK_PROFILE]},
        "identifier": [{"system": REFERRAL_SYSTEM, "value": referral.delivery_id}],
        "status": "requested",
        "intent": "order",
        "priority": "routine",
        "code": {"coding": [TASK_CODE]},
        "focus": {"reference": f"ServiceRequest/{service_request_id(referral.delivery_id)}"},
        "for": _student(referral),
        "authoredOn": referral.authored,
        "lastModified": referral.authored,
        "requester": {"reference": f"Organization/{referral.source_org}"},
        "owner": {"reference": f"Organization/{referral.recipient_org}"},
    }


def _student(referral: Referral) -> dict[str, Any]:
    return {"identifier": {"system": STUDENT_SYSTEM, "value": referral.student_id}}
