"""The FHIR R4 endpoints over the Flask test client and once over real HTTP: OperationOutcome shape,
response Bundles, content negotiation, bearer auth, and every answer against its documented schema."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import pytest
import requests
from flask.testing import FlaskClient
from lxml import etree
from werkzeug.test import TestResponse

from gateway.formats.fhir_xml import xml_to_json
from gateway.formats.fhir_xml_write import to_xml
from gateway.service.runtime import Runtime
from gateway.web import create_app, fhir_audit_api, smart_api
from gateway.web.openapi import build_openapi
from tests.helpers import send_demo
from tests.test_web_openapi import schema_validator

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "fhir"
PATIENT = json.loads((FIXTURES / "patient-lisa.json").read_text("utf-8"))
SCREENING = json.loads((FIXTURES / "screening-hvs.json").read_text("utf-8"))
FHIR_JSON, FHIR_XML, NDJSON = "application/fhir+json", "application/fhir+xml", "application/fhir+ndjson"
BUNDLE, RESOURCE, IMPORT = "/fhir/r4", "/fhir/r4/{resource_type}", "/fhir/r4/$import"
UUID = "urn:uuid:6a3c1f0e-52a4-4c39-9c0e-0d7c6f1b2a11"
MAX_PAYLOAD = 20_000

INSTANCE, VERSION = (
    "/fhir/r4/{resource_type}/{resource_id}",
    "/fhir/r4/{resource_type}/{resource_id}/_history/{version_id}",
)
OO = {"Prefer": "return=OperationOutcome"}

# (documented path, method) -> the statuses the tests check against the schema (here and in
# tests/test_fhir_server.py, which calls through the same Clinic)
CHECKED_ANSWERS = {
    (BUNDLE, "post"): {200, 400, 401},
    (RESOURCE, "post"): {200, 201, 401, 403, 404, 412, 413, 422},
    (IMPORT, "post"): {200, 422},
    ("/fhir/r4/metadata", "get"): {200, 406},
    (RESOURCE, "get"): {200, 400, 403, 404},
    ("/fhir/r4/{resource_type}/_search", "post"): {200, 400},
    (INSTANCE, "get"): {200, 404, 410},
    (INSTANCE, "put"): {200, 400, 403, 404, 409, 412},
    (INSTANCE, "patch"): {200, 400, 412, 415},
    (INSTANCE, "delete"): {405},
    (VERSION, "get"): {200, 404},
}
NOT_SUPPORTED = {(INSTANCE, "delete")}  # documented as 405 only


@dataclasses.dataclass(frozen=True, kw_only=True)
class Clinic:
    client: FlaskClient
    headers: dict[str, str]

    def post(self, path: str, body: bytes, content_type: str = FHIR_JSON, **headers: str) -> TestResponse:
        return self.call("post", path, body, content_type, **headers)

    def call(
        self, method: str, path: str, body: bytes | None = None, content_type: str = FHIR_JSON, **headers: str
    ) -> TestResponse:
        response = self.client.open(
            path,
            method=method.upper(),
            data=body,
            content_type=content_type,
            headers={**self.headers, **headers},
        )
        check_documented(path, response, method)
        return response


def documented_path(path: str) -> str:
    """The OpenAPI template a concrete FHIR path is served by (static routes first, as Flask)."""
    bare = path.split("?")[0].rstrip("/") or path
    templates = sorted(
        (p for p in build_openapi()["paths"] if p.startswith("/fhir")), key=lambda p: p.count("{")
    )
    for template in templates:
        pattern = "^" + re.sub(r"\\{[a-z_]+\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, bare):
            return template
    raise AssertionError(f"{path} is not a documented FHIR path")


def check_documented(path: str, response: TestResponse, method: str = "post") -> None:
    route = documented_path(path)
    assert response.status_code in CHECKED_ANSWERS[(route, method)], (route, method, response.status_code)
    if response.mimetype == FHIR_JSON and response.get_data():
        validator = schema_validator(build_openapi(), route, method, response.status_code, FHIR_JSON)
        assert not [e.message for e in validator.iter_errors(response.get_json())]


@pytest.fixture
def clinic(rt: Runtime) -> Clinic:
    send_demo(rt, "01")  # the district's students, so Lisa can be linked
    small = dataclasses.replace(rt, settings=dataclasses.replace(rt.settings, max_payload_bytes=MAX_PAYLOAD))
    client = create_app({"TESTING": True}, runtime=small).test_client()
    secret = json.loads((rt.settings.home / "demo-credentials.json").read_text("utf-8"))["riverside-health"]
    token = client.post("/oauth/token", data={"grant_type": "client_credentials", **secret}).get_json()
    return Clinic(client=client, headers={"Authorization": f"Bearer {token['access_token']}"})


def dumps(doc: Any) -> bytes:
    return json.dumps(doc).encode()


def issues(response: TestResponse) -> list[dict[str, Any]]:
    body = response.get_json() if response.mimetype == FHIR_JSON else xml_to_json(response.get_data())
    assert body["resourceType"] == "OperationOutcome"
    return list(body["issue"])


def transaction(*entries: dict[str, Any], kind: str = "transaction") -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": kind, "entry": list(entries)}


def post_entry(resource: dict[str, Any], method: str = "POST", url: str | None = None, **more: Any) -> dict:
    return {
        "resource": resource,
        "request": {"method": method, "url": url or resource["resourceType"]},
        **more,
    }


def test_a_linked_patient_is_created(clinic: Clinic) -> None:
    answer = clinic.post("/fhir/r4/Patient", dumps(PATIENT), **OO)
    assert answer.status_code == 201
    (info,) = issues(answer)
    assert (info["severity"], "mapped" in info["diagnostics"]) == ("information", True)


def test_a_held_record_is_a_warning_naming_the_stored_message(clinic: Clinic) -> None:
    answer = clinic.post("/fhir/r4/Observation", dumps(SCREENING), **OO)
    assert answer.status_code == 201  # stored, so created; the hold is the outcome's warning
    warning, info = issues(answer)
    message_id = info["diagnostics"].split()[1].rstrip(":")
    assert warning["severity"] == "warning"
    assert message_id in warning["diagnostics"]
    assert warning["location"] == ["$"]
    assert clinic.client.get(f"/api/v1/messages/{message_id}", headers=clinic.headers).status_code == 200


def test_a_transaction_is_answered_with_a_transaction_response(clinic: Clinic) -> None:
    patient = {k: v for k, v in PATIENT.items() if k != "id"}
    screening = {**SCREENING, "subject": {"reference": UUID}}
    answer = clinic.post(BUNDLE, dumps(transaction(post_entry(patient, fullUrl=UUID), post_entry(screening))))
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["type"] == "transaction-response"
    responses = [e["response"] for e in body["entry"]]
    assert responses[0] == {"status": "201 Created", "location": f"Patient/{UUID.removeprefix('urn:uuid:')}"}
    assert responses[1]["status"] in ("201 Created", "200 OK")


def test_a_transaction_with_a_delete_is_refused_whole(clinic: Clinic) -> None:
    body = transaction(post_entry(PATIENT), post_entry(SCREENING, "DELETE", "Observation/hvs-q3-fixture"))
    answer = clinic.post(BUNDLE, dumps(body))
    assert answer.status_code == 400
    problem = issues(answer)[0]
    assert problem["severity"] == "error"
    assert problem["expression"] == ["Bundle.entry[1].request.method"]
    assert "not supported" in problem["diagnostics"]
    patient = clinic.client.get("/api/v1/messages?status=rejected", headers=clinic.headers).get_json()
    assert patient["messages"]  # the refused payload is kept, with its reason


def test_a_batch_answers_entry_by_entry(clinic: Clinic) -> None:
    bad = {**SCREENING, "id": "bad", "status": None, "statusX": "final"}
    answer = clinic.post(BUNDLE, dumps(transaction(post_entry(PATIENT), post_entry(bad), kind="batch")))
    assert answer.status_code == 200
    good, refused = (e["response"] for e in answer.get_json()["entry"])
    assert good == {"status": "201 Created", "location": "Patient/rh-55810"}
    assert refused["status"] == "422 Unprocessable Entity"
    assert "Bundle.entry[1].resource.statusX" in [i["expression"][0] for i in refused["outcome"]["issue"]]


@pytest.mark.parametrize(
    ("content_type", "query", "accept", "answered"),
    [
        (FHIR_JSON, "", None, FHIR_JSON),
        (FHIR_XML, "", None, FHIR_XML),
        (FHIR_JSON, "", FHIR_XML, FHIR_XML),
        (FHIR_XML, "", "application/fhir+json, application/fhir+xml;q=0.5", FHIR_JSON),
        (FHIR_XML, "?_format=json", FHIR_XML, FHIR_JSON),
        (FHIR_JSON, "?_format=xml", None, FHIR_XML),
        (FHIR_JSON, "", "*/*", FHIR_JSON),
    ],
)
def test_answers_come_in_the_type_asked_for(
    clinic: Clinic, content_type: str, query: str, accept: str | None, answered: str
) -> None:
    body = to_xml(PATIENT) if content_type == FHIR_XML else dumps(PATIENT)
    extra = {"Accept": accept} if accept else {}
    answer = clinic.post(f"/fhir/r4/Patient{query}", body, content_type, **extra, **OO)
    assert (answer.status_code, answer.mimetype) == (201, answered)
    assert issues(answer)[-1]["severity"] == "information"


def test_an_xml_error_is_an_xml_operation_outcome(clinic: Clinic) -> None:
    answer = clinic.post("/fhir/r4/Patient", to_xml({**PATIENT, "birthDate": "2010-13-45"}), FHIR_XML)
    assert (answer.status_code, answer.mimetype) == (422, FHIR_XML)
    root = etree.fromstring(answer.get_data())
    assert root.tag == "{http://hl7.org/fhir}OperationOutcome"
    first = issues(answer)[0]
    assert (first["location"], first["expression"]) == (["$.birthDate"], ["Patient.birthDate"])


@pytest.mark.parametrize(
    ("path", "body", "headers", "status", "code"),
    [
        ("/fhir/r4/Patient", dumps(PATIENT), {"Authorization": ""}, 401, "login"),
        ("/fhir/r4/Patinet", dumps(PATIENT), {}, 404, "not-found"),
        ("/fhir/r4/Patient", b"[" + b" " * MAX_PAYLOAD + b"]", {}, 413, "too-long"),
        ("/fhir/r4/Patient", dumps({**PATIENT, "resourceType": "Observation"}), {}, 422, "invalid"),
        (BUNDLE, b"{not json", {}, 400, "invalid"),
        (BUNDLE, dumps(PATIENT), {"Authorization": "Bearer forged"}, 401, "login"),
    ],
    ids=["no token", "unknown type", "oversized", "wrong type for the URL", "not json", "forged token"],
)
def test_errors_are_operation_outcomes(
    clinic: Clinic, path: str, body: bytes, headers: dict[str, str], status: int, code: str
) -> None:
    answer = clinic.post(path, body, **headers)
    assert answer.status_code == status
    first = issues(answer)[0]
    assert (first["severity"], first["code"]) == ("error", code)
    if status == 401:
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")


def test_ndjson_import_lands_the_good_lines_and_names_the_bad_one(clinic: Clinic) -> None:
    lines = [dumps(PATIENT), b'{"resourceType": "Patient", "id": ', dumps(SCREENING)]
    answer = clinic.post(IMPORT, b"\n".join(lines) + b"\n", NDJSON)
    assert answer.status_code == 200
    locations = [i.get("location", [""])[0] for i in issues(answer)]
    assert locations[0].startswith("line 2")
    assert "partial" in issues(answer)[-1]["diagnostics"]


def test_an_import_with_no_good_line_is_refused_line_by_line(clinic: Clinic) -> None:
    answer = clinic.post(IMPORT, b"not json at all\n{}\n", NDJSON)
    assert answer.status_code == 422
    assert [i["location"][0][:6] for i in issues(answer)[:2]] == ["line 1", "line 2"]


def test_every_fhir_route_is_documented_and_checked_for_a_success_and_an_error() -> None:
    # The AuditEvent export's and SMART discovery's routes are checked in their own tests.
    audit_routes = set(fhir_audit_api.OPENAPI_PATHS) | set(smart_api.OPENAPI_PATHS)
    documented = {
        (p, m)
        for p, item in build_openapi()["paths"].items()
        for m in item
        if p.startswith("/fhir") and p not in audit_routes
    }
    assert audit_routes
    assert set(CHECKED_ANSWERS) == documented
    for route, statuses in CHECKED_ANSWERS.items():
        assert any(s < 400 for s in statuses) or route in NOT_SUPPORTED
        assert any(s >= 400 for s in statuses)


# -- real HTTP -------------------------------------------------------------------------------


def test_a_clinic_posts_xml_over_http_and_reads_the_outcome(base_url: str, rt: Runtime) -> None:
    send_demo(rt, "01")
    secret = json.loads((rt.settings.home / "demo-credentials.json").read_text("utf-8"))["riverside-health"]
    with requests.Session() as http:
        token = http.post(
            f"{base_url}/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(secret["client_id"], secret["client_secret"]),
            timeout=10,
        ).json()["access_token"]
        answer = http.post(
            f"{base_url}/fhir/r4/Patient",
            data=to_xml(PATIENT),
            headers={"Authorization": f"Bearer {token}", "Content-Type": FHIR_XML, "Accept": FHIR_XML},
            timeout=30,
        )
        assert (answer.status_code, answer.headers["Content-Type"].split(";")[0]) == (201, FHIR_XML)
        created = xml_to_json(answer.content)
        assert created["resourceType"] == "Patient"
        assert answer.headers["Location"].endswith(f"/fhir/r4/Patient/{created['id']}/_history/1")
        refused = http.post(f"{base_url}/fhir/r4/Patient", data=dumps(PATIENT), timeout=10)
        assert (refused.status_code, refused.json()["resourceType"]) == (401, "OperationOutcome")


# -- the command line ------------------------------------------------------------------------


def test_spgw_ingest_fhir_takes_json_xml_and_ndjson_files(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from gateway.cli import main
    from tests.helpers import demo_file

    monkeypatch.setenv("GATEWAY_DATABASE_URL", database_url)
    home = ["--home", str(tmp_path / "gw")]

    def spgw(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(main, [*home, *args])
        return result.exit_code, result.output

    assert spgw("init", "--with-samples", "--json")[0] == 0
    assert spgw("ingest", "edfi-json", str(demo_file("01")), "--source", "grand-bend-isd", "--json")[0] == 0
    files = {
        "patient.xml": to_xml(PATIENT),
        "screening.json": json.dumps(SCREENING, indent=2).encode(),
        "bulk.ndjson": dumps(PATIENT) + b"\n" + b"{oops\n" + dumps(SCREENING) + b"\n",
    }
    for name, body in files.items():
        (tmp_path / name).write_bytes(body)
    code, output = spgw(
        "ingest", "fhir", *(str(tmp_path / n) for n in files), "--source", "riverside-health", "--json"
    )
    result = json.loads(output)
    assert code == 3  # the bad line is reported, the rest landed
    assert [m["status"] for m in result["messages"]] == ["mapped", "mapped", "partial"]
    (bad,) = result["messages"][2]["records"]
    assert bad["location"] == "line 2"
