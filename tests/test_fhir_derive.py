"""QuestionnaireResponse -> screening-response Observations, the way the SDOHCC StructureMap does."""

from __future__ import annotations

import copy
import json

import pytest
from conftest import SHARED_SAMPLES

from gateway.formats.fhir_derive import expand
from gateway.formats.records import record

LOINC = "http://loinc.org"
HVS = "http://hl7.org/fhir/us/sdoh-clinicalcare/Questionnaire/SDOHCC-QuestionnaireHungerVitalSign"
GRAVITY = SHARED_SAMPLES / "gravity"


def response(*answers: tuple[str, str], questionnaire: str = HVS, status: str = "completed") -> dict:
    return {
        "resourceType": "QuestionnaireResponse",
        "id": "qr-1",
        "questionnaire": questionnaire,
        "status": status,
        "subject": {"reference": "Patient/p-1", "display": "a name that is not copied"},
        "authored": "2025-09-17T15:20:00Z",
        "item": [
            {"linkId": f"/{q}", "answer": [{"valueCoding": {"system": LOINC, "code": a}}]} for q, a in answers
        ],
    }


def derived(doc: dict) -> list[dict]:
    records = expand(record("QuestionnaireResponse", "$", doc))
    assert records[0].data is doc
    return [r.data for r in records[1:]]


def risk(observations: list[dict]) -> str | None:
    found = [o for o in observations if o["code"]["coding"][0]["code"] == "88124-3"]
    return found[0]["valueCodeableConcept"]["coding"][0]["code"] if found else None


@pytest.mark.parametrize(
    ("answers", "expected_risk"),
    [
        pytest.param(
            (("88122-7", "LA28397-0"), ("88123-5", "LA28398-8")), "LA19952-3", id="often true -> at risk"
        ),
        pytest.param(
            (("88122-7", "LA28398-8"), ("88123-5", "LA6729-3")), "LA19952-3", id="sometimes true -> at risk"
        ),
        pytest.param(
            (("88122-7", "LA28398-8"), ("88123-5", "LA28398-8")), "LA19983-8", id="never true -> no risk"
        ),
        pytest.param((("88122-7", "LA15775-2"),), "LA19983-8", id="one answered, refused -> no risk"),
        pytest.param((), None, id="neither answered -> nothing computed"),
        pytest.param(
            (("88124-3", "LA19983-8"), ("88122-7", "LA28397-0")), "LA19983-8", id="a sent risk item is kept"
        ),
    ],
)
def test_hunger_vital_sign_risk_is_computed_as_the_questionnaire_does(answers, expected_risk) -> None:
    assert risk(derived(response(*answers))) == expected_risk


def test_each_derived_observation_is_a_screening_response_derived_from_the_response() -> None:
    observations = derived(response(("88122-7", "LA28397-0")))
    assert [o["id"] for o in observations] == ["qr-1-88122-7", "qr-1-88124-3"]
    for o in observations:
        categories = [c["coding"][0]["code"] for c in o["category"]]
        assert categories == ["survey", "sdoh", "food-insecurity"]
        assert o["derivedFrom"] == [{"reference": "QuestionnaireResponse/qr-1"}]
        assert o["subject"] == {"reference": "Patient/p-1"}  # no display (a name) copied
        assert o["effectiveDateTime"] == "2025-09-17T15:20:00Z"


@pytest.mark.parametrize(
    "doc",
    [
        pytest.param(
            response(("88122-7", "LA28397-0"), questionnaire="http://example.org/Questionnaire/other"),
            id="unknown form",
        ),
        pytest.param(response(("88122-7", "LA28397-0"), status="in-progress"), id="not completed"),
    ],
)
def test_nothing_is_derived_from_unknown_or_unfinished_responses(doc: dict) -> None:
    assert derived(doc) == []


def test_the_same_response_derives_the_same_records() -> None:
    doc = response(("88122-7", "LA28397-0"))
    assert derived(doc) == derived(copy.deepcopy(doc))


def test_groups_are_flattened_and_questions_found_by_the_last_link_id_segment() -> None:
    doc = response(questionnaire="http://loinc.org/q/93025-5")
    doc["item"] = [
        {
            "linkId": "/93043-8",
            "item": [
                {
                    "linkId": "/93043-8/67875-5",
                    "answer": [{"valueCoding": {"system": LOINC, "code": "LA17956-6"}}],
                }
            ],
        }
    ]
    (employment,) = derived(doc)
    assert (employment["id"], employment["code"]["coding"][0]["code"]) == ("qr-1-93043-8-67875-5", "67875-5")
    assert employment["interpretation"][0]["coding"][0]["code"] == "POS"


@pytest.mark.skipif(not GRAVITY.is_dir(), reason=f"shared Gravity samples not found at {GRAVITY}")
def test_the_derived_question_3_matches_the_ig_example_observation() -> None:
    qr = json.loads(
        (
            GRAVITY / "QuestionnaireResponse-SDOHCC-QuestionnaireResponseHungerVitalSignExample.json"
        ).read_text()
    )
    ig = json.loads(
        (GRAVITY / "Observation-SDOHCC-ObservationResponseHungerVitalSignQuestion3Example.json").read_text()
    )
    (ours,) = [o for o in derived(qr) if o["code"]["coding"][0]["code"] == "88124-3"]
    for key in (
        "resourceType",
        "status",
        "subject",
        "effectiveDateTime",
        "issued",
        "valueCodeableConcept",
        "derivedFrom",
    ):
        assert ours[key] == ig[key], key
    assert ours["meta"]["profile"] == ig["meta"]["profile"]
    assert [c["coding"][0]["code"] for c in ours["category"]] == [
        c["coding"][0]["code"] for c in ig["category"]
    ]
    assert ours["code"]["coding"][0]["code"] == ig["code"]["coding"][0]["code"]
    assert ours["interpretation"][0]["coding"][0]["code"] == ig["interpretation"][0]["coding"][0]["code"]
