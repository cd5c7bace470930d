"""The Hunger Vital Sign chain of the Gravity SDOH Clinical Care IG, end to end through ingest:

Questionnaire -> QuestionnaireResponse (+ the Observations derived from it) -> Observation -> Condition
-> Goal -> ServiceRequest -> Task (accepted, completed) -> Procedure ends as ONE food need with a goal
that addresses it and ONE support whose referral is completed, in the plan of student 604822.

The IG's Patient (pat-53234) carries no district id, so the clinic first sends its own Patient
record for pat-53234 with the district's student id, the way a clinic links a patient (the IG's
Patient is then accepted through that link).
"""

from __future__ import annotations

import json

import pytest
from conftest import SHARED_SAMPLES
from helpers import DISTRICT_IDS, LISA, send_demo

from gateway.service.exchange.inbound import Inbound
from gateway.service.exchange.ingest import ingest
from gateway.storage import plan_store

GRAVITY = SHARED_SAMPLES / "gravity"
pytestmark = pytest.mark.skipif(not GRAVITY.is_dir(), reason=f"shared Gravity samples not found at {GRAVITY}")

# The chain in the order a clinic and a coordination platform would send it.
CHAIN = [
    "Questionnaire-SDOHCC-QuestionnaireHungerVitalSign.json",
    "Task-SDOHCC-TaskPatientRiskQuestionnaireCompletedExample.json",
    "QuestionnaireResponse-SDOHCC-QuestionnaireResponseHungerVitalSignExample.json",
    "Observation-SDOHCC-ObservationResponseHungerVitalSignQuestion3Example.json",
    "Observation-SDOHCC-ObservationAssessmentInadequateFoodIntakeExample.json",
    "Condition-SDOHCC-ConditionFoodInsecurityExample.json",
    "Goal-SDOHCC-GoalFoodSecurityExample.json",
    "Consent-SDOHCC-ConsentInformationDisclosureExample.json",
    "ServiceRequest-SDOHCC-ServiceRequestActiveFoodPantryApplicationAssistExample.json",
    "Task-SDOHCC-TaskReferralManagementOrderFulfillmentAcceptedExample.json",
    "Task-SDOHCC-TaskReferralManagementOrderFulfillmentCompletedExample.json",
    "Procedure-SDOHCC-ProcedureFoodPantryApplicationAssistanceExample.json",
]
SNOMED = "http://snomed.info/sct"


def linking_patient() -> dict:
    return {
        "resourceType": "Patient",
        "id": "pat-53234",
        "identifier": [{"system": DISTRICT_IDS, "value": "604822"}],
    }


def send(rt, document: dict):
    return ingest(
        rt,
        Inbound(
            source_org="riverside-health", format_name="fhir-json", payload=json.dumps(document).encode()
        ),
    )


def send_example(rt, name: str):
    return send(rt, json.loads((GRAVITY / name).read_text(encoding="utf-8")))


def stored_plan(rt) -> dict:
    with rt.sessions() as session:
        row = plan_store.get_plan(session, LISA)
    assert row is not None
    return row.document


@pytest.fixture
def linked(rt):
    send_demo(rt, "01")
    assert send(rt, linking_patient()).outcome["accepted"] == 1
    return rt


def test_the_hunger_vital_sign_chain_ends_as_one_need_one_goal_one_closed_support(linked) -> None:
    outcomes = {name: send_example(linked, name).outcome for name in CHAIN}
    assert all(o["rejected"] == 0 and o["held"] == 0 for o in outcomes.values()), outcomes
    plan = stored_plan(linked)
    food = [
        n
        for n in plan["needs"]
        if n["code"] == {"system": SNOMED, "code": "733423003", "display": "Food insecurity"}
    ]
    assert len(food) == 1
    assert food[0]["domain"] == "familyBasicNeeds"
    assert food[0]["provenance"]["sourceRecord"]["type"] == "Condition"  # the clinician's concern updated it
    goals = [g for g in plan["goals"] if g["code"]["code"] == "1078229009"]
    assert [(g["status"], g["addresses"]) for g in goals] == [("active", [food[0]["id"]])]
    pantry = [s for s in plan["supports"] if s["service"]["code"] == "467771000124109"]
    assert [(s["domain"], s["referralStatus"], s["end"]) for s in pantry] == [
        ("familyBasicNeeds", "completed", "2020-09-16")
    ]


def test_each_referral_step_moves_the_same_support(linked) -> None:
    for name in CHAIN[:8]:
        send_example(linked, name)
    send_example(linked, CHAIN[8])  # the ServiceRequest
    (referral,) = [
        s
        for s in stored_plan(linked)["supports"]
        if s["provenance"]["sourceRecord"]["type"] == "ServiceRequest"
    ]
    statuses = [referral["referralStatus"]]
    for name in CHAIN[9:]:
        send_example(linked, name)
        (same,) = [s for s in stored_plan(linked)["supports"] if s["id"] == referral["id"]]
        statuses.append(same["referralStatus"])
    assert statuses == ["requested", "accepted", "completed", "completed"]


def test_the_questionnaire_response_alone_gives_the_food_need(linked) -> None:
    summary = send_example(linked, CHAIN[2])
    assert summary.outcome["accepted"] == 4  # the response and the three Observations derived from it
    plan = stored_plan(linked)
    assert [(n["domain"], n["code"]["code"]) for n in plan["needs"]] == [("familyBasicNeeds", "733423003")]
    facts = {f["code"]["code"] for f in plan["domains"]["familyBasicNeeds"]["facts"]}
    assert facts == {"88121-9", "88122-7", "88123-5", "88124-3"}


@pytest.mark.parametrize(
    "name",
    [
        "Consent-SDOHCC-ConsentInformationDisclosureExample.json",
        "Organization-SDOHCC-OrganizationClinicExample.json",
        "Organization-SDOHCC-OrganizationCoordinationPlatformExample.json",
        "Practitioner-SDOHCC-PractitionerDrJanWaterExample.json",
        "PractitionerRole-SDOHCC-PractitionerRoleDrJanWaterExample.json",
        "Questionnaire-SDOHCC-QuestionnaireHungerVitalSign.json",
    ],
)
def test_directory_resources_questionnaires_and_consents_are_ignored_with_a_reason(linked, name: str) -> None:
    summary = send_example(linked, name)
    assert (summary.outcome["ignored"], summary.outcome["rejected"]) == (1, 0)


def test_every_gravity_example_maps_or_is_ignored(linked) -> None:
    for path in sorted(GRAVITY.glob("*.json")):
        outcome = send_example(linked, path.name).outcome
        assert (outcome["rejected"], outcome["held"], outcome.get("failed", 0)) == (0, 0, 0), path.name


def test_without_a_link_the_chain_is_held_with_its_reason(rt) -> None:
    send_demo(rt, "01")
    summary = send_example(rt, CHAIN[5])
    assert summary.outcome["held"] == 1
    assert "no student is linked" in json.dumps(summary.outcome)
