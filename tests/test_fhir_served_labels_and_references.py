"""What a served resource is labelled with and which references it makes, as tables."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.core.fhir_search import relative_references
from gateway.formats.records import record
from gateway.service.exchange.outcomes import RecordOutcome
from gateway.service.fhir import fhir_served

SENDER = fhir_served.Sender(source_org="clinic", message_id="msg-1", resource_id=None)


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        pytest.param({"subject": {"reference": "Patient/p-1"}}, (("Patient", "p-1"),), id="one"),
        pytest.param(
            {"a": [{"reference": "Practitioner/x.1"}, {"b": {"reference": "Encounter/e-2"}}]},
            (("Encounter", "e-2"), ("Practitioner", "x.1")),
            id="nested, sorted",
        ),
        pytest.param(
            {"a": {"reference": "Patient/p"}, "b": {"reference": "Patient/p"}},
            (("Patient", "p"),),
            id="twice",
        ),
        pytest.param(
            {"subject": {"reference": "https://x.org/fhir/Patient/p"}}, (), id="absolute: not relative"
        ),
        pytest.param({"subject": {"reference": "#contained"}}, (), id="contained"),
        pytest.param({"subject": {"reference": "Patient/p/_history/2"}}, (), id="version-specific"),
        pytest.param({"subject": {"reference": "urn:uuid:1234"}}, (), id="urn"),
        pytest.param({"note": [{"text": '"reference":"Patient/p"'}]}, (), id="quoted in text: escaped"),
        pytest.param({"subject": {"display": "Patient/p"}}, (), id="not a reference"),
    ],
)
def test_relative_references(document: dict[str, Any], expected: tuple[tuple[str, str], ...]) -> None:
    assert relative_references(document) == expected


def _landed(element_labels: tuple[dict[str, str], ...], mapping_labels: dict[str, str]) -> Any:
    return fhir_served.Landed(
        record=record("Observation", "line 1", {"resourceType": "Observation", "id": "o-1"}),
        outcome=RecordOutcome(location="line 1", status="accepted", student_id="stu-1"),
        element_labels=element_labels,
        mapping_labels=mapping_labels,
    )


HEALTH = {"category": "physicalMentalHealth", "regime": "HIPAA", "sensitivity": "restricted"}
NEEDS = {"category": "familyBasicNeeds", "regime": "HIPAA", "sensitivity": "normal"}


@pytest.mark.parametrize(
    ("element_labels", "mapping_labels", "expected"),
    [
        pytest.param(
            (), {}, ("unmapped", "not-covered", "restricted"), id="no labels: the strictest defaults"
        ),
        pytest.param((), HEALTH, ("physicalMentalHealth", "HIPAA", "restricted"), id="the mapping's"),
        pytest.param(
            (NEEDS,),
            HEALTH,
            ("familyBasicNeeds,physicalMentalHealth", "HIPAA", "normal,restricted"),
            id="every label kept, sorted",
        ),
        pytest.param((NEEDS, NEEDS), {}, ("familyBasicNeeds", "HIPAA", "normal"), id="once each"),
        pytest.param(
            ({"category": "x" * 50}, {"category": "y" * 50}),
            {},
            (("x" * 50 + "," + "y" * 50)[:60], "not-covered", "restricted"),
            id="cut to the column's 60",
        ),
        pytest.param(
            ({"category": ["a", "b"], "regime": 2},),  # type: ignore[dict-item]
            {},
            ("['a', 'b']", "2", "restricted"),
            id="a value that is not text: its text, as before",
        ),
    ],
)
def test_served_labels(
    element_labels: tuple[dict[str, str], ...], mapping_labels: dict[str, str], expected: tuple[str, str, str]
) -> None:
    for _ in range(2):  # the second from the kept joins
        labels = fhir_served._labels(SENDER, _landed(element_labels, mapping_labels), {})
        assert (labels.category, labels.regime, labels.sensitivity) == expected
        assert (labels.student_id, labels.source_org, labels.client_id) == ("stu-1", "clinic", "o-1")
