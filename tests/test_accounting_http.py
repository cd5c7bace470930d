"""GET /api/v1/audit/disclosures/{student}: a compliance credential sees every disclosure, a
partner only its own (an unknown student answers the same); JSON matches the document, CSV is
formula safe; bad parameters are 400, no token is 401."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from gateway.service.runtime import Runtime
from gateway.web.openapi import build_openapi
from tests.helpers import LISA, client_with_token
from tests.test_accounting import DISTRICT, FOOD_BANK, read
from tests.test_accounting import lisa as lisa
from tests.test_web_openapi import schema_validator

PATH = "/api/v1/audit/disclosures/{student}"
CHECKED_ANSWERS = {(PATH, "get"): {200, 400, 401}}


_http = client_with_token


def checked(response: Any, status: int) -> Any:
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    validator = schema_validator(build_openapi(), PATH, "get", status)
    assert not [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(body)]
    return body


def url(student: str = LISA, query: str = "") -> str:
    return f"/api/v1/audit/disclosures/{student}{query}"


def test_compliance_sees_every_disclosure_and_the_denials(lisa: Runtime) -> None:
    read(lisa, DISTRICT, "coordinator", "care-coordination")
    read(lisa, FOOD_BANK, "case-worker", "research")
    client, auth = _http(lisa, DISTRICT, "compliance")
    body = checked(client.get(url(), headers=auth), 200)
    assert [r["recipient"] for r in body["disclosures"] if r["flow"] == "plan.read"] == [DISTRICT]
    assert {d["purpose"] for d in body["denials"]} >= {"research"}
    family = checked(client.get(url(query="?family=true&from=2000-01-01&to=2999-12-31"), headers=auth), 200)
    assert family["denials"] == []


def test_a_partner_sees_its_own_and_cannot_tell_unknown_students(lisa: Runtime) -> None:
    read(lisa, DISTRICT, "coordinator", "care-coordination")
    client, auth = _http(lisa, FOOD_BANK)
    known = checked(client.get(url(), headers=auth), 200)
    unknown = checked(client.get(url("stu-nobody"), headers=auth), 200)
    assert known["disclosures"] == unknown["disclosures"] == []
    assert known["denials"] == unknown["denials"]


def test_csv_is_formula_safe(lisa: Runtime) -> None:
    read(lisa, DISTRICT, "coordinator", "care-coordination")
    client, auth = _http(lisa, DISTRICT, "compliance")
    response = client.get(url(query="?format=csv"), headers=auth)
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True), newline="")))
    assert rows[0][:4] == ["date", "last", "count", "recipient"]
    assert all(not cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)


@pytest.mark.parametrize("query", ["?from=2026-13-01", "?to=yesterday", "?family=yes", "?format=xml"])
def test_bad_parameters_are_400(lisa: Runtime, query: str) -> None:
    client, auth = _http(lisa, DISTRICT, "compliance")
    checked(client.get(url(query=query), headers=auth), 400)


def test_no_token_is_401(lisa: Runtime) -> None:
    client, _ = _http(lisa, DISTRICT)
    checked(client.get(url()), 401)
