"""The R4 gate against ``fhir.resources`` (R4B models), the validator it replaced on the way in.

- Valid corpus (the Gravity examples of the shared samples, the FHIR fixtures of tests/ and the
  demo exchanges): whatever the models accept, the gate accepts.
- Invalid mutations: whatever the models refuse, the gate refuses, with the location.
- Stricter: what the models let through (coercions, required bindings, nulls) the gate refuses.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from gateway.formats.fhir_validate import model_issues
from tests.conftest import SHARED_SAMPLES

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "fhir"
PATIENT = json.loads((FIXTURES / "patient-lisa.json").read_text("utf-8"))
SCREENING = json.loads((FIXTURES / "screening-hvs.json").read_text("utf-8"))
EXT = {"extension": [{"url": "http://example.org/ext", "valueString": "x"}]}


def corpus() -> list[Path]:
    found = sorted((SHARED_SAMPLES / "gravity").glob("*.json")) if SHARED_SAMPLES.is_dir() else []
    found += sorted(FIXTURES.glob("*.json"))
    found += sorted((ROOT / "demo" / "exchanges").glob("*fhir-json*.json"))
    return found


def model_accepts(doc: dict[str, Any]) -> bool:
    try:
        get_fhir_model_class(doc["resourceType"]).model_validate(copy.deepcopy(doc))
    except ValidationError:
        return False
    return True


def gate(doc: dict[str, Any]) -> list[str]:
    """The gate's problems as locations (the resource is at ``$``)."""
    return [issue.path for issue in model_issues(doc["resourceType"], "$", doc=doc)]


def test_the_corpus_is_not_empty() -> None:
    assert len(corpus()) >= 6


@pytest.mark.parametrize("path", corpus(), ids=lambda p: p.name)
def test_the_gate_accepts_what_the_models_accept(path: Path) -> None:
    doc = json.loads(path.read_text("utf-8"))
    if model_accepts(doc):
        assert gate(doc) == []
    else:  # the demo's malformed exchange: both refuse
        assert gate(doc) != []


def without(doc: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k not in keys}


def patient_name(**name: Any) -> dict[str, Any]:
    return {**PATIENT, "name": [{**PATIENT["name"][0], **name}]}


# (case, mutated resource, a location the gate must name)
REFUSED_BY_BOTH: list[tuple[str, dict[str, Any], str]] = [
    ("unknown element", {**PATIENT, "statusX": "x"}, "$.statusX"),
    ("unknown nested element", patient_name(familyX="x"), "$.name[0].familyX"),
    ("unknown sibling of an id", {**PATIENT, "_id": EXT}, "$._id"),
    (
        "unknown sibling of Extension.url",
        {**PATIENT, "extension": [{**EXT["extension"][0], "_url": EXT}]},
        "$.extension[0]._url",
    ),
    ("boolean as a word", {**PATIENT, "active": "maybe"}, "$.active"),
    ("repeated single element", {**PATIENT, "gender": ["female", "male"]}, "$.gender"),
    ("single value for a list", {**PATIENT, "name": {"family": "Woods"}}, "$.name"),
    ("null in a list of objects", {**PATIENT, "name": [None]}, "$.name[0]"),
    ("number for a string", patient_name(family=3), "$.name[0].family"),
    ("empty string", patient_name(family=""), "$.name[0].family"),
    ("fractional integer", {**PATIENT, "multipleBirthInteger": 2.5}, "$.multipleBirthInteger"),
    ("integer over 32 bits", {**PATIENT, "multipleBirthInteger": 2**31}, "$.multipleBirthInteger"),
    ("negative unsignedInt", {**PATIENT, "photo": [{"size": -1}]}, "$.photo[0].size"),
    ("month 13", {**PATIENT, "birthDate": "2010-13-01"}, "$.birthDate"),
    ("February 30", {**PATIENT, "birthDate": "2010-02-30"}, "$.birthDate"),
    ("February 29 of a common year", {**PATIENT, "birthDate": "2023-02-29"}, "$.birthDate"),
    ("April 31", {**PATIENT, "birthDate": "2011-04-31"}, "$.birthDate"),
    ("1900 was not a leap year", {**PATIENT, "birthDate": "1900-02-29"}, "$.birthDate"),
    (
        "dateTime without a zone",
        {**SCREENING, "effectiveDateTime": "2025-09-17T15:20:00"},
        "$.effectiveDateTime",
    ),
    (
        "dateTime on a non-day",
        {**SCREENING, "effectiveDateTime": "2025-02-30T15:20:00Z"},
        "$.effectiveDateTime",
    ),
    ("instant without a time", {**PATIENT, "meta": {"lastUpdated": "2020-01-01"}}, "$.meta.lastUpdated"),
    ("code with a trailing space", {**PATIENT, "gender": "male "}, "$.gender"),
    ("id with a space", {**PATIENT, "id": "a b"}, "$.id"),
    ("number for an id", {**PATIENT, "id": 5}, "$.id"),
    ("two value[x]", {**SCREENING, "valueString": "at risk"}, "$.valueString"),
    ("required element missing", without(SCREENING, "code"), "$.code"),
    ("required primitive missing", without(SCREENING, "status"), "$.status"),
    ("Extension.url missing", {**PATIENT, "extension": [{"valueString": "x"}]}, "$.extension[0].url"),
    (
        "contained resource with an unknown element",
        {**PATIENT, "contained": [{"resourceType": "Organization", "nameX": "x"}]},
        "$.contained[0].nameX",
    ),
    (
        "choice inside a backbone element",
        {**SCREENING, "component": [{"code": SCREENING["code"], "valueString": "a", "valueInteger": 1}]},
        "$.component[0].valueInteger",
    ),
]


@pytest.mark.parametrize(("doc", "where"), [pytest.param(*c[1:], id=c[0]) for c in REFUSED_BY_BOTH])
def test_the_gate_refuses_what_the_models_refuse(doc: dict[str, Any], where: str) -> None:
    assert not model_accepts(doc)
    assert where in gate(doc)


# What fhir.resources lets through (it coerces, or does not check) and FHIR R4 does not allow.
STRICTER: list[tuple[str, dict[str, Any], str]] = [
    ("a word for a boolean", {**PATIENT, "active": "yes"}, "$.active"),
    ("a number for a boolean", {**PATIENT, "active": 1}, "$.active"),
    ("a boolean for an integer", {**PATIENT, "multipleBirthInteger": True}, "$.multipleBirthInteger"),
    ("a string for an integer", {**PATIENT, "multipleBirthInteger": "3"}, "$.multipleBirthInteger"),
    (
        "a string for a decimal",
        {**without(SCREENING, "valueCodeableConcept"), "valueQuantity": {"value": "1.5"}},
        "$.valueQuantity.value",
    ),
    ("Observation.status outside its required binding", {**SCREENING, "status": "done"}, "$.status"),
    ("Patient.gender outside its required binding", {**PATIENT, "gender": "m"}, "$.gender"),
    ("null for an element", {**PATIENT, "gender": None}, "$.gender"),
    ("an id over 64 characters", {**PATIENT, "id": "a" * 65}, "$.id"),
    ("a uri with a space", {**PATIENT, "implicitRules": "http://example.org/a b"}, "$.implicitRules"),
    (
        "a contained resource without its type",
        {**PATIENT, "contained": [{"id": "x"}]},
        "$.contained[0].resourceType",
    ),
    ("base64 that is not", {**PATIENT, "photo": [{"data": "!!!"}]}, "$.photo[0].data"),
]


@pytest.mark.parametrize(("doc", "where"), [pytest.param(*c[1:], id=c[0]) for c in STRICTER])
def test_the_gate_refuses_what_the_models_let_through(doc: dict[str, Any], where: str) -> None:
    assert model_accepts(doc)  # the gap the gate closes (fhir.resources 8.x)
    assert gate(doc) == [where]


def given_with_extension() -> dict[str, Any]:
    return patient_name(given=["Lisa", None], _given=[None, EXT])


# Valid R4 the gate must not refuse: a primitive's _name sibling and its nulls, partial dates.
ACCEPTED_BY_BOTH: list[tuple[str, Callable[[], dict[str, Any]]]] = [
    ("a required primitive sent as its extension", lambda: {**without(SCREENING, "status"), "_status": EXT}),
    ("a primitive array with a null and its _name", given_with_extension),
    ("a choice with its own _name sibling", lambda: {**SCREENING, "_effectiveDateTime": EXT}),
    ("a leap day", lambda: {**PATIENT, "birthDate": "2024-02-29"}),
    ("2000 was a leap year", lambda: {**PATIENT, "birthDate": "2000-02-29"}),
    ("a year and month", lambda: {**PATIENT, "birthDate": "2010-05"}),
    ("a leap second", lambda: {**SCREENING, "effectiveDateTime": "2016-12-31T23:59:60Z"}),
    ("an integer written 3.0", lambda: {**PATIENT, "multipleBirthInteger": 3.0}),
    (
        "an integer for a decimal",
        lambda: {**without(SCREENING, "valueCodeableConcept"), "valueQuantity": {"value": 2}},
    ),
    (
        "QuestionnaireResponse with _questionnaire",
        lambda: {
            "resourceType": "QuestionnaireResponse",
            "status": "completed",
            "questionnaire": "http://example.org/Questionnaire/hvs",
            "_questionnaire": EXT,
        },
    ),
    (
        "a contained resource",
        lambda: {**PATIENT, "contained": [{"resourceType": "Organization", "id": "o1", "name": "Clinic"}]},
    ),
]


@pytest.mark.parametrize("make", [pytest.param(c[1], id=c[0]) for c in ACCEPTED_BY_BOTH])
def test_valid_r4_is_accepted_by_both(make: Callable[[], dict[str, Any]]) -> None:
    doc = make()
    assert model_accepts(doc)
    assert gate(doc) == []
