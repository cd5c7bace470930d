"""Gravity SDOH Clinical Care rules that fhir.resources does not check (profiles, not base R4).

``check(resource, location)`` returns every problem of one resource, each with its FHIRPath-like
location; an empty tuple when the resource keeps the rules.

A resource is judged by the profiles it claims (``meta.profile``); a screening-response
Observation is also recognised by its ``derivedFrom`` a QuestionnaireResponse (SDC extraction).
Resources of profiles not listed here are not judged. Task status CHANGES need the previous status
and are checked by ``gateway.core.referral_status`` where the pipeline knows it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gateway.core.referral_status import PATIENT_TASK_STATUSES, REFERRAL_TASK_STATUSES
from gateway.errors import Issue

BASE = "http://hl7.org/fhir/us/sdoh-clinicalcare/StructureDefinition/"
SDOHCC_CODES = "http://hl7.org/fhir/us/sdoh-clinicalcare/CodeSystem/SDOHCC-CodeSystemTemporaryCodes"
US_CORE_CATEGORY = "http://hl7.org/fhir/us/core/CodeSystem/us-core-category"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
CONDITION_CATEGORIES = frozenset({"health-concern", "problem-list-item", "encounter-diagnosis"})
REASON_NEEDED = frozenset({"rejected", "cancelled", "on-hold", "failed"})

Rule = Callable[[dict[str, Any], str], list[Issue]]


def _codes(concepts: Any, system: str | None = None) -> set[str]:
    """Codes of a CodeableConcept or a list of them (optionally of one system)."""
    items = concepts if isinstance(concepts, list) else [concepts]
    return {
        str(c.get("code"))
        for cc in items
        if isinstance(cc, dict)
        for c in cc.get("coding", [])
        if isinstance(c, dict) and (system is None or c.get("system") == system)
    }


def _references(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    return [str(r.get("reference", "")) for r in items if isinstance(r, dict)]


def _is_type(reference: str, resource_type: str) -> bool:
    parts = reference.split("/")
    # A urn:uuid reference inside a Bundle is resolved by the parser; its type is not judged here.
    return (len(parts) >= 2 and parts[-2] == resource_type) or reference.startswith("urn:uuid:")


def _screening_response(obs: dict[str, Any], at: str) -> list[Issue]:
    issues = []
    categories = _codes(obs.get("category", []))
    if "survey" not in categories:
        issues.append(
            Issue(path=f"{at}.category", message="a screening response SHALL have category 'survey'")
        )
    if "sdoh" not in categories:
        issues.append(
            Issue(path=f"{at}.category", message="SHALL have the US Core category 'sdoh' (SDOH-Obs-4)")
        )
    if "subject" not in obs:
        issues.append(Issue(path=f"{at}.subject", message="is required (1..1, a Patient)"))
    if not any(k.startswith("effective") for k in obs):
        issues.append(Issue(path=f"{at}.effective[x]", message="is required (1..1)"))
    return issues


def _assessment(obs: dict[str, Any], at: str) -> list[Issue]:
    if "sdoh" in _codes(obs.get("category", [])):
        return []
    return [Issue(path=f"{at}.category", message="SHALL have the US Core category 'sdoh' (SDOH-Obs-4)")]


def _derived_from_sources(obs: dict[str, Any], at: str) -> list[Issue]:
    # derivedFrom -> QuestionnaireResponse / DocumentReference / Observation (assess-2: an Observation
    # extracted from a QuestionnaireResponse names it here; the derivation in fhir_derive always does).
    return [
        Issue(
            path=f"{at}.derivedFrom[{i}]",
            message="SHALL reference a QuestionnaireResponse, DocumentReference or Observation",
        )
        for i, ref in enumerate(_references(obs.get("derivedFrom", [])))
        if not any(_is_type(ref, t) for t in ("QuestionnaireResponse", "DocumentReference", "Observation"))
    ]


def _condition(cond: dict[str, Any], at: str) -> list[Issue]:
    issues = []
    categories = _codes(cond.get("category", []))
    if "sdoh" not in categories:
        issues.append(
            Issue(path=f"{at}.category", message="SHALL have the US Core category 'sdoh' (SDOH-Con-3)")
        )
    if not categories & CONDITION_CATEGORIES:
        issues.append(
            Issue(
                path=f"{at}.category",
                message="SHALL be a health-concern, problem-list-item or encounter-diagnosis (SDOH-Con-2)",
            )
        )
    if "asserter" in cond and any(
        "SDOHCC-ExtensionConditionAsserter" in str(e.get("url")) for e in cond.get("extension", [])
    ):
        issues.append(
            Issue(
                path=f"{at}.asserter",
                message="at most one asserter: asserter or the asserter-device extension (SDOH-Con-1)",
            )
        )
    return issues


def _referral_task(task: dict[str, Any], at: str) -> list[Issue]:
    issues = []
    status = task.get("status")
    if status not in REFERRAL_TASK_STATUSES:
        issues.append(
            Issue(
                path=f"{at}.status",
                message="not in ReferralTaskStatus (TaskStatus without ready and received)",
            )
        )
    if status in REASON_NEEDED and not (task.get("statusReason") or {}).get("text"):
        issues.append(Issue(path=f"{at}.statusReason.text", message=f"should say why the task is {status}"))
    if task.get("intent") != "order":
        issues.append(Issue(path=f"{at}.intent", message="is fixed to 'order'"))
    if "fulfill" not in _codes(task.get("code", {})):
        issues.append(Issue(path=f"{at}.code", message="is fixed to task-code 'fulfill'"))
    focus = _references(task.get("focus", {}))
    if not focus or not _is_type(focus[0], "ServiceRequest"):
        issues.append(
            Issue(path=f"{at}.focus", message="SHALL reference the ServiceRequest to fulfil (1..1)")
        )
    for name in ("for", "authoredOn", "requester"):
        if name not in task:
            issues.append(Issue(path=f"{at}.{name}", message="is required (1..1)"))
    return issues


def _patient_task(task: dict[str, Any], at: str) -> list[Issue]:
    issues = []
    if task.get("status") not in PATIENT_TASK_STATUSES:
        issues.append(Issue(path=f"{at}.status", message="not a status a task for the patient may have"))
    if task.get("intent") != "order":
        issues.append(Issue(path=f"{at}.intent", message="is fixed to 'order'"))
    if task.get("priority") not in {"routine", "urgent"}:
        issues.append(Issue(path=f"{at}.priority", message="is required: routine or urgent"))
    owner = _references(task.get("owner", {}))
    if not owner or not (_is_type(owner[0], "Patient") or _is_type(owner[0], "RelatedPerson")):
        issues.append(Issue(path=f"{at}.owner", message="SHALL be the Patient or a RelatedPerson"))
    return issues


def _procedure(proc: dict[str, Any], at: str) -> list[Issue]:
    if proc.get("status") in {"completed", "in-progress"} and not any(
        k.startswith("performed") for k in proc
    ):
        return [
            Issue(path=f"{at}.performed[x]", message="is required when completed or in-progress (us-core-7)")
        ]
    return []


def _goal(goal: dict[str, Any], at: str) -> list[Issue]:
    for i, ref in enumerate(_references(goal.get("addresses", []))):
        if not (_is_type(ref, "Condition") or _is_type(ref, "Observation")):
            return [
                Issue(
                    path=f"{at}.addresses[{i}]", message="SHALL reference an SDOHCC Condition or Observation"
                )
            ]
    return []


PROFILE_RULES: dict[str, tuple[Rule, ...]] = {
    "SDOHCC-ObservationScreeningResponse": (_screening_response, _derived_from_sources),
    "SDOHCC-ObservationAssessment": (_assessment,),
    "SDOHCC-Condition": (_condition,),
    "SDOHCC-Condition-Problems-Health-Concerns": (_condition,),
    "SDOHCC-Condition-Encounter-Diagnosis": (_condition,),
    "SDOHCC-TaskForReferralManagement": (_referral_task,),
    "SDOHCC-TaskForPatient": (_patient_task,),
    "SDOHCC-Procedure": (_procedure,),
    "SDOHCC-Goal": (_goal,),
}


def profiles_of(resource: dict[str, Any]) -> list[str]:
    """The Gravity profiles a resource claims, by id (``meta.profile`` canonical, version removed)."""
    claimed = (resource.get("meta") or {}).get("profile", [])
    found = [str(p).split("|", 1)[0].removeprefix(BASE) for p in claimed if str(p).startswith(BASE)]
    if resource.get("resourceType") == "Observation" and not found and _from_response(resource):
        found.append("SDOHCC-ObservationScreeningResponse")  # an SDC extraction without a profile claim
    return [p for p in found if p in PROFILE_RULES]


def _from_response(obs: dict[str, Any]) -> bool:
    return any(_is_type(r, "QuestionnaireResponse") for r in _references(obs.get("derivedFrom", [])))


def check(resource: dict[str, Any], location: str) -> tuple[Issue, ...]:
    if not isinstance(resource, dict):
        return ()
    issues: list[Issue] = []
    for profile in profiles_of(resource):
        for rule in PROFILE_RULES[profile]:
            issues.extend(rule(resource, location))
    return tuple(dict.fromkeys(issues))
