"""GET /fhir/r4/AuditEvent over HTTP: searchset paging by cursor, date filters, partner scope,
OperationOutcome errors, reads by id, the route beside fhir_api's, and the search audited."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from fhir.resources.R4B.auditevent import AuditEvent
from fhir.resources.R4B.bundle import Bundle
from flask.testing import FlaskClient
from sqlalchemy import func, select

from gateway.service.administration.partners import create_secret
from gateway.service.runtime import Runtime
from gateway.storage.tables import AuditEntryRow
from gateway.web import create_app
from tests.test_audit_export import decision, disclosure, write

URL = "/fhir/r4/AuditEvent"
OTHER = "stu-export-2"


@pytest.fixture
def client(rt: Runtime) -> FlaskClient:
    return create_app(runtime=rt).test_client()


def auth(client: FlaskClient, rt: Runtime, org: str, role: str = "partner") -> dict[str, str]:
    issued = create_secret(rt, org, role=role)
    answer = client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": issued.client_id,
            "client_secret": issued.client_secret,
        },
    )
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return {"Authorization": f"Bearer {answer.get_json()['access_token']}"}


@pytest.fixture
def seeded(rt: Runtime) -> dict[str, list[int]]:
    nfb = "northside-food-bank"
    return {
        "nfb": [
            write(rt, "decision", decision(recipient=nfb).to_details()),
            write(rt, "disclosure", disclosure(nfb).to_details()),
        ],
        "others": [
            write(rt, "decision", decision("deny").to_details()),
            write(rt, "disclosure", disclosure().to_details(), subject=OTHER),
        ],
    }


def all_pages(client: FlaskClient, headers: dict[str, str], query: str) -> list[str]:
    ids, url = [], f"{URL}?{query}"
    while url:
        answer = client.get(url, headers=headers)
        assert answer.status_code == 200, answer.get_data(as_text=True)
        doc = answer.get_json()
        Bundle.model_validate(doc)
        assert doc["type"] == "searchset"
        assert "total" not in doc
        ids += [e["resource"]["id"] for e in doc.get("entry", [])]
        nxt = [link["url"] for link in doc["link"] if link["relation"] == "next"]
        url = "{0.path}?{0.query}".format(urlsplit(nxt[0])) if nxt else ""
    return ids


def test_compliance_pages_through_every_entry_once(
    client: FlaskClient, rt: Runtime, seeded: dict[str, list[int]]
) -> None:
    headers = auth(client, rt, "grand-bend-isd", "compliance")
    with rt.sessions() as session:
        expected = session.scalar(
            select(func.count()).where(AuditEntryRow.kind.in_(["decision", "disclosure"]))
        )
    ids = all_pages(client, headers, "_count=1")
    assert len(ids) == len(set(ids)) == expected
    assert {f"spgw-audit-{s}" for s in seeded["nfb"] + seeded["others"]} <= set(ids)


def test_partner_sees_only_its_own(client: FlaskClient, rt: Runtime, seeded: dict[str, list[int]]) -> None:
    headers = auth(client, rt, "northside-food-bank")
    assert all_pages(client, headers, "_count=50") == [f"spgw-audit-{s}" for s in seeded["nfb"]]
    # an invisible student and an unknown one answer the same
    invisible = client.get(f"{URL}?patient={OTHER}", headers=headers).get_json()
    unknown = client.get(f"{URL}?patient=stu-nobody", headers=headers).get_json()
    assert invisible.get("entry") == unknown.get("entry") is None
    hidden = client.get(f"{URL}/spgw-audit-{seeded['others'][0]}", headers=headers)
    missing = client.get(f"{URL}/spgw-audit-999999", headers=headers)
    assert hidden.status_code == missing.status_code == 404
    assert hidden.get_json() == missing.get_json()


def test_read_by_id_and_patient_filter(
    client: FlaskClient, rt: Runtime, seeded: dict[str, list[int]]
) -> None:
    headers = auth(client, rt, "grand-bend-isd", "compliance")
    seq = seeded["others"][1]
    answer = client.get(f"{URL}/spgw-audit-{seq}", headers=headers)
    assert answer.status_code == 200
    assert answer.mimetype == "application/fhir+json"
    AuditEvent.model_validate(answer.get_json())
    for query in (f"patient={OTHER}", f"patient=Patient/{OTHER}", f"entity=urn:spgw:student|{OTHER}"):
        assert all_pages(client, headers, query) == [f"spgw-audit-{seq}"]


def test_date_filters_and_bad_dates(client: FlaskClient, rt: Runtime, seeded: dict[str, list[int]]) -> None:
    headers = auth(client, rt, "grand-bend-isd", "compliance")
    assert all_pages(client, headers, "date=ge2000-01-01&date=lt2999-01-01")
    assert all_pages(client, headers, "date=lt2000-01-01") == []
    answer = client.get(f"{URL}?date=ge2026-02-30", headers=headers)
    assert answer.status_code == 400
    body = answer.get_json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["location"] == ["date"] or "date" in str(body["issue"])


@pytest.mark.parametrize(
    ("query", "status"), [("_count=0", 400), ("_count=501", 400), ("_count=x", 400), ("_cursor=%%%", 400)]
)
def test_bad_parameters(client: FlaskClient, rt: Runtime, query: str, status: int) -> None:
    headers = auth(client, rt, "grand-bend-isd", "compliance")
    answer = client.get(f"{URL}?{query}", headers=headers)
    assert answer.status_code == status
    assert answer.get_json()["resourceType"] == "OperationOutcome"


def test_token_required(client: FlaskClient) -> None:
    for path in (URL, f"{URL}/spgw-audit-1"):
        answer = client.get(path)
        assert answer.status_code == 401
        assert answer.get_json()["resourceType"] == "OperationOutcome"


def test_routes_sit_beside_fhir_api(rt: Runtime) -> None:
    adapter = create_app(runtime=rt).url_map.bind("localhost")
    assert adapter.match(URL, method="GET")[0] == "fhir_audit_api.search"
    assert adapter.match(f"{URL}/x", method="GET")[0] == "fhir_audit_api.read"
    assert adapter.match(URL, method="POST")[0] == "fhir.create"


def test_each_search_is_audited(client: FlaskClient, rt: Runtime, seeded: dict[str, Any]) -> None:
    headers = auth(client, rt, "northside-food-bank")
    client.get(f"{URL}?patient={OTHER}&date=ge2000-01-01", headers=headers)
    with rt.sessions() as session:
        last = session.scalars(
            select(AuditEntryRow).where(AuditEntryRow.kind == "audit.read").order_by(AuditEntryRow.seq.desc())
        ).first()
    assert last is not None
    assert last.details["what"] == "export"
    assert last.details["organization"] == "northside-food-bank"
    assert last.details["query"]["student"] == OTHER
