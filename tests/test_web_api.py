"""The /api/v1 endpoints through the Flask test client: exchanges, plans, messages, audit."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import pytest
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text
from sqlalchemy.orm import sessionmaker
from werkzeug.test import TestResponse

import gateway
from gateway.core.ids import student_id_for
from gateway.service.administration.partners import create_secret
from gateway.service.runtime import Runtime
from gateway.web import create_app
from tests.helpers import sans_request_id

EXCHANGES = Path(__file__).resolve().parent.parent / "demo" / "exchanges"
DISTRICT_IDS = "https://grandbend.example.org/ns/studentUniqueId"
LISA_REF = quote(f"{DISTRICT_IDS}|604822", safe="")
LISA_ID = student_id_for(DISTRICT_IDS, "604822")
DISTRICT, CLINIC, FOOD_BANK = "grand-bend-isd", "riverside-health", "northside-food-bank"
COORDINATOR = {"actor": "ms-ortiz", "role": "coordinator", "purpose": "care-coordination"}
FHIR = "application/fhir+json"
Headers = dict[str, str]


@pytest.fixture
def client(rt: Runtime) -> FlaskClient:
    return create_app({"TESTING": True}, runtime=rt).test_client()


def bearer_headers(client: FlaskClient, rt: Runtime) -> dict[str, Headers]:
    credentials = json.loads((rt.settings.home / "demo-credentials.json").read_text("utf-8"))
    found = {}
    for org, secret in credentials.items():
        token = client.post("/oauth/token", data={"grant_type": "client_credentials", **secret})
        found[org] = {"Authorization": f"Bearer {token.get_json()['access_token']}"}
    return found


@pytest.fixture
def auth(client: FlaskClient, rt: Runtime) -> dict[str, Headers]:
    """Bearer headers per demo partner."""
    return bearer_headers(client, rt)


def demo_file(kind: str) -> bytes:
    (path,) = EXCHANGES.glob(f"*.{kind}.json")
    return path.read_bytes()


def send(
    client: FlaskClient,
    headers: Headers,
    payload: bytes,
    fmt: str = "fhir-json",
    entity: str | None = None,
    content_type: str = FHIR,
) -> TestResponse:
    query = {"entity": entity} if entity else {}
    return client.post(
        f"/api/v1/exchanges/{fmt}",
        data=payload,
        query_string=query,
        content_type=content_type,
        headers=headers,
    )


def send_students(client: FlaskClient, auth: dict[str, Headers]) -> TestResponse:
    return send(client, auth[DISTRICT], demo_file("students"), "edfi-json", "students", "application/json")


def read_plan(client: FlaskClient, headers: Headers, student: str = LISA_REF, **params: str) -> TestResponse:
    return client.get(f"/api/v1/plans/{student}", query_string=params or COORDINATOR, headers=headers)


def error_of(response: TestResponse) -> dict[str, Any]:
    body = response.get_json()
    assert set(body) == {"error"}
    error: dict[str, Any] = body["error"]
    assert {"code", "message", "issues"} <= set(error)
    return error


# -- health -----------------------------------------------------------------------------


def test_health(client: FlaskClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "version": gateway.__version__, "database": "ok"}


def test_health_when_the_database_is_down(rt: Runtime, tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'no-such-folder' / 'gateway.db'}")
    broken = dataclasses.replace(rt, sessions=sessionmaker(engine))
    response = create_app(runtime=broken).test_client().get("/health")
    engine.dispose()
    assert response.status_code == 503
    assert response.get_json()["database"] == "unavailable"


# -- exchanges --------------------------------------------------------------------------


def test_exchange_then_plan_read(client: FlaskClient, auth: dict[str, Headers]) -> None:
    sent = send_students(client, auth)
    assert sent.status_code == 200
    summary = sent.get_json()
    assert (summary["status"], summary["accepted"], summary["rejected"]) == ("mapped", 3, 0)
    read = read_plan(client, auth[DISTRICT])
    assert read.status_code == 200
    view = read.get_json()
    assert view["plan"]["student"]["id"] == LISA_ID
    identifiers = [(i["system"], i["value"]) for i in view["plan"]["student"]["identifiers"]]
    assert (DISTRICT_IDS, "604822") in identifiers
    assert view["disclosure"]["decisionIds"]


def test_plan_read_by_canonical_id(client: FlaskClient, auth: dict[str, Headers]) -> None:
    send_students(client, auth)
    assert read_plan(client, auth[DISTRICT], LISA_ID).get_json()["plan"]["student"]["id"] == LISA_ID


def test_same_exchange_twice_changes_nothing(client: FlaskClient, auth: dict[str, Headers]) -> None:
    first = send_students(client, auth).get_json()
    again = send_students(client, auth)
    assert again.status_code == 200
    assert first["elementsChanged"] > 0
    assert again.get_json()["elementsChanged"] == 0
    assert again.get_json()["messageId"] != first["messageId"]


def test_malformed_json_is_400_and_stored_as_rejected(client: FlaskClient, auth: dict[str, Headers]) -> None:
    response = send(client, auth[CLINIC], demo_file("malformed"))
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "input_invalid"
    assert error["issues"] == [{"path": "$", "message": "duplicate key 'status'; send each key once"}]
    listed = client.get("/api/v1/messages", query_string={"status": "rejected"}, headers=auth[CLINIC])
    assert [m["id"] for m in listed.get_json()["messages"]] == [error["messageId"]]


def test_partial_exchange_is_200_with_the_refused_records(
    client: FlaskClient, auth: dict[str, Headers]
) -> None:
    send_students(client, auth)
    response = send(
        client,
        auth[DISTRICT],
        demo_file("studentSchoolAssociations"),
        "edfi-json",
        "studentSchoolAssociations",
        "application/json",
    )
    assert response.status_code == 200
    summary = response.get_json()
    assert (summary["status"], summary["accepted"], summary["rejected"]) == ("partial", 2, 1)
    assert summary["records"][0]["location"] == "$[2]"


def test_every_record_refused_is_422_with_issues_per_record(
    client: FlaskClient, auth: dict[str, Headers]
) -> None:
    response = send(client, auth[DISTRICT], b"[{}, []]", "edfi-json", "students", "application/json")
    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "input_invalid"
    assert [i["path"] for i in error["issues"]] == ["$[0]", "$[1]"]
    assert error["messageId"]


def test_held_exchange_is_202_and_replays_once_linked(client: FlaskClient, auth: dict[str, Headers]) -> None:
    send_students(client, auth)
    # Lisa's mother, who signed the clinic's consent, linked by the district's contact association.
    mother = demo_file("studentContactAssociations")
    linked = send(
        client, auth[DISTRICT], mother, "edfi-json", "studentContactAssociations", "application/json"
    )
    assert linked.status_code == 200
    held = send(client, auth[CLINIC], demo_file("screening"))
    assert held.status_code == 202
    assert held.get_json()["status"] == "held"
    assert send(client, auth[CLINIC], demo_file("patients")).status_code == 200
    message_id = held.get_json()["messageId"]
    replayed = client.post(f"/api/v1/messages/{message_id}/replay", headers=auth[CLINIC])
    assert replayed.status_code == 200
    assert (replayed.get_json()["status"], replayed.get_json()["messageId"]) == ("mapped", message_id)
    plan = read_plan(client, auth[DISTRICT]).get_json()["plan"]
    assert plan["needs"]


@pytest.mark.parametrize(
    ("content_type", "payload", "status", "code"),
    [
        # JSON types, with or without a charset, are parsed as sent
        pytest.param(FHIR, "patients", 200, None, id="fhir+json"),
        pytest.param("application/json; charset=utf-8", "patients", 200, None, id="json-charset"),
        pytest.param("application/fhir+ndjson", "ndjson", 200, None, id="fhir+ndjson"),
        # anything else is stored and judged by the parser: refused -> 415 naming Content-Type
        pytest.param("text/xml", "xml", 415, "unsupported_format", id="xml-refused"),
        pytest.param("multipart/form-data; boundary=x", "xml", 415, "unsupported_format", id="multipart"),
        # ... and a JSON body under a wrong label is still taken (it is stored and parsed)
        pytest.param("text/plain", "patients", 200, None, id="json-as-text-accepted"),
    ],
)
def test_content_types(
    client: FlaskClient,
    auth: dict[str, Headers],
    content_type: str,
    payload: str,
    status: int,
    code: str | None,
) -> None:
    send_students(client, auth)
    bodies = {
        "patients": demo_file("patients"),
        "ndjson": json.dumps(json.loads(demo_file("patients"))["entry"][0]["resource"]).encode() + b"\n",
        "xml": b"<Patient xmlns='http://hl7.org/fhir'><id value='x'/></Patient>",
    }
    response = send(client, auth[CLINIC], bodies[payload], content_type=content_type)
    assert response.status_code == status
    if code is not None:
        error = error_of(response)
        assert (error["code"], error["issues"][0]["path"]) == (code, "Content-Type")
        shown = client.get(f"/api/v1/messages/{error['messageId']}", headers=auth[CLINIC])
        assert shown.get_json()["status"] == "rejected"


@pytest.mark.parametrize(
    ("fmt", "entity", "status", "code", "path"),
    [
        pytest.param("hl7v2", None, 415, "unsupported_format", None, id="unknown-format"),
        pytest.param("edfi-json", None, 400, "input_invalid", "entity", id="edfi-without-entity"),
        pytest.param("x" * 41, None, 400, "input_invalid", "format", id="format-too-long"),
        pytest.param("edfi-json", "e" * 81, 400, "input_invalid", "entity", id="entity-too-long"),
    ],
)
def test_exchange_parameter_errors(
    client: FlaskClient,
    auth: dict[str, Headers],
    fmt: str,
    entity: str | None,
    status: int,
    code: str,
    path: str | None,
) -> None:
    response = send(client, auth[DISTRICT], demo_file("students"), fmt, entity, "application/json")
    assert response.status_code == status
    error = error_of(response)
    assert error["code"] == code
    if path is not None:
        assert [i["path"] for i in error["issues"]] == [path]


def test_oversized_body_is_413_and_the_refusal_stored(rt: Runtime) -> None:
    small = dataclasses.replace(rt, settings=dataclasses.replace(rt.settings, max_payload_bytes=1000))
    client = create_app({"TESTING": True}, runtime=small).test_client()
    auth = bearer_headers(client, small)
    response = send(client, auth[CLINIC], b"{" + b" " * 2000 + b"}")
    assert response.status_code == 413
    error = error_of(response)
    assert error["code"] == "payload_too_large"
    shown = client.get(f"/api/v1/messages/{error['messageId']}", headers=auth[CLINIC]).get_json()
    assert (shown["status"], shown["size"]) == ("rejected", 0)
    assert send(client, {}, b"{" + b" " * 2000 + b"}").status_code == 401


# -- plans ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "missing"),
    [
        pytest.param({"actor": "a", "role": "coordinator"}, ["purpose"], id="no-purpose"),
        pytest.param({"purpose": "care-coordination"}, ["actor", "role"], id="only-purpose"),
        pytest.param({"actor": "", "role": "", "purpose": ""}, ["actor", "role", "purpose"], id="all-empty"),
    ],
)
def test_plan_read_names_missing_parameters(
    client: FlaskClient, auth: dict[str, Headers], params: dict[str, str], missing: list[str]
) -> None:
    send_students(client, auth)
    response = client.get(f"/api/v1/plans/{LISA_REF}", query_string=params, headers=auth[DISTRICT])
    assert response.status_code == 400
    assert [i["path"] for i in error_of(response)["issues"]] == missing


@pytest.mark.parametrize("form", ["ref", "id"])
def test_unknown_and_invisible_plans_answer_alike(
    client: FlaskClient, auth: dict[str, Headers], form: str
) -> None:
    send_students(client, auth)
    research = {"actor": "analyst", "role": "case-worker", "purpose": "research"}
    existing, absent = (
        (LISA_REF, quote(f"{DISTRICT_IDS}|000000", safe=""))
        if form == "ref"
        else (LISA_ID, student_id_for(DISTRICT_IDS, "000000"))
    )
    invisible = read_plan(client, auth[FOOD_BANK], existing, **research)
    unknown = read_plan(client, auth[FOOD_BANK], absent, **research)
    assert invisible.status_code == unknown.status_code == 404
    # Byte for byte, but for each request's own id: neither names what was sent nor an internal id.
    assert _without_request_id(invisible) == _without_request_id(unknown)
    assert unquote(existing) not in invisible.get_data(as_text=True)
    assert "stu-" not in invisible.get_data(as_text=True)


def _without_request_id(response: Any) -> str:
    assert response.headers["X-Request-Id"] in response.get_data(as_text=True)
    return sans_request_id(response.get_data(as_text=True))


# -- messages ---------------------------------------------------------------------------


def test_messages_are_the_callers_own(client: FlaskClient, auth: dict[str, Headers]) -> None:
    district_message = send_students(client, auth).get_json()["messageId"]
    clinic_message = error_of(send(client, auth[CLINIC], demo_file("malformed")))["messageId"]
    listed = client.get("/api/v1/messages", headers=auth[CLINIC]).get_json()["messages"]
    assert [m["id"] for m in listed] == [clinic_message]
    for method, url in [
        ("GET", f"/api/v1/messages/{district_message}"),
        ("POST", f"/api/v1/messages/{district_message}/replay"),
    ]:
        response = client.open(url, method=method, headers=auth[CLINIC])
        assert response.status_code == 404
        assert error_of(response)["code"] == "not_found"
    assert client.get(f"/api/v1/messages/{district_message}", headers=auth[DISTRICT]).status_code == 200


def test_message_detail_lists_records_not_payload(client: FlaskClient, auth: dict[str, Headers]) -> None:
    message_id = error_of(send(client, auth[CLINIC], demo_file("malformed")))["messageId"]
    shown = client.get(f"/api/v1/messages/{message_id}", headers=auth[CLINIC]).get_json()
    assert shown["records"][0]["location"] == "$"
    assert "broken" not in json.dumps(shown)  # the payload's content is never echoed


@pytest.mark.parametrize(
    ("query", "named"),
    [
        pytest.param({"status": "lost"}, ["status"], id="unknown-status"),
        pytest.param({"limit": "0"}, ["limit"], id="zero-limit"),
        pytest.param({"limit": "ten", "offset": "-1"}, ["limit", "offset"], id="both-bad"),
        pytest.param({"offset": str(2**40)}, ["offset"], id="huge-offset"),
    ],
)
def test_message_list_parameter_errors(
    client: FlaskClient, auth: dict[str, Headers], query: dict[str, str], named: list[str]
) -> None:
    response = client.get("/api/v1/messages", query_string=query, headers=auth[CLINIC])
    assert response.status_code == 400
    assert [i["path"] for i in error_of(response)["issues"]] == named


def test_message_list_paging(client: FlaskClient, auth: dict[str, Headers], clock: Any) -> None:
    ids = []
    for _ in range(3):
        clock.advance(seconds=1)  # oldest first: the order is by time received
        ids.append(error_of(send(client, auth[CLINIC], b"{"))["messageId"])
    page = client.get("/api/v1/messages", query_string={"limit": 2, "offset": 1}, headers=auth[CLINIC])
    assert page.get_json() == {**page.get_json(), "limit": 2, "offset": 1}
    assert [m["id"] for m in page.get_json()["messages"]] == ids[1:]


# -- audit ------------------------------------------------------------------------------


def test_audit_verify(client: FlaskClient, auth: dict[str, Headers], rt: Runtime) -> None:
    send_students(client, auth)
    assert client.get("/api/v1/audit/verify", headers=auth[DISTRICT]).status_code == 403  # a partner
    issued = create_secret(rt, DISTRICT, role="compliance")
    form = {
        "grant_type": "client_credentials",
        "client_id": issued.client_id,
        "client_secret": issued.client_secret,
    }
    token = client.post("/oauth/token", data=form).get_json()["access_token"]
    auth = {**auth, DISTRICT: {"Authorization": f"Bearer {token}"}}
    report = client.get("/api/v1/audit/verify", headers=auth[DISTRICT])
    assert report.status_code == 200
    assert report.get_json()["ok"] is True
    # The read itself is audited (and signed), so the forgery is of a head already in the table.
    with rt.engine.begin() as connection:
        forged = {"h": "sha256:" + "0" * 64}
        connection.execute(text("UPDATE audit_checkpoints SET hash = :h WHERE seq = 1"), forged)
    broken = client.get("/api/v1/audit/verify", headers=auth[DISTRICT])
    assert broken.status_code == 200
    assert broken.get_json()["ok"] is False
    assert broken.get_json()["breaks"]


# -- errors outside the service ---------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url", "status", "code"),
    [
        pytest.param("GET", "/no/such/route", 404, "not_found", id="unknown-route"),
        pytest.param("GET", "/api/v1/nothing-here", 404, "not_found", id="unknown-api-route"),
        pytest.param("DELETE", "/health", 405, "method_not_allowed", id="wrong-method"),
        pytest.param("GET", "/oauth/token", 405, "method_not_allowed", id="token-by-get"),
    ],
)
def test_http_errors_have_the_one_shape(
    client: FlaskClient, method: str, url: str, status: int, code: str
) -> None:
    response = client.open(url, method=method)
    assert response.status_code == status
    assert error_of(response)["code"] == code
    if status == 405:
        assert response.headers["Allow"]


def test_unexpected_error_is_a_generic_500_and_the_body_is_not_logged(
    client: FlaskClient, auth: dict[str, Headers], monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    def explode(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr("gateway.web.api.receive", explode)
    with caplog.at_level(logging.ERROR, logger="gateway.web"):
        response = send(client, auth[DISTRICT], b'{"firstName": "Secret-Name"}', "edfi-json", "students")
    assert response.status_code == 500
    assert error_of(response) == {
        "code": "internal_error",
        "message": "the gateway could not complete the request; it has been logged",
        "issues": [],
        "requestId": response.headers["X-Request-Id"],
    }
    assert "RuntimeError" in caplog.text
    assert "Secret-Name" not in caplog.text
    assert "/api/v1/exchanges/<format_name>" in caplog.text
