"""Screening instruments as data, and the QuestionnaireResponse -> Observation derivation the
Gravity SDOH Clinical Care StructureMaps describe (SDOHCC-StructureMapHungerVitalSign):

- one screening-response Observation per answered item whose question the instrument knows,
  with categories ``survey`` + ``sdoh`` + the question's SDOH category, ``derivedFrom`` the response;
- items the instrument computes (the HVS risk item 88124-3) when the response does not carry them;
- ``interpretation`` POS when the answer is a risk answer (the IG's example Observation carries it).

Pure: the instrument table and the risk-answer crosswalk come in as values (``mappings/codes/``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.core.ids import derive_id
from gateway.errors import ArtifactInvalid, Issue

LOINC = "http://loinc.org"
SDOHCC_CODES = "http://hl7.org/fhir/us/sdoh-clinicalcare/CodeSystem/SDOHCC-CodeSystemTemporaryCodes"
SCREENING_PROFILE = (
    "http://hl7.org/fhir/us/sdoh-clinicalcare/StructureDefinition/SDOHCC-ObservationScreeningResponse"
)
SURVEY = {
    "system": "http://terminology.hl7.org/CodeSystem/observation-category",
    "code": "survey",
    "display": "Survey",
}
SDOH = {
    "system": "http://hl7.org/fhir/us/core/CodeSystem/us-core-category",
    "code": "sdoh",
    "display": "SDOH",
}
POSITIVE = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
    "code": "POS",
    "display": "Positive",
}
DERIVABLE_STATUSES = frozenset({"completed", "amended"})
_MAX_FHIR_ID = 64
_NOT_ID = re.compile(r"[^A-Za-z0-9.\-]+")


@dataclass(frozen=True, kw_only=True)
class Question:
    code: str
    display: str
    category: str


@dataclass(frozen=True, kw_only=True)
class Computed:
    code: str
    inputs: tuple[str, ...]
    any_of: frozenset[str]
    positive: Mapping[str, str]
    negative: Mapping[str, str]


@dataclass(frozen=True, kw_only=True)
class Instrument:
    code: str
    display: str
    questions: Mapping[str, Question]
    computed: tuple[Computed, ...]


def build_instruments(table: Mapping[str, Any], origin: str) -> dict[str, Instrument]:
    """The instrument table (``screening-instruments`` crosswalk) as values; every problem at once."""
    issues: list[Issue] = []
    found = {
        code: _instrument(code, doc, f"{origin}: $.entries[{code}]", issues) for code, doc in table.items()
    }
    if issues:
        raise ArtifactInvalid(f"{origin} is invalid", issues)
    return found


def _instrument(code: str, doc: Any, where: str, issues: list[Issue]) -> Instrument:
    if not isinstance(doc, dict) or not isinstance(doc.get("questions"), dict):
        issues.append(Issue(path=where, message="needs 'display' and a 'questions' map"))
        return Instrument(code=code, display="", questions={}, computed=())
    questions = {}
    for q_code, q in doc["questions"].items():
        if not isinstance(q, dict) or not q.get("display") or not q.get("category"):
            issues.append(
                Issue(path=f"{where}.questions[{q_code}]", message="needs 'display' and 'category'")
            )
            continue
        questions[str(q_code)] = Question(
            code=str(q_code), display=str(q["display"]), category=str(q["category"])
        )
    computed = tuple(
        c
        for i, item in enumerate(doc.get("computed") or [])
        if (c := _computed(item, f"{where}.computed[{i}]", issues))
    )
    for c in computed:
        for name in (c.code, *c.inputs):
            if name not in questions:
                issues.append(
                    Issue(path=f"{where}.computed", message=f"'{name}' is not one of the questions")
                )
    return Instrument(code=code, display=str(doc.get("display", "")), questions=questions, computed=computed)


def _computed(doc: Any, where: str, issues: list[Issue]) -> Computed | None:
    keys = ("code", "from", "any_of", "positive", "negative")
    if not isinstance(doc, dict) or any(k not in doc for k in keys):
        issues.append(Issue(path=where, message=f"needs {', '.join(keys)}"))
        return None
    return Computed(
        code=str(doc["code"]),
        inputs=tuple(str(x) for x in doc["from"]),
        any_of=frozenset(str(x) for x in doc["any_of"]),
        positive=dict(doc["positive"]),
        negative=dict(doc["negative"]),
    )


def question_code(link_id: str) -> str:
    """``/93043-8/56051-6`` -> ``56051-6``: LOINC-coded forms name each item by its question code."""
    return link_id.rstrip("/").rsplit("/", 1)[-1]


def derived_id(response_id: str, link_id: str, index: int = 0) -> str:
    """A FHIR id for the Observation derived from one item: readable when it fits, else a digest."""
    slug = _NOT_ID.sub("-", link_id).strip("-") + (f"-{index + 1}" if index else "")
    readable = f"{response_id}-{slug}"
    if len(readable) <= _MAX_FHIR_ID:
        return readable
    return derive_id("obs", response_id, link_id, str(index))


@dataclass(frozen=True, kw_only=True)
class _Answer:
    link_id: str
    question: Question
    index: int
    value: Mapping[str, Any]


def derive_observations(
    response: Mapping[str, Any], instrument: Instrument, risk_answers: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """The screening-response Observations a completed QuestionnaireResponse implies."""
    if response.get("status") not in DERIVABLE_STATUSES or not response.get("id"):
        return []
    answers = [a for item in _items(response.get("item", [])) for a in _answers(item, instrument)]
    answered = {a.question.code: a for a in answers}
    found = [_observation(response, a, risk_answers) for a in answers]
    for computed in instrument.computed:
        if computed.code not in answered:
            value = _computed_value(computed, answers)
            if value is not None:
                question = instrument.questions[computed.code]
                answer = _Answer(
                    link_id=f"/{computed.code}", question=question, index=0, value={"valueCoding": value}
                )
                found.append(_observation(response, answer, risk_answers))
    return [o for o in found if o is not None]


def _items(items: Any) -> list[Mapping[str, Any]]:
    """Every item, groups flattened (PRAPARE nests its questions in groups)."""
    flat: list[Mapping[str, Any]] = []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict):
            flat.append(item)
            flat.extend(_items(item.get("item", [])))
    return flat


def _answers(item: Mapping[str, Any], instrument: Instrument) -> list[_Answer]:
    link_id = str(item.get("linkId", ""))
    question = instrument.questions.get(question_code(link_id))
    if question is None:
        return []
    answers = [a for a in item.get("answer", []) if isinstance(a, dict)]
    return [_Answer(link_id=link_id, question=question, index=i, value=a) for i, a in enumerate(answers)]


def _computed_value(computed: Computed, answers: list[_Answer]) -> Mapping[str, str] | None:
    codes = [_answer_code(a.value) for a in answers if a.question.code in computed.inputs]
    if not codes:
        return None  # neither input answered: the calculatedExpression gives nothing
    return computed.positive if any(c in computed.any_of for c in codes) else computed.negative


def _answer_code(answer: Mapping[str, Any]) -> str | None:
    coding = answer.get("valueCoding")
    return str(coding.get("code")) if isinstance(coding, dict) and coding.get("code") else None


_VALUE_KEYS: dict[str, str] = {
    "valueBoolean": "valueBoolean",
    "valueInteger": "valueInteger",
    "valueString": "valueString",
    "valueDateTime": "valueDateTime",
    "valueDate": "valueDateTime",
    "valueQuantity": "valueQuantity",
}


def _value(answer: Mapping[str, Any]) -> dict[str, Any] | None:
    if isinstance(answer.get("valueCoding"), dict):
        return {"valueCodeableConcept": {"coding": [dict(answer["valueCoding"])]}}
    if "valueDecimal" in answer:
        return {"valueQuantity": {"value": answer["valueDecimal"]}}
    for key, target in _VALUE_KEYS.items():
        if key in answer:
            return {target: answer[key]}
    return None


def _observation(
    response: Mapping[str, Any], answer: _Answer, risk_answers: Mapping[str, Any]
) -> dict[str, Any] | None:
    value = _value(answer.value)
    if value is None:
        return None
    question = answer.question
    observation: dict[str, Any] = {
        "resourceType": "Observation",
        "id": derived_id(str(response["id"]), answer.link_id, answer.index),
        "meta": {"profile": [SCREENING_PROFILE]},
        "status": "final",
        "category": [
            {"coding": [dict(SURVEY)]},
            {"coding": [dict(SDOH)]},
            {"coding": [{"system": SDOHCC_CODES, "code": question.category}]},
        ],
        "code": {"coding": [{"system": LOINC, "code": question.code, "display": question.display}]},
    }
    if isinstance(response.get("subject"), dict) and response["subject"].get("reference"):
        observation["subject"] = {"reference": response["subject"]["reference"]}
    if response.get("authored"):
        observation["effectiveDateTime"] = response["authored"]
        observation["issued"] = response["authored"]
    observation.update(value)
    if f"{question.code}|{_answer_code(answer.value)}" in risk_answers:
        observation["interpretation"] = [{"coding": [dict(POSITIVE)]}]
    observation["derivedFrom"] = [{"reference": f"QuestionnaireResponse/{response['id']}"}]
    return observation
