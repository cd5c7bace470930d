"""The FHIR mappings' crosswalks as tables: screening question + answer -> need and domain, Z codes and
SNOMED findings -> SDOH category -> domain, Part 2 codes -> regime, sensitive demographics -> labels."""

from __future__ import annotations

import pytest

from gateway.artifacts import load_artifacts
from gateway.core.canonical import digest
from gateway.core.mapping import MappingContext, MappingResult, apply_mapping

PARTNER = {"fhir-patient": "https://riverside-health.example.org/fhir/Patient"}
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
SDOHCC = "http://hl7.org/fhir/us/sdoh-clinicalcare/CodeSystem/SDOHCC-CodeSystemTemporaryCodes"


@pytest.fixture(scope="module")
def artifacts():
    return load_artifacts()


def mapped(artifacts, record: dict) -> MappingResult:
    mapping = artifacts.mapping_for("fhir-json", record["resourceType"])
    context = MappingContext(
        source_org="riverside-health",
        message_id="msg-t",
        received_at="2026-11-23T12:00:00+00:00",
        record_digest=digest(record),
        identifier_systems=PARTNER,
        codes=artifacts.codes,
    )
    return apply_mapping(mapping, record, context)


def answer(question: str, code: str, *categories: str) -> dict:
    return {
        "resourceType": "Observation",
        "id": "o-1",
        "status": "final",
        "category": [{"coding": [{"system": SDOHCC, "code": c}]} for c in categories],
        "code": {"coding": [{"system": LOINC, "code": question}]},
        "subject": {"reference": "Patient/p-1"},
        "effectiveDateTime": "2025-09-17T15:20:00Z",
        "valueCodeableConcept": {"coding": [{"system": LOINC, "code": code}]},
    }


def needs(result: MappingResult) -> list[tuple[str, str]]:
    return sorted(
        {(e.element["domain"], e.element["code"]["code"]) for e in result.elements if e.slot == "needs"}
    )


@pytest.mark.parametrize(
    ("question", "code", "expected"),
    [
        # Hunger Vital Sign
        pytest.param(
            "88124-3", "LA19952-3", [("familyBasicNeeds", "733423003")], id="HVS at risk -> food insecurity"
        ),
        pytest.param("88124-3", "LA19983-8", [], id="HVS no risk -> no need"),
        pytest.param("88122-7", "LA28397-0", [], id="HVS Q1 alone: the computed item carries the risk"),
        # AHC HRSN
        pytest.param(
            "71802-3",
            "LA31994-9",
            [("familyBasicNeeds", "housing-instability")],
            id="AHC worried about losing housing",
        ),
        pytest.param(
            "71802-3", "LA31995-6", [("familyBasicNeeds", "32911000")], id="AHC no steady place -> homeless"
        ),
        pytest.param("71802-3", "LA31993-1", [], id="AHC steady place -> no need"),
        pytest.param("96778-6", "LA31996-4", [("familyBasicNeeds", "inadequate-housing")], id="AHC pests"),
        pytest.param(
            "93030-5",
            "LA33-6",
            [("familyBasicNeeds", "transportation-insecurity")],
            id="AHC transportation yes",
        ),
        pytest.param("93030-5", "LA32-8", [], id="AHC transportation no"),
        pytest.param(
            "96779-4", "LA33-6", [("familyBasicNeeds", "utility-insecurity")], id="AHC utilities threatened"
        ),
        pytest.param(
            "95618-5",
            "LA6482-9",
            [("familyBasicNeeds", "intimate-partner-violence")],
            id="AHC HITS frequently",
        ),
        pytest.param("95618-5", "LA6270-8", [], id="AHC HITS never"),
        # PRAPARE
        pytest.param("67875-5", "LA17956-6", [("familyBasicNeeds", "73438004")], id="PRAPARE unemployed"),
        pytest.param(
            "71802-3", "LA30190-5", [("familyBasicNeeds", "32911000")], id="PRAPARE no housing -> homeless"
        ),
        pytest.param(
            "93031-3", "LA30127-7", [("familyBasicNeeds", "material-hardship")], id="PRAPARE child care"
        ),
        pytest.param(
            "93038-8", "LA13914-9", [("physicalMentalHealth", "stress")], id="PRAPARE stress very much"
        ),
    ],
)
def test_screening_answer_to_need(artifacts, question: str, code: str, expected: list) -> None:
    assert needs(mapped(artifacts, answer(question, code))) == expected


def test_a_positive_interpretation_with_an_sdoh_category_is_a_need(artifacts) -> None:
    record = answer("76512-3", "LA-local-1", "social-connection")
    record["interpretation"] = [{"coding": [{"code": "POS"}]}]
    assert needs(mapped(artifacts, record)) == [("socialEmotionalBehavioral", "social-connection")]


def test_several_answers_of_one_patient_and_category_are_one_need(artifacts) -> None:
    ids = {
        e.element["id"]
        for record in (answer("88124-3", "LA19952-3"), {**answer("88124-3", "LA19952-3"), "id": "o-2"})
        for e in mapped(artifacts, record).elements
        if e.slot == "needs"
    }
    assert len(ids) == 1


def condition(*codings: tuple[str, str], category: str | None = None) -> dict:
    doc = {
        "resourceType": "Condition",
        "id": "c-1",
        "clinicalStatus": {"coding": [{"code": "active"}]},
        "code": {"coding": [{"system": s, "code": c} for s, c in codings]},
        "subject": {"reference": "Patient/p-1"},
        "onsetDateTime": "2025-09-17",
    }
    if category:
        doc["category"] = [{"coding": [{"system": SDOHCC, "code": category}]}]
    return doc


@pytest.mark.parametrize(
    ("codings", "category", "domain"),
    [
        pytest.param([(ICD10, "Z59.41")], None, "familyBasicNeeds", id="Z59.41 food insecurity"),
        pytest.param([(ICD10, "Z59.01")], None, "familyBasicNeeds", id="Z59.01 sheltered homelessness"),
        pytest.param([(ICD10, "Z56.0")], None, "familyBasicNeeds", id="Z56.0 unemployment"),
        pytest.param([(ICD10, "Z59.82")], None, "familyBasicNeeds", id="Z59.82 transportation insecurity"),
        pytest.param([(ICD10, "Z60.2")], None, "socialEmotionalBehavioral", id="Z60.2 living alone"),
        pytest.param([(ICD10, "Z73.3")], None, "physicalMentalHealth", id="Z73.3 stress"),
        pytest.param([(ICD10, "Z55.0")], None, "academic", id="Z55.0 illiteracy"),
        pytest.param([(SNOMED, "733423003")], None, "familyBasicNeeds", id="SNOMED food insecurity"),
        pytest.param([(SNOMED, "1234")], "stress", "physicalMentalHealth", id="the SDOH category wins"),
        pytest.param([(ICD10, "J45.909")], None, None, id="asthma is no need, only a health fact"),
    ],
)
def test_condition_code_to_need_domain(artifacts, codings, category, domain) -> None:
    result = mapped(artifacts, condition(*codings, category=category))
    found = [e.element["domain"] for e in result.elements if e.slot == "needs"]
    assert found == ([] if domain is None else [domain])
    assert [e.slot for e in result.elements if e.slot != "needs"] == ["domains.physicalMentalHealth.facts"]


@pytest.mark.parametrize(
    ("codings", "regime", "category"),
    [
        pytest.param([(ICD10, "F10.20")], "42CFRPart2", "substance-use", id="F10.20 alcohol dependence"),
        pytest.param([(ICD10, "F11.10")], "42CFRPart2", "substance-use", id="F11.10 opioid abuse"),
        pytest.param([(ICD10, "F19")], "42CFRPart2", "substance-use", id="F19 category"),
        pytest.param([(ICD10, "F17.210")], "HIPAA", "health-condition", id="F17 nicotine: not Part 2 (2.11)"),
        pytest.param([(SNOMED, "7200002")], "42CFRPart2", "substance-use", id="SNOMED alcoholism"),
        pytest.param([(SNOMED, "195967001")], "HIPAA", "health-condition", id="SNOMED asthma"),
        pytest.param([(ICD10, "F32.9")], "HIPAA", "health-condition", id="F32.9 depression: HIPAA"),
    ],
)
def test_part2_codes_set_the_regime_of_every_element(artifacts, codings, regime, category) -> None:
    result = mapped(artifacts, condition(*codings))
    assert {(e.element["labels"]["regime"], e.element["labels"]["category"]) for e in result.elements} == {
        (regime, category)
    }


@pytest.mark.parametrize(
    ("code", "slot", "labels"),
    [
        pytest.param(
            "72826-1",
            "domains.socialEmotionalBehavioral.facts",
            ("HIPAA", "very-restricted", "demographics-sensitive"),
            id="race",
        ),
        pytest.param(
            "69490-1",
            "domains.socialEmotionalBehavioral.facts",
            ("HIPAA", "very-restricted", "demographics-sensitive"),
            id="ethnicity",
        ),
        pytest.param(
            "76691-5",
            "domains.socialEmotionalBehavioral.facts",
            ("HIPAA", "very-restricted", "demographics-sensitive"),
            id="gender identity",
        ),
        pytest.param(
            "76690-7",
            "domains.socialEmotionalBehavioral.facts",
            ("HIPAA", "very-restricted", "demographics-sensitive"),
            id="sexual orientation",
        ),
        pytest.param(
            "90778-2",
            "domains.socialEmotionalBehavioral.facts",
            ("HIPAA", "very-restricted", "demographics-sensitive"),
            id="pronouns",
        ),
        pytest.param(
            "75626-2",
            "domains.physicalMentalHealth.facts",
            ("42CFRPart2", "very-restricted", "substance-use"),
            id="AUDIT-C score",
        ),
        pytest.param(
            "88122-7",
            "domains.familyBasicNeeds.facts",
            ("HIPAA", "restricted", "sdoh-screening"),
            id="HVS question",
        ),
    ],
)
def test_observation_labels_and_domain_by_content(artifacts, code: str, slot: str, labels: tuple) -> None:
    (fact,) = [e for e in mapped(artifacts, answer(code, "LA-x")).elements if e.slot.startswith("domains.")]
    assert fact.slot == slot
    assert tuple(fact.element["labels"].values()) == labels


@pytest.mark.parametrize(
    ("resource_type", "status", "expected"),
    [
        pytest.param(
            "ServiceRequest", "active", "requested", id="an active ServiceRequest is a requested referral"
        ),
        pytest.param("ServiceRequest", "revoked", "cancelled", id="revoked -> cancelled"),
        pytest.param("Task", "accepted", "accepted", id="Task accepted"),
        pytest.param("Task", "rejected", "rejected", id="Task rejected"),
        pytest.param("Task", "in-progress", "in-progress", id="Task in-progress"),
        pytest.param("Task", "completed", "completed", id="Task completed"),
        pytest.param("Procedure", "completed", "completed", id="Procedure completed closes the loop"),
        pytest.param("Procedure", "not-done", "failed", id="Procedure not done -> failed"),
    ],
)
def test_referral_status_crosswalk(artifacts, resource_type: str, status: str, expected: str) -> None:
    assert artifacts.codes["sdoh-referral-status"][f"{resource_type}|{status}"] == expected


@pytest.mark.parametrize(
    "entity",
    [
        "Questionnaire",
        "Consent",
        "Organization",
        "Practitioner",
        "PractitionerRole",
        "HealthcareService",
        "Location",
    ],
)
def test_deliberately_ignored_resource_types_have_a_reason_and_no_mapping(artifacts, entity: str) -> None:
    assert artifacts.codes["ignored-records"][f"fhir-json|{entity}"]
    assert artifacts.mapping_for("fhir-json", entity) is None
