"""Gravity profile rules fhir.resources does not check, and the referral Task transition table."""

from __future__ import annotations

import json

import pytest
from conftest import SHARED_SAMPLES

from gateway.core.mapping import PlanElement
from gateway.core.referral_status import PATIENT, REFERRAL, check_transition, refused_status_updates
from gateway.formats.gravity_rules import check

BASE = "http://hl7.org/fhir/us/sdoh-clinicalcare/StructureDefinition/"
GRAVITY = SHARED_SAMPLES / "gravity"


def cc(system: str, code: str) -> dict:
    return {"coding": [{"system": system, "code": code}]}


SURVEY = cc("http://terminology.hl7.org/CodeSystem/observation-category", "survey")
SDOH = cc("http://hl7.org/fhir/us/core/CodeSystem/us-core-category", "sdoh")
CONCERN = cc("http://hl7.org/fhir/us/core/CodeSystem/condition-category", "health-concern")


def screening(**changes) -> dict:
    doc = {
        "resourceType": "Observation",
        "meta": {"profile": [BASE + "SDOHCC-ObservationScreeningResponse"]},
        "category": [SURVEY, SDOH],
        "subject": {"reference": "Patient/p"},
        "effectiveDateTime": "2025-01-01T00:00:00Z",
        "derivedFrom": [{"reference": "QuestionnaireResponse/q"}],
    }
    return {**doc, **changes}


def condition(**changes) -> dict:
    return {
        "resourceType": "Condition",
        "meta": {"profile": [BASE + "SDOHCC-Condition"]},
        "category": [CONCERN, SDOH],
        **changes,
    }


def referral_task(**changes) -> dict:
    doc = {
        "resourceType": "Task",
        "meta": {"profile": [BASE + "SDOHCC-TaskForReferralManagement"]},
        "status": "requested",
        "intent": "order",
        "code": cc("http://hl7.org/fhir/CodeSystem/task-code", "fulfill"),
        "focus": {"reference": "ServiceRequest/sr"},
        "for": {"reference": "Patient/p"},
        "authoredOn": "2025-01-01",
        "requester": {"reference": "Organization/o"},
    }
    return {**doc, **changes}


def patient_task(**changes) -> dict:
    doc = {
        "resourceType": "Task",
        "meta": {"profile": [BASE + "SDOHCC-TaskForPatient"]},
        "status": "ready",
        "intent": "order",
        "priority": "routine",
        "owner": {"reference": "Patient/p"},
    }
    return {**doc, **changes}


@pytest.mark.parametrize(
    ("resource", "paths"),
    [
        # screening responses
        pytest.param(screening(), [], id="screening: valid"),
        pytest.param(screening(category=[SDOH]), ["R.category"], id="screening: survey missing"),
        pytest.param(screening(category=[SURVEY]), ["R.category"], id="screening: sdoh missing"),
        pytest.param(
            screening(derivedFrom=[{"reference": "Patient/p"}]),
            ["R.derivedFrom[0]"],
            id="screening: derivedFrom not a source",
        ),
        pytest.param(
            {k: v for k, v in screening().items() if k != "effectiveDateTime"},
            ["R.effective[x]"],
            id="screening: no effective",
        ),
        pytest.param(
            {k: v for k, v in screening().items() if k != "meta"} | {"category": [SDOH]},
            ["R.category"],
            id="derived from a QR without a profile: judged",
        ),
        # conditions
        pytest.param(condition(), [], id="condition: valid"),
        pytest.param(
            condition(category=[CONCERN]), ["R.category"], id="condition: sdoh missing (SDOH-Con-3)"
        ),
        pytest.param(
            condition(category=[SDOH]),
            ["R.category"],
            id="condition: no concern/problem/diagnosis (SDOH-Con-2)",
        ),
        # referral tasks
        pytest.param(referral_task(), [], id="referral task: valid"),
        pytest.param(
            referral_task(status="ready"), ["R.status"], id="referral task: ready is not a ReferralTaskStatus"
        ),
        pytest.param(
            referral_task(status="received"), ["R.status"], id="referral task: received is not either"
        ),
        pytest.param(
            referral_task(status="rejected"),
            ["R.statusReason.text"],
            id="referral task: rejected needs a reason",
        ),
        pytest.param(
            referral_task(status="on-hold", statusReason={"text": "waiting list"}),
            [],
            id="referral task: on-hold with reason",
        ),
        pytest.param(
            referral_task(focus={"reference": "Condition/c"}),
            ["R.focus"],
            id="referral task: focus not a ServiceRequest",
        ),
        pytest.param(referral_task(intent="plan"), ["R.intent"], id="referral task: intent fixed to order"),
        # patient tasks
        pytest.param(patient_task(), [], id="patient task: valid"),
        pytest.param(
            patient_task(status="requested"), ["R.status"], id="patient task: requested is not allowed"
        ),
        pytest.param(
            patient_task(owner={"reference": "Organization/o"}),
            ["R.owner"],
            id="patient task: owner must be the patient",
        ),
        # unknown profiles are not judged
        pytest.param({"resourceType": "Task", "status": "bogus"}, [], id="no Gravity profile: not judged"),
        pytest.param(
            {"resourceType": "Observation", "meta": {"profile": ["http://example.org/other"]}},
            [],
            id="other profile: not judged",
        ),
    ],
)
def test_gravity_rules(resource: dict, paths: list[str]) -> None:
    assert [i.path for i in check(resource, "R")] == paths


@pytest.mark.skipif(not GRAVITY.is_dir(), reason=f"shared Gravity samples not found at {GRAVITY}")
@pytest.mark.parametrize(
    "path", sorted(GRAVITY.glob("*.json")) if GRAVITY.is_dir() else [], ids=lambda p: p.stem
)
def test_every_ig_example_keeps_the_rules(path) -> None:
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert check(doc, doc["resourceType"]) == ()


@pytest.mark.parametrize(
    ("kind", "previous", "status", "allowed"),
    [
        # referral: the IG state diagram
        pytest.param(REFERRAL, None, "requested", True, id="new -> requested"),
        pytest.param(REFERRAL, None, "draft", True, id="new -> draft"),
        pytest.param(REFERRAL, None, "accepted", False, id="new -> accepted: not without a request"),
        pytest.param(REFERRAL, "draft", "requested", True, id="draft -> requested"),
        pytest.param(REFERRAL, "requested", "accepted", True, id="requested -> accepted"),
        pytest.param(REFERRAL, "requested", "rejected", True, id="requested -> rejected"),
        pytest.param(
            REFERRAL, "requested", "completed", False, id="requested -> completed: skips acceptance"
        ),
        pytest.param(REFERRAL, "accepted", "in-progress", True, id="accepted -> in-progress"),
        pytest.param(REFERRAL, "accepted", "completed", True, id="accepted -> completed"),
        pytest.param(REFERRAL, "in-progress", "on-hold", True, id="in-progress -> on-hold"),
        pytest.param(REFERRAL, "on-hold", "in-progress", True, id="on-hold -> in-progress"),
        pytest.param(REFERRAL, "completed", "in-progress", False, id="completed is final"),
        pytest.param(REFERRAL, "rejected", "accepted", False, id="rejected is final"),
        pytest.param(REFERRAL, "completed", "completed", True, id="the same status again is no change"),
        pytest.param(REFERRAL, "in-progress", "entered-in-error", True, id="any -> entered-in-error"),
        pytest.param(REFERRAL, "requested", "ready", False, id="ready is not a referral status"),
        pytest.param(REFERRAL, "requested", "received", False, id="received is not a referral status"),
        # patient tasks
        pytest.param(PATIENT, None, "ready", True, id="patient: new -> ready"),
        pytest.param(PATIENT, "ready", "completed", True, id="patient: ready -> completed"),
        pytest.param(PATIENT, "in-progress", "on-hold", True, id="patient: in-progress -> on-hold"),
        pytest.param(PATIENT, "on-hold", "in-progress", True, id="patient: on-hold -> in-progress"),
        pytest.param(PATIENT, "completed", "ready", False, id="patient: completed is final"),
        pytest.param(PATIENT, None, "requested", False, id="patient: requested is not a patient status"),
    ],
)
def test_task_status_transitions(kind: str, previous: str | None, status: str, allowed: bool) -> None:
    found = check_transition(kind, previous, status)
    assert found.allowed is allowed
    assert bool(found.reason) is not allowed


def _status_update(status: str, element_id: str = "el-sup-1"):
    return PlanElement(
        slot="supports",
        element={"id": element_id, "referralStatus": status},
        update_fields=("referralStatus", "outcome", "end"),
    )


@pytest.mark.parametrize(
    ("current", "updates", "refused"),
    [
        # a support that is requested may be accepted, then completed, in one batch
        ("requested", ["accepted", "completed"], {}),
        # backwards from a final status is refused, with the state machine's reason
        ("completed", ["accepted"], {0: "final"}),
        # skipping accepted is refused; the next update is judged from the status still in force
        ("requested", ["completed", "accepted"], {0: "may move to"}),
        # the same status again is no change
        ("accepted", ["accepted"], {}),
        # no support yet: the update lands whole (nothing to move on from)
        (None, ["completed"], {}),
    ],
)
def test_referral_status_updates_follow_the_state_machine(current, updates, refused):
    plan = {"supports": [] if current is None else [{"id": "el-sup-1", "referralStatus": current}]}
    found = refused_status_updates(plan, list(enumerate(_status_update(s) for s in updates)))
    assert set(found) == set(refused)
    for index, words in refused.items():
        assert words in found[index]
