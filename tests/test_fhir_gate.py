"""The R4 gate: its Rust verdict (``fhir_gate_schema``) and its Python walk (``fhir_gate``) agree, its
messages name the place and the kind of problem and never the value, and its tables are R4's."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gateway.formats import fhir_gate, fhir_gate_schema
from gateway.formats.fhir_shape import is_resource_type
from gateway.formats.fhir_validate import model_issues
from tests.test_fhir_gate_differential import ACCEPTED_BY_BOTH, REFUSED_BY_BOTH, STRICTER, corpus

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "fhir"
PATIENT = json.loads((FIXTURES / "patient-lisa.json").read_text("utf-8"))
MARK = "Zq7-PHI"  # a value no message may quote


def cases() -> list[Any]:
    found = [pytest.param(c[1], id=f"refused: {c[0]}") for c in REFUSED_BY_BOTH + STRICTER]
    found += [pytest.param(c[1](), id=f"accepted: {c[0]}") for c in ACCEPTED_BY_BOTH]
    found += [pytest.param(json.loads(p.read_text("utf-8")), id=p.name) for p in corpus()]
    return found


@pytest.mark.parametrize("doc", cases())
def test_the_schema_and_the_walk_give_one_verdict(doc: dict[str, Any]) -> None:
    assert fhir_gate_schema.is_valid(doc) == (fhir_gate.check(doc) == [])


# (case, resource, location, words of the message)
MESSAGES: list[tuple[str, dict[str, Any], str, str]] = [
    ("unknown element", {**PATIENT, "nameX": MARK}, "$.nameX", "unknown element"),
    ("not a boolean", {**PATIENT, "active": MARK}, "$.active", "should be a valid boolean"),
    ("not a list", {**PATIENT, "name": MARK}, "$.name", "should be a valid list"),
    ("not an object", {**PATIENT, "maritalStatus": MARK}, "$.maritalStatus", "should be a valid object"),
    ("not a date", {**PATIENT, "birthDate": MARK}, "$.birthDate", "regex"),
    ("not in the binding", {**PATIENT, "gender": MARK}, "$.gender", "administrative-gender"),
    ("not an id", {**PATIENT, "id": MARK + " x"}, "$.id", "FHIR id"),
    ("null", {**PATIENT, "gender": None}, "$.gender", "null"),
    (
        "two of a choice",
        {**PATIENT, "deceasedBoolean": False, "deceasedDateTime": "2020"},
        "$.deceasedDateTime",
        "only one value[x]",
    ),
    ("missing", {"resourceType": "Observation", "code": {"text": MARK}}, "$.status", "missing"),
    (
        "inside a Bundle entry",
        {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"resource": {**PATIENT, "gender": MARK}}],
        },
        "$.entry[0].resource.gender",
        "value set",
    ),
    (
        "inside a Parameters part",
        {
            "resourceType": "Parameters",
            "parameter": [{"name": "a", "part": [{"name": "b", "resource": {**PATIENT, "active": MARK}}]}],
        },
        "$.parameter[0].part[0].resource.active",
        "boolean",
    ),
    (
        "a resource type R4 lacks",
        {**PATIENT, "contained": [{"resourceType": MARK}]},
        "$.contained[0].resourceType",
        "not an R4 resource type",
    ),
]


@pytest.mark.parametrize(("doc", "where", "words"), [pytest.param(*c[1:], id=c[0]) for c in MESSAGES])
def test_messages_name_the_place_and_the_kind_never_the_value(
    doc: dict[str, Any], where: str, words: str
) -> None:
    issues = model_issues(doc["resourceType"], "$", doc=doc)
    assert [i.path for i in issues] == [where]
    assert words in issues[0].message
    assert MARK not in json.dumps([(i.path, i.message) for i in issues])


def test_the_bytes_as_received_get_the_same_verdict() -> None:
    doc = {**PATIENT, "active": "yes"}
    assert model_issues("Patient", "$", raw=json.dumps(doc).encode()) == model_issues("Patient", "$", doc=doc)


def test_validators_are_compiled_per_resource_type_when_first_needed() -> None:
    fhir_gate_schema.validator.cache_clear()
    assert fhir_gate_schema.is_valid(PATIENT)
    assert fhir_gate_schema.validator.cache_info().currsize == 1
    assert fhir_gate_schema.is_valid(
        {**PATIENT, "contained": [{"resourceType": "Organization", "name": "c"}]}
    )
    assert fhir_gate_schema.validator.cache_info().currsize == 2


@pytest.mark.parametrize(
    ("name", "r4"),
    [
        ("Patient", True),
        ("MedicinalProduct", True),  # R4 only (R4B replaced it)
        ("EffectEvidenceSynthesis", True),
        ("SubscriptionStatus", False),  # R4B, though the npm copy of the definitions carries it
        ("Citation", False),  # R4B
        ("Transport", False),  # R5
        ("Resource", False),  # abstract
        ("DomainResource", False),
        ("HumanName", False),  # a data type
    ],
)
def test_the_resource_types_are_r4s(name: str, r4: bool) -> None:
    assert is_resource_type(name) is r4


def test_the_tables_are_r4_4_0_1() -> None:
    tables = fhir_gate.tables()
    assert tables["fhirVersion"] == "4.0.1"
    assert len(tables["resources"]) == 146
    observation = tables["types"]["Observation"]["elements"]
    assert observation["status"]["binding"] == "http://hl7.org/fhir/ValueSet/observation-status"
    assert tables["valuesets"]["http://hl7.org/fhir/ValueSet/administrative-gender"] == [
        "female",
        "male",
        "other",
        "unknown",
    ]
