"""FHIR R4 JSON in: single resources, Bundles, NDJSON streams, the sniffing ``fhir`` format, and the
bad-input table, each problem with its location."""

from __future__ import annotations

import copy
import io
import json
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import Any

import pytest

from gateway.errors import InputInvalid, Issue
from gateway.formats import MAPPING_FORMATS, STREAMS, fhir_derive, fhir_ndjson, gravity_rules, parse_payload
from gateway.formats.fhir_json import parse
from gateway.formats.fhir_ndjson import iter_lines, iter_ndjson
from gateway.formats.fhir_validate import ATTACHMENT_LIMIT_ENV
from gateway.formats.fhir_xml_write import to_xml
from gateway.formats.records import ParseResult, RecordProblem, SourceRecord
from tests.conftest import SHARED_SAMPLES

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "fhir"
GRAVITY = SHARED_SAMPLES / "gravity"
PATIENT = json.loads((FIXTURES / "patient-lisa.json").read_text("utf-8"))
SCREENING = json.loads((FIXTURES / "screening-hvs.json").read_text("utf-8"))
UUID_P = "urn:uuid:6a3c1f0e-52a4-4c39-9c0e-0d7c6f1b2a11"
UUID_O = "urn:uuid:0b1e7c1d-9a53-4d0e-8f41-2f3c9d6e7a22"


def dumps(doc: Any) -> bytes:
    return json.dumps(doc).encode()


def problems_by_location(result: ParseResult) -> dict[str, list[Issue]]:
    return {p.location: list(p.issues) for p in result.problems}


def gravity_files() -> list[Path]:
    return sorted(GRAVITY.glob("*.json")) if GRAVITY.is_dir() else []


@pytest.mark.skipif(not GRAVITY.is_dir(), reason=f"{GRAVITY} is absent (shared samples not laid out)")
@pytest.mark.parametrize("path", gravity_files(), ids=lambda p: p.stem)
def test_every_gravity_example_parses_and_validates(path: Path) -> None:
    raw = path.read_bytes()
    result = parse(raw, None)
    assert result.problems == ()
    first = result.records[0]
    assert (first.entity, first.location, first.data) == (
        json.loads(raw)["resourceType"],
        "$",
        json.loads(raw),
    )


# -- Bundles ---------------------------------------------------------------------------------


def bundle(kind: str, *entries: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": kind, "entry": list(entries)}


def entry(resource: dict[str, Any], method: str | None = None, url: str | None = None, **more: Any) -> dict:
    found: dict[str, Any] = {"resource": copy.deepcopy(resource), **more}
    if method:
        found["request"] = {"method": method, "url": url or resource["resourceType"]}
    return found


@pytest.mark.parametrize(
    ("kind", "method"),
    [
        ("collection", None),
        ("batch", "POST"),
        ("transaction", "POST"),
        ("searchset", None),
        ("document", None),
    ],
)
def test_bundle_types_give_one_record_per_entry(kind: str, method: str | None) -> None:
    result = parse(dumps(bundle(kind, entry(PATIENT, method), entry(SCREENING, method))), None)
    assert result.problems == ()
    assert [(r.entity, r.location) for r in result.records] == [
        ("Patient", "Bundle.entry[0].resource"),
        ("Observation", "Bundle.entry[1].resource"),
    ]


@pytest.mark.parametrize("kind", ["history", "transaction-response", "message", "nonsense"])
def test_bundle_types_that_are_not_data_are_refused_whole(kind: str) -> None:
    with pytest.raises(InputInvalid) as caught:
        parse(dumps(bundle(kind, entry(PATIENT))), None)
    assert caught.value.issues[0].path == "Bundle.type"


def test_searchset_outcome_entries_are_not_records() -> None:
    outcome = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "information", "code": "informational"}],
    }
    doc = bundle(
        "searchset", entry(PATIENT, search={"mode": "match"}), entry(outcome, search={"mode": "outcome"})
    )
    assert [r.entity for r in parse(dumps(doc), None).records] == ["Patient"]


def test_urn_uuid_references_resolve_inside_the_bundle() -> None:
    patient = {k: v for k, v in PATIENT.items() if k != "id"}  # a POST entry: the server assigns the id
    screening = {**SCREENING, "subject": {"reference": UUID_P}}
    doc = bundle(
        "transaction",
        entry(patient, "POST", fullUrl=UUID_P),
        entry(screening, "POST", fullUrl=UUID_O),
    )
    records = parse(dumps(doc), None).records
    uuid = UUID_P.removeprefix("urn:uuid:")
    assert records[0].data["id"] == uuid
    assert records[1].data["subject"] == {"reference": f"Patient/{uuid}"}


def test_an_unresolved_urn_uuid_is_a_problem_at_its_location() -> None:
    doc = bundle("collection", entry(PATIENT), entry({**SCREENING, "subject": {"reference": UUID_O}}))
    result = parse(dumps(doc), None)
    assert [r.location for r in result.records] == ["Bundle.entry[0].resource"]
    (issue,) = problems_by_location(result)["Bundle.entry[1].resource"]
    assert issue.path == "Bundle.entry[1].resource.subject.reference"
    assert "does not resolve" in issue.message


@pytest.mark.parametrize(
    ("method", "url", "path", "message"),
    [
        ("DELETE", "Patient/rh-55810", "Bundle.entry[1].request.method", "not supported"),
        ("PATCH", "Patient/rh-55810", "Bundle.entry[1].request.method", "not supported"),
        ("GET", "Patient/rh-55810", "Bundle.entry[1].request.method", "not supported"),
        ("PUT", "Patient/other-id", "Bundle.entry[1].request.url", "PUT url"),
        ("POST", "Observation", "Bundle.entry[1].request.url", "type"),
    ],
)
def test_batch_entries_with_unsupported_requests_are_problems_alone(
    method: str, url: str, path: str, message: str
) -> None:
    doc = bundle("batch", entry(SCREENING, "POST"), entry(PATIENT, method, url))
    result = parse(dumps(doc), None)
    assert [r.location for r in result.records] == ["Bundle.entry[0].resource"]
    (issue,) = problems_by_location(result)["Bundle.entry[1].resource"]
    assert (issue.path, message in issue.message) == (path, True)


def test_put_with_the_resource_id_is_accepted() -> None:
    doc = bundle("transaction", entry(PATIENT, "PUT", "Patient/rh-55810"))
    assert parse(dumps(doc), None).records[0].entity == "Patient"


def test_a_transaction_with_one_problem_is_refused_whole_with_every_problem() -> None:
    doc = bundle(
        "transaction",
        entry(SCREENING, "POST"),
        entry(PATIENT, "DELETE", "Patient/rh-55810"),
        entry({**PATIENT, "birthDate": "2010-13-45"}, "POST"),
    )
    with pytest.raises(InputInvalid) as caught:
        parse(dumps(doc), None)
    assert "all or nothing" in caught.value.message
    assert [i.path for i in caught.value.issues] == [
        "Bundle.entry[1].request.method",
        "Bundle.entry[2].resource.birthDate",
    ]


def test_the_bundle_envelope_is_validated() -> None:
    doc = {**bundle("collection", entry(PATIENT)), "timestampX": "now"}
    with pytest.raises(InputInvalid) as caught:
        parse(dumps(doc), None)
    assert caught.value.issues[0].path == "Bundle.timestampX"


# -- bad input -------------------------------------------------------------------------------

R5_CONSENT = {
    "resourceType": "Consent",
    "status": "active",
    "decision": "permit",
    "subject": {"reference": "Patient/rh-55810"},
    "category": [{"text": "disclosure"}],
}
R5_SERVICE_REQUEST = {
    "resourceType": "ServiceRequest",
    "status": "active",
    "intent": "order",
    "subject": {"reference": "Patient/rh-55810"},
    "code": {"concept": {"text": "food pantry"}},
}
BIG_ATTACHMENT = {
    **PATIENT,
    "photo": [{"contentType": "image/png", "data": "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB"}],  # 24 bytes decoded
}

# (case, resource, where the first issue is, words in its message)
BAD_RESOURCES: list[tuple[str, dict[str, Any], str, str]] = [
    ("missing resourceType", {"id": "x"}, "$.resourceType", "missing"),
    (
        "wrong resourceType",
        {**PATIENT, "resourceType": "Patinet"},
        "$.resourceType",
        "not an R4 resource type",
    ),
    ("R5-only resource type", {"resourceType": "Transport", "status": "completed"}, "$.resourceType", "R5"),
    ("R5 Consent shape", R5_CONSENT, "$", "looks like FHIR R5; send R4 (4.0.1)"),
    ("R5 CodeableReference", R5_SERVICE_REQUEST, "$", "looks like FHIR R5"),
    ("unknown element", {**PATIENT, "statusX": "x"}, "$.statusX", "unknown element"),
    ("invalid date", {**PATIENT, "birthDate": "2010-13-45"}, "$.birthDate", "regex"),
    ("invalid boolean", {**PATIENT, "active": "maybe"}, "$.active", "boolean"),
    ("wrong cardinality", {**PATIENT, "name": {"family": "Woods"}}, "$.name", "should be a valid"),
    ("oversized attachment", BIG_ATTACHMENT, "$.photo[0].data", "over the 16-byte limit"),
    (
        "unresolved urn:uuid",
        {**SCREENING, "subject": {"reference": UUID_P}},
        "$.subject.reference",
        "urn:uuid",
    ),
]


@pytest.mark.parametrize(
    ("resource", "path", "words"),
    [pytest.param(*case[1:], id=case[0]) for case in BAD_RESOURCES],
)
def test_bad_resources_are_problems_naming_their_location(
    monkeypatch: pytest.MonkeyPatch, resource: dict[str, Any], path: str, words: str
) -> None:
    monkeypatch.setenv(ATTACHMENT_LIMIT_ENV, "16")
    for payload, where in ((dumps(resource), "$"), (dumps(resource) + b"\n" + dumps(PATIENT), "line 1")):
        result = parse(payload, None)
        issue = problems_by_location(result)[where][0]
        assert issue.path == path.replace("$", where, 1)
        assert words in issue.message


def test_duplicate_keys_are_refused_with_their_name() -> None:
    with pytest.raises(InputInvalid) as caught:
        parse(b'{"resourceType": "Patient", "id": "a", "id": "b"}', None)
    assert "duplicate key 'id'" in caught.value.issues[0].message


def test_a_url_type_that_is_not_the_body_type_is_a_problem() -> None:
    (problem,) = parse_payload("fhir-json", dumps(PATIENT), "Observation").problems
    assert problem.issues[0].path == "$.resourceType"
    assert "the URL names Observation" in problem.issues[0].message


def test_a_sender_label_that_is_no_resource_type_is_not_checked() -> None:
    assert parse_payload("fhir-json", dumps(SCREENING), "screening").records[0].entity == "Observation"


# -- NDJSON ----------------------------------------------------------------------------------

BAD_LINES = [
    dumps(PATIENT),
    b'{"resourceType": "Patient", "id": ',  # not JSON
    b'{"resourceType":"Patient","id":"a","id":"b"}',  # duplicate key
    dumps({**PATIENT, "birthDate": "2010-13-45"}),
    b"",
    dumps(SCREENING),
]


def test_ndjson_streams_past_bad_lines_each_named_by_its_line() -> None:
    items = list(iter_ndjson(io.BytesIO(b"\n".join(BAD_LINES) + b"\n")))
    assert [(type(i).__name__, i.location) for i in items] == [
        ("SourceRecord", "line 1"),
        ("RecordProblem", "line 2"),
        ("RecordProblem", "line 3"),
        ("RecordProblem", "line 4"),
        ("SourceRecord", "line 6"),
    ]
    assert "duplicate key 'id'" in items[2].issues[0].message  # type: ignore[union-attr]
    assert items[3].issues[0].path == "line 4.birthDate"  # type: ignore[union-attr]


def test_ndjson_records_keep_the_data_as_received() -> None:
    (rec,) = list(iter_ndjson(io.BytesIO(dumps(SCREENING))))
    assert isinstance(rec, SourceRecord)
    assert rec.data == SCREENING


def test_ndjson_is_streamed_not_read_whole() -> None:
    def endless() -> Iterator[tuple[int, bytes]]:
        number = 0
        while True:
            number += 1
            yield number, dumps({**PATIENT, "id": f"p{number}"})

    first = list(islice(iter_lines(endless()), 3))
    assert [r.data["id"] for r in first] == ["p1", "p2", "p3"]  # type: ignore[union-attr]


def test_the_worker_pool_gives_the_same_answers_in_the_same_order(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = [dumps({**PATIENT, "id": f"p{n}"}) for n in range(25)] + BAD_LINES * 3
    payload = b"\n".join(lines) + b"\n"
    monkeypatch.setenv(fhir_ndjson.WORKERS_ENV, "1")
    inline = list(iter_ndjson(io.BytesIO(payload)))
    monkeypatch.setenv(fhir_ndjson.WORKERS_ENV, "2")
    monkeypatch.setattr(fhir_ndjson, "POOL_AFTER", 10)
    monkeypatch.setattr(fhir_ndjson, "CHUNK", 4)
    pooled = list(iter_ndjson(io.BytesIO(payload)))
    assert pooled == inline
    assert fhir_ndjson._pool.cache_info().currsize == 1  # the pool did run


# -- formats, sniffing, seams ----------------------------------------------------------------


def test_fhir_formats_are_registered_and_map_with_the_fhir_json_mappings() -> None:
    for name in ("fhir-json", "fhir-xml", "fhir-ndjson", "fhir"):
        assert name in STREAMS
        assert MAPPING_FORMATS[name] == "fhir-json"


@pytest.mark.parametrize(
    ("payload", "locations"),
    [
        (json.dumps(PATIENT, indent=2).encode(), ["$"]),
        (dumps(PATIENT), ["$"]),
        (dumps(bundle("collection", entry(PATIENT))), ["Bundle.entry[0].resource"]),
        (dumps(PATIENT) + b"\n" + dumps(SCREENING) + b"\n", ["line 1", "line 2"]),
        (b"\n\n" + dumps(PATIENT) + b"\n\n" + dumps(SCREENING), ["line 3", "line 5"]),
        (to_xml(PATIENT), ["$"]),
        (to_xml(bundle("collection", entry(PATIENT))), ["Bundle.entry[0].resource"]),
    ],
    ids=["json", "one-line json", "bundle", "ndjson", "ndjson with blank lines", "xml", "xml bundle"],
)
def test_the_fhir_format_sniffs_xml_json_and_ndjson(payload: bytes, locations: list[str]) -> None:
    result = parse_payload("fhir", payload)
    assert result.problems == ()
    assert [r.location for r in result.records] == locations


def test_gravity_rule_issues_make_the_resource_a_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    def check(resource: dict[str, Any], location: str) -> tuple[Issue, ...]:
        return (Issue(path=f"{location}.category", message="needs an SDOH category"),)

    monkeypatch.setattr(gravity_rules, "check", check)
    for name, payload in (("fhir-json", dumps(SCREENING)), ("fhir-xml", to_xml(SCREENING))):
        (problem,) = parse_payload(name, payload).problems
        assert problem.issues == (Issue(path="$.category", message="needs an SDOH category"),)


def test_every_record_derive_returns_is_yielded(monkeypatch: pytest.MonkeyPatch) -> None:
    def expand(rec: SourceRecord) -> list[SourceRecord]:
        return [rec, SourceRecord(entity="Observation", location=f"{rec.location}#1", data={}, digest="d")]

    monkeypatch.setattr(fhir_derive, "expand", expand)
    for name, payload in (
        ("fhir-json", dumps(PATIENT)),
        ("fhir-ndjson", dumps(PATIENT) + b"\n"),
        ("fhir-xml", to_xml(PATIENT)),
    ):
        where = "line 1" if name == "fhir-ndjson" else "$"
        assert [r.location for r in parse_payload(name, payload).records] == [where, f"{where}#1"]


def test_problems_never_quote_values() -> None:
    secret = "2010-13-45-SECRET"
    result = parse(dumps({**PATIENT, "birthDate": secret, "gender": secret}), None)
    text = json.dumps([i.to_dict() for p in result.problems for i in p.issues])
    assert secret not in text
    assert isinstance(result.problems[0], RecordProblem)
