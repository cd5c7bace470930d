"""FHIR R4 XML in: the XML -> JSON rules, JSON and XML of one resource give the same records, and the
hardened parser refuses DTDs and entities."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from gateway.errors import InputInvalid
from gateway.formats import parse_payload
from gateway.formats.fhir_xml import hardened_parser, xml_to_json
from gateway.formats.fhir_xml_write import to_xml
from tests.conftest import SHARED_SAMPLES

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "fhir"
GRAVITY = SHARED_SAMPLES / "gravity"
PATIENT = json.loads((FIXTURES / "patient-lisa.json").read_text("utf-8"))
SCREENING = json.loads((FIXTURES / "screening-hvs.json").read_text("utf-8"))


def test_hand_written_xml_follows_the_r4_json_rules() -> None:
    """Primitive ids/extensions to ``_name`` (arrays in step with nulls), numbers and booleans typed,
    the narrative kept as XHTML text, contained resources, cardinality from the models."""
    converted = xml_to_json((FIXTURES / "features.xml").read_bytes())
    assert converted == json.loads((FIXTURES / "features.json").read_text("utf-8"))


def test_hand_written_xml_and_its_json_give_the_same_records() -> None:
    from_xml = parse_payload("fhir-xml", (FIXTURES / "features.xml").read_bytes())
    from_json = parse_payload("fhir-json", (FIXTURES / "features.json").read_bytes())
    assert from_xml.problems == from_json.problems == ()
    assert from_xml.records == from_json.records


def canonical_div(doc: Any) -> Any:
    """The narrative as canonical XHTML (C14N): XML has no ``<p/>`` versus ``<p></p>``, so a
    serialiser may write either; every other value must be equal as it is."""
    if isinstance(doc, dict):
        return {
            k: _c14n(v) if k == "div" and isinstance(v, str) else canonical_div(v) for k, v in doc.items()
        }
    if isinstance(doc, list):
        return [canonical_div(v) for v in doc]
    return doc


def _c14n(div: str) -> bytes:
    text = div.replace("\n", "&#10;")  # line breaks in attributes survive as in the JSON text
    return etree.tostring(etree.fromstring(text.encode(), hardened_parser()), method="c14n")


@pytest.mark.skipif(not GRAVITY.is_dir(), reason=f"{GRAVITY} is absent (shared samples not laid out)")
@pytest.mark.parametrize(
    "path", sorted(GRAVITY.glob("*.json")) if GRAVITY.is_dir() else [], ids=lambda p: p.stem
)
def test_json_and_xml_of_each_gravity_example_give_the_same_records(path: Path) -> None:
    doc = json.loads(path.read_bytes())
    from_json = parse_payload("fhir-json", path.read_bytes())
    from_xml = parse_payload("fhir-xml", to_xml(doc))
    assert from_xml.problems == from_json.problems == ()
    assert [(r.entity, r.location) for r in from_xml.records] == [
        (r.entity, r.location) for r in from_json.records
    ]
    assert [canonical_div(r.data) for r in from_xml.records] == [
        canonical_div(r.data) for r in from_json.records
    ]


def test_xml_without_narrative_gives_byte_identical_records_and_digests() -> None:
    for doc in (PATIENT, SCREENING):
        assert (
            parse_payload("fhir-xml", to_xml(doc)).records
            == parse_payload("fhir-json", json.dumps(doc).encode()).records
        )


def test_a_bundle_in_xml_resolves_its_urn_uuid_references_like_json() -> None:
    uuid = "urn:uuid:6a3c1f0e-52a4-4c39-9c0e-0d7c6f1b2a11"
    doc = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"fullUrl": uuid, "resource": PATIENT, "request": {"method": "POST", "url": "Patient"}},
            {
                "resource": {**SCREENING, "subject": {"reference": uuid}},
                "request": {"method": "POST", "url": "Observation"},
            },
        ],
    }
    from_xml = parse_payload("fhir-xml", to_xml(doc))
    assert from_xml.records == parse_payload("fhir-json", json.dumps(doc).encode()).records
    assert from_xml.records[1].data["subject"] == {"reference": "Patient/rh-55810"}


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE Patient [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>
<Patient xmlns="http://hl7.org/fhir"><id value="&b;"/></Patient>"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE Patient [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<Patient xmlns="http://hl7.org/fhir"><id value="&x;"/></Patient>"""
PLAIN_DOCTYPE = b"""<!DOCTYPE Patient SYSTEM "http://example.org/fhir.dtd">
<Patient xmlns="http://hl7.org/fhir"><id value="a"/></Patient>"""

# (case, payload, where, words in the message)
BAD_XML: list[tuple[str, bytes, str, str]] = [
    ("entity expansion", BILLION_LAUGHS, "line 1", "DOCTYPE"),
    ("external entity", EXTERNAL_ENTITY, "line 1", "DOCTYPE"),
    ("DOCTYPE", PLAIN_DOCTYPE, "line 1", "DOCTYPE"),
    (
        "not well-formed",
        b'<Patient xmlns="http://hl7.org/fhir">\n<id value="a">\n</Patient>',
        "line 3",
        "XML",
    ),
    ("not FHIR", b'<Patient xmlns="urn:other"><id value="a"/></Patient>', "/", "namespace"),
    ("no namespace", b'<Patient><id value="a"/></Patient>', "/", "namespace"),
]


@pytest.mark.parametrize(
    ("payload", "where", "words"), [pytest.param(*case[1:], id=case[0]) for case in BAD_XML]
)
def test_bad_xml_is_refused_whole_with_its_location(payload: bytes, where: str, words: str) -> None:
    with pytest.raises(InputInvalid) as caught:
        parse_payload("fhir-xml", payload)
    issue = caught.value.issues[0]
    assert issue.path.startswith(where)
    assert words in f"{caught.value.message} {issue.message}"
    assert b"root:" not in json.dumps(caught.value.to_dict()).encode()  # nothing of a file was read


@pytest.mark.parametrize(
    ("xml", "path", "words"),
    [
        (
            '<Patient xmlns="http://hl7.org/fhir"><statusX value="a"/></Patient>',
            "$.statusX",
            "unknown element",
        ),
        (
            '<Patient xmlns="http://hl7.org/fhir"><gender value="female"/><gender value="male"/></Patient>',
            "$.gender",
            "valid string",
        ),
        ('<Patient xmlns="http://hl7.org/fhir"><active value="maybe"/></Patient>', "$.active", "boolean"),
        (
            '<Patient xmlns="http://hl7.org/fhir"><birthDate value="2010-13-45"/></Patient>',
            "$.birthDate",
            "regex",
        ),
        ('<Patinet xmlns="http://hl7.org/fhir"><id value="a"/></Patinet>', "$.resourceType", "not an R4"),
    ],
    ids=["unknown element", "single element repeated", "bad boolean", "bad date", "wrong type"],
)
def test_xml_record_problems_name_their_location(xml: str, path: str, words: str) -> None:
    (problem,) = parse_payload("fhir-xml", xml.encode()).problems
    assert problem.issues[0].path == path
    assert words in problem.issues[0].message
