"""The edge limits over real HTTP (waitress), on SQLite and PostgreSQL (``database_url``): every JSON
endpoint, ``POST /fhir/r4`` in JSON and XML, and ``POST /api/v1/exchanges/{format}`` for each
format answer a 4xx that names the place (the error shape, or an OperationOutcome on /fhir), and
never a 500. One gateway serves the whole module: each row is independent of the others."""

from __future__ import annotations

import json

import pytest
import requests

from gateway.core.limits import MAX_DEPTH, MAX_KEY, MAX_TEXT
from tests.limit_payloads import PATIENT, STUDENT, fhir_xml, interchange_student, nested, oneroster_csv
from tests.served import Served, served_fixture  # noqa: F401  (the module's gateway)

DISTRICT, CLINIC = "grand-bend-isd", "riverside-health"
JSON = "application/json"


@pytest.fixture
def gateway(served: Served) -> tuple[str, dict[str, dict[str, str]]]:
    return served.base_url, served.headers


def error_paths(answer: requests.Response) -> list[str]:
    """Where each problem is, from the error shape or from an OperationOutcome."""
    body = answer.json() if "json" in answer.headers.get("Content-Type", "") else None
    assert body is not None, answer.text[:300]
    if body.get("resourceType") == "OperationOutcome":
        return [loc for i in body["issue"] if i["severity"] == "error" for loc in i.get("location", [])]
    return [issue["path"] for issue in body["error"]["issues"]]


# -- JSON bodies: each case, at each JSON door ----------------------------------------------------

# (body bytes, the path the refusal names)
JSON_CASES = [
    pytest.param(b'{"a": ' + b"[" * 5000 + b"]" * 5000 + b"}", "$", id="nested 5000 deep"),
    pytest.param(
        json.dumps({"a": nested(MAX_DEPTH)}).encode(), "$.a" + "[0]" * (MAX_DEPTH - 1), id="nested 65"
    ),
    pytest.param(b'{"a": "x\\u0000y"}', "$.a", id="NUL"),
    pytest.param(b'{"a": "x\\u001by"}', "$.a", id="C0 control"),
    pytest.param(b'{"a": ["\\ud800"]}', "$.a[0]", id="lone surrogate"),
    pytest.param(b'{"a": "\\uffff"}', "$.a", id="noncharacter"),
    pytest.param(json.dumps({"k" * (MAX_KEY + 1): 1}).encode(), "$", id="over-long key"),
    pytest.param(json.dumps({"a": "x" * (MAX_TEXT + 1)}).encode(), "$.a", id="over-long string"),
    pytest.param(b'{"a": 1e999}', "$.a", id="number overflowing"),
    pytest.param(b'{"a": 99999999999999999999999}', "$.a", id="integer beyond 64 bits"),
    pytest.param('{"a": "Adé"}'.encode("latin-1"), "$ byte 9", id="not UTF-8"),
]

# (method, URL, partner, content type)
JSON_DOORS = [
    pytest.param("/api/v1/exchanges/edfi-json?entity=students", DISTRICT, JSON, id="exchanges edfi-json"),
    pytest.param("/api/v1/exchanges/fhir-json", CLINIC, "application/fhir+json", id="exchanges fhir-json"),
    pytest.param("/fhir/r4", CLINIC, "application/fhir+json", id="fhir bundle"),
    pytest.param("/fhir/r4/Patient", CLINIC, "application/fhir+json", id="fhir resource"),
    pytest.param("/api/v1/consents", CLINIC, JSON, id="consents"),
    pytest.param("/api/v1/agreements", DISTRICT, JSON, id="agreements"),
    pytest.param("/api/v1/policy/explain", DISTRICT, JSON, id="policy explain"),
    pytest.param("/api/v1/deliveries/d-1/status", CLINIC, JSON, id="delivery status"),
]


@pytest.mark.parametrize(("url", "partner", "content_type"), JSON_DOORS)
@pytest.mark.parametrize(("body", "path"), JSON_CASES)
def test_json_limits_answer_4xx_naming_the_place(gateway, url, partner, content_type, body, path):
    base, headers = gateway
    answer = requests.post(
        base + url, data=body, headers={**headers[partner], "Content-Type": content_type}, timeout=60
    )
    assert answer.status_code == 400, answer.text[:300]
    assert error_paths(answer) == [path]
    assert "\x00" not in answer.text


# -- each exchange format, a value no column can store ------------------------------------------

PATIENT_LINE = json.dumps(PATIENT).encode()
EVENT = {
    "studentReference": {"studentUniqueId": "604822"},
    "schoolReference": {"schoolId": 255901001},
    "eventDate": "2021-09-01",
    "attendanceEventCategoryDescriptor": "uri://ed-fi.org/AttendanceEventCategoryDescriptor#Tardy",
}


def ndjson(bad: str) -> bytes:
    return PATIENT_LINE + b"\n" + json.dumps({**PATIENT, "name": [{"family": bad}]}).encode() + b"\n"


# (format, entity, body, content type, status, the path the refusal ends with)
FORMAT_CASES = [
    pytest.param(
        "edfi-json",
        "students",
        json.dumps([{**STUDENT, "firstName": "L\x00"}]).encode(),
        JSON,
        400,
        "$[0].firstName",
        id="edfi-json NUL",
    ),
    pytest.param(
        "edfi-json",
        "students",
        json.dumps([{**STUDENT, "studentUniqueId": "9" * 201}]).encode(),
        JSON,
        422,
        "$.studentUniqueId",
        id="edfi-json identifier over student_links.value",
    ),
    pytest.param(
        "edfi-json",
        "studentSchoolAttendanceEvents",
        json.dumps([EVENT | {"schoolReference": {"schoolId": "9" * 41}}]).encode(),
        JSON,
        422,
        "$.schoolReference.schoolId",
        id="edfi-json school over attendance_events.school",
    ),
    pytest.param(
        "fhir-json",
        None,
        json.dumps({**PATIENT, "name": [{"family": "\ud800"}]}).encode(),
        JSON,
        400,
        "$.name[0].family",
        id="fhir-json lone surrogate",
    ),
    pytest.param(
        "fhir",
        None,
        json.dumps({**PATIENT, "id": "\x07"}).encode(),
        JSON,
        400,
        "$.id",
        id="fhir (sniffed) control",
    ),
    pytest.param(
        "fhir-ndjson",
        None,
        ndjson("\x00"),
        "application/fhir+ndjson",
        422,
        "line 2.name[0].family",
        id="fhir-ndjson NUL on line 2",
    ),
    pytest.param(
        "fhir-xml",
        None,
        fhir_xml("Lisa").replace(b"Lisa", b"L&#1;"),
        "application/fhir+xml",
        400,
        "column",
        id="fhir-xml control character reference",
    ),
    pytest.param(
        "edfi-xml",
        None,
        interchange_student("L&#0;"),
        "application/xml",
        400,
        "column",
        id="edfi-xml NUL reference",
    ),
    pytest.param(
        "oneroster-csv",
        None,
        oneroster_csv("L\x01"),
        "application/zip",
        422,
        "users.csv line 2 column givenName",
        id="oneroster-csv control character",
    ),
    pytest.param(
        "oneroster", None, b"PK\x03\x04 not a zip", "application/zip", 400, "$", id="oneroster broken zip"
    ),
]


@pytest.mark.parametrize(("format_name", "entity", "body", "content_type", "status", "path"), FORMAT_CASES)
def test_each_exchange_format_refuses_with_the_place(
    gateway, format_name, entity, body, content_type, status, path
):
    base, headers = gateway
    partner = DISTRICT if format_name.startswith(("edfi", "oneroster")) else CLINIC
    params = {"entity": entity} if entity else {}
    answer = requests.post(
        f"{base}/api/v1/exchanges/{format_name}",
        params=params,
        data=body,
        headers={**headers[partner], "Content-Type": content_type},
        timeout=60,
    )
    assert answer.status_code == status, answer.text[:400]
    paths = error_paths(answer)
    assert any(p.endswith(path) or path in p for p in paths), paths
    assert answer.json()["error"]["messageId"]  # stored, and refused with its reason


# -- POST /fhir/r4 in XML: nesting, length, characters; answers in XML stay well-formed ---------

XML_CASES = [
    pytest.param(
        b'<Patient xmlns="http://hl7.org/fhir">'
        + b"<extension>" * 100
        + b"</extension>" * 100
        + b"</Patient>",
        "line 1",
        id="nested 100",
    ),
    pytest.param(
        b'<Patient xmlns="http://hl7.org/fhir">' + b"<a>" * 3000 + b"</a>" * 3000 + b"</Patient>",
        "line 1 column",
        id="nested 3000 (past libxml2's own limit)",
    ),
    pytest.param(fhir_xml("x" * (MAX_TEXT + 1)), "$.name[0].family", id="over-long value"),
    pytest.param(fhir_xml("Lisa").replace(b"Lisa", b"L&#0;"), "line 2 column", id="NUL reference"),
    pytest.param(fhir_xml("Lisa").replace(b"Lisa", b"L&#xDC00;"), "line 2 column", id="surrogate reference"),
    pytest.param(
        b"<Patient xmlns='http://hl7.org/fhir'><id value='\xe9'/></Patient>", "line 1 column", id="not UTF-8"
    ),
]


@pytest.mark.parametrize(("body", "path"), XML_CASES)
@pytest.mark.parametrize("answer_type", ["application/fhir+xml", "application/fhir+json"])
def test_fhir_xml_limits_answer_an_operation_outcome_naming_the_place(gateway, body, path, answer_type):
    from lxml import etree

    base, headers = gateway
    answer = requests.post(
        f"{base}/fhir/r4",
        data=body,
        headers={**headers[CLINIC], "Content-Type": "application/fhir+xml", "Accept": answer_type},
        timeout=60,
    )
    assert answer.status_code == 400, answer.text[:300]
    if answer_type.endswith("xml"):
        outcome = etree.fromstring(answer.content)  # well-formed, whatever the request held
        locations = [e.get("value") for e in outcome.iter("{http://hl7.org/fhir}location")]
    else:
        locations = error_paths(answer)
    assert locations
    assert locations[0].startswith(path), locations


# -- beside the body: path segments and query values ---------------------------------------------


@pytest.mark.parametrize(
    ("url", "status", "path"),
    [
        pytest.param("/api/v1/messages/ab%00cd", 404, "message_id", id="NUL in a path segment"),
        pytest.param("/api/v1/messages?status=%01", 400, "status", id="control in a query value"),
        pytest.param("/api/v1/consents?student=" + "a" * 1001, 400, "student", id="over-long query value"),
        pytest.param(
            "/api/v1/plans/x%00y?actor=a&role=coordinator&purpose=care-coordination",
            404,
            "student",
            id="plan",
        ),
        pytest.param("/fhir/r4/Pat%00ient", 404, "resource_type", id="FHIR type segment"),
    ],
)
def test_url_limits_name_the_parameter(gateway, url, status, path):
    base, headers = gateway
    method = requests.post if url.startswith("/fhir") else requests.get
    answer = method(
        base + url,
        headers={**headers[DISTRICT], "Content-Type": "application/fhir+json"},
        data=b"{}",
        timeout=30,
    )
    assert answer.status_code == status, answer.text[:300]
    assert error_paths(answer) == [path]


def test_the_answer_never_echoes_a_control_character(gateway):
    base, headers = gateway
    answer = requests.post(
        f"{base}/fhir/r4/Patient?_format=xml",
        data=b'{"resourceType": "Pat\\u0001ient"}',
        headers={**headers[CLINIC], "Content-Type": "application/fhir+json"},
        timeout=30,
    )
    assert answer.status_code == 400
    assert b"\x01" not in answer.content
    from lxml import etree

    etree.fromstring(answer.content)


# -- a consent whose elements have the wrong JSON type: 400 naming the element, never a TypeError --

CONSENT = {"resourceType": "Consent", "id": "c-types", "status": "active"}


@pytest.mark.parametrize(
    ("element", "value", "path"),
    [
        pytest.param("status", {}, "Consent.status", id="status {}"),
        pytest.param("status", [], "Consent.status", id="status []"),
        pytest.param("status", 5, "Consent.status", id="status 5"),
        pytest.param("scope", [], "Consent.scope", id="scope []"),
        pytest.param("scope", None, "Consent.scope", id="scope null"),
        pytest.param("scope", {"coding": [1]}, "Consent.scope.coding[0]", id="scope.coding [1]"),
        pytest.param("scope", {"coding": "x"}, "Consent.scope.coding", id="scope.coding 'x'"),
        pytest.param("provision", [], "Consent.provision", id="provision []"),
        pytest.param("provision", "x", "Consent.provision", id="provision 'x'"),
        pytest.param("id", {}, "Consent.id", id="id {}"),
        pytest.param("performer", {}, "Consent.performer", id="performer {}"),
        pytest.param("organization", [1], "Consent.organization[0]", id="organization [1]"),
        pytest.param("patient", 1, "Consent.patient", id="patient 1"),
        pytest.param("dateTime", [], "Consent.dateTime", id="dateTime []"),
    ],
)
def test_a_consent_element_of_the_wrong_type_is_named(gateway, element, value, path):
    base, headers = gateway
    answer = requests.post(
        f"{base}/api/v1/consents",
        data=json.dumps({**CONSENT, element: value}),
        headers={**headers[CLINIC], "Content-Type": JSON},
        timeout=30,
    )
    assert answer.status_code == 400, answer.text[:300]
    assert path in error_paths(answer)
