"""Matching a student's need to services from where the family lives, under policy: the family
location is used only when the plan read shows it to this reader for this purpose; otherwise the
answer says why and nothing is searched. The location never reaches the audit or the logs.

The world: Lisa's school record, clinic patient record and screening (a food need the clinic
recorded), plus an address her district sends. The clinic reads with a location agreement of
its own (care-coordination only) and, where a case needs it, the family's consent."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
from collections.abc import Callable
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from gateway.core.directory import ServiceAtLocation
from gateway.core.geo import Point, haversine_km
from gateway.core.matching import NeedQuery, Suggestion
from gateway.errors import InputInvalid, NotFound
from gateway.service.directory import directory_match
from gateway.service.directory.directory_match import MatchRequest, match
from gateway.service.exchange.inbound import Inbound
from gateway.service.exchange.ingest import ingest
from gateway.service.policy import consents
from gateway.service.runtime import Runtime
from gateway.service.views.plans import ReadRequest, read_plan
from gateway.storage.tables import AuditEntryRow
from tests.agreement_helpers import agree
from tests.conftest import PROJECT_ROOT, Clock
from tests.helpers import LISA, send_demo

CLINIC, DISTRICT = "riverside-health", "grand-bend-isd"
SAMPLES = PROJECT_ROOT / "consent_policies" / "samples"
HL7 = "http://terminology.hl7.org"
HOME = Point(lat=28.5397, lon=-99.8731)  # a made-up home in Carrizo Springs, TX
ZIP_POINT = Point(lat=28.5446, lon=-99.8684)  # ZCTA 78834's internal point (Census, shipped)
WHEN = dt.datetime(2026, 12, 7, 15, 30, tzinfo=dt.UTC)
FOOD_NEED_CATEGORY = "food-insecurity"


def seoa(address: dict[str, Any]) -> bytes:
    record = {
        "studentReference": {"studentUniqueId": "604822"},
        "educationOrganizationReference": {"educationOrganizationId": 255901},
        "addresses": [
            {
                "addressTypeDescriptor": "uri://ed-fi.org/AddressTypeDescriptor#Home",
                "streetNumberName": "12 Elm St",
                "city": "Carrizo Springs",
                "stateAbbreviationDescriptor": "uri://ed-fi.org/StateAbbreviationDescriptor#TX",
                **address,
            }
        ],
    }
    return json.dumps([record]).encode()


COORDINATES = {"postalCode": "78834", "latitude": str(HOME.lat), "longitude": str(HOME.lon)}
POSTAL_ONLY = {"postalCode": "78834-1234"}


def send_address(rt: Runtime, address: dict[str, Any]) -> None:
    summary = ingest(
        rt,
        Inbound(
            source_org=DISTRICT,
            format_name="edfi-json",
            payload=seoa(address),
            entity="studentEducationOrganizationAssociations",
        ),
    )
    assert summary.outcome["accepted"] == 1, summary.outcome


def location_agreement(rt: Runtime) -> None:
    """The clinic no longer sends location under the DSA; a second agreement lets it receive
    the district's location for care coordination only, as a care manager."""
    dsa = yaml.safe_load((SAMPLES / "agreements" / "gbisd-riverside-2026.yaml").read_text("utf-8"))
    clinic = next(e for e in dsa["schedule"] if e["party"] == CLINIC)
    clinic["sends"] = [c for c in clinic["sends"] if c != "location"]
    agree(rt, dsa, by=DISTRICT)
    agree(
        rt,
        {
            "id": "gbisd-riverside-location-2026",
            "version": 1,
            "title": "Grand Bend ISD and Riverside Health: family location for care coordination",
            "parties": [DISTRICT, CLINIC],
            "status": "active",
            "effective": "2026-01-01",
            "expires": "2030-06-30",
            "schedule": [
                {"party": DISTRICT, "sends": ["location"]},
                {"party": CLINIC, "receives": ["location"]},
            ],
            "purposes": ["care-coordination"],
            "recipient_roles": ["care-manager"],
            "retention_days": 365,
            "redisclosure": "prohibited",
        },
        by=DISTRICT,
    )


def family_consent(rt: Runtime) -> None:
    """Lisa's mother lets the district disclose the family's location to the clinic."""
    document = json.loads((SAMPLES / "consents" / "consent-0002-gbisd-to-northside.json").read_text("utf-8"))
    document["id"] = "consent-location-to-clinic"
    provision = document["provision"]
    provision["actor"][0]["reference"]["identifier"]["value"] = CLINIC
    provision["purpose"] = [
        {"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "CAREMGT"}
    ]
    provision["class"] = [{"system": "https://success-plan-gateway.org/data-categories", "code": "location"}]
    consents.import_consent(rt, document, recorded_by=DISTRICT)


@pytest.fixture
def lisa(rt: Runtime, clock: Clock) -> Runtime:
    for prefix in ("01", "05", "04", "08"):
        send_demo(rt, prefix)
    location_agreement(rt)
    clock.now = WHEN
    return rt


@dataclasses.dataclass
class FakeSearch:
    """Stands in for the directory search: records what it was asked, answers one service."""

    asked: list[NeedQuery] = dataclasses.field(default_factory=list)

    def __call__(self, rt: Runtime, query: NeedQuery) -> list[Suggestion]:
        self.asked.append(query)
        pantry = ServiceAtLocation(
            id="dir-1",
            source="test-211",
            service_id="svc-1",
            location_id="loc-1",
            name="Northside Pantry",
            organization="Northside Food Bank",
            point=Point(lat=28.55, lon=-99.86),
        )
        km = haversine_km(query.point, pantry.point) if pantry.point else 0.0
        return [
            Suggestion(
                service=pantry,
                score=80.0,
                distance_km=km,
                window=None,
                hours_known=False,
                transit=None,
                matched_by="matched by its description",
                explanation=f"{km:.1f} km; hours not published",
            )
        ]


@pytest.fixture
def search(monkeypatch: pytest.MonkeyPatch) -> FakeSearch:
    fake = FakeSearch()
    monkeypatch.setattr(directory_match, "_search", fake)
    return fake


def food_need(rt: Runtime, org: str, role: str, purpose: str) -> str:
    view = read_plan(
        rt, ReadRequest(student_id=LISA, organization_id=org, actor="t", role=role, purpose=purpose)
    )
    (need,) = view.plan["needs"]
    return str(need["id"])


def ask(rt: Runtime, org: str, role: str, purpose: str, need: str = "", student: str = LISA) -> Any:
    need = need or food_need(rt, CLINIC, "care-manager", "care-coordination")
    request = MatchRequest(
        student_ref=student, need_id=need, organization_id=org, actor="t-1", role=role, purpose=purpose
    )
    return match(rt, request)


Setup = Callable[[Runtime], None]

# (case, setup, reader org, role, purpose, outcome, the place searched from)
PRIVACY = [
    pytest.param(
        lambda rt: (send_address(rt, COORDINATES), family_consent(rt)),
        CLINIC, "care-manager", "care-coordination", "suggested", HOME,
        id="agreement and consent allow location for care-coordination: coordinates used",
    ),
    pytest.param(
        lambda rt: (send_address(rt, POSTAL_ONLY), family_consent(rt)),
        CLINIC, "care-manager", "care-coordination", "suggested", ZIP_POINT,
        id="only a postal code: the ZCTA point, from the postal code",
    ),
    pytest.param(
        lambda rt: (send_address(rt, COORDINATES), family_consent(rt)),
        CLINIC, "clinician", "treatment", "location-not-allowed", None,
        id="purpose and role the location agreement does not cover: not allowed, nothing searched",
    ),
    pytest.param(
        lambda rt: send_address(rt, COORDINATES),
        CLINIC, "care-manager", "care-coordination", "no-location", None,
        id="agreement allows but no consent: no location shown, nothing searched",
    ),
    pytest.param(
        lambda rt: None,
        CLINIC, "care-manager", "care-coordination", "no-location", None,
        id="allowed but the records carry no location: the same answer",
    ),
    pytest.param(
        lambda rt: send_address(rt, COORDINATES),
        DISTRICT, "coordinator", "care-coordination", "suggested", HOME,
        id="the district's own address record, read by its coordinator",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("setup", "org", "role", "purpose", "outcome", "place"), PRIVACY)
def test_the_location_is_used_only_where_the_policy_shows_it(
    lisa: Runtime,
    search: FakeSearch,
    setup: Setup,
    org: str,
    role: str,
    purpose: str,
    outcome: str,
    place: Point | None,
) -> None:
    setup(lisa)
    answer = ask(lisa, org, role, purpose)
    assert answer.outcome == outcome
    assert answer.category == FOOD_NEED_CATEGORY
    if place is None:
        assert search.asked == []
        assert answer.suggestions == ()
        assert answer.reason.startswith("no suggestions: ")
        return
    (query,) = search.asked
    assert query.point == place
    assert query.category == FOOD_NEED_CATEGORY
    assert query.when == WHEN
    # Born 2010-03-14: only a reader the policy shows the birth date to searches with her age.
    assert query.age == (16.0 if org == DISTRICT else None)
    assert len(answer.suggestions) == 1
    expected = "from the postal code" if place == ZIP_POINT else "from the address coordinates"
    assert answer.to_dict()["location"] == expected
    assert query.postal_code == "78834"


def test_not_allowed_says_the_agreement_does_not_allow_it(lisa: Runtime, search: FakeSearch) -> None:
    send_address(lisa, COORDINATES)
    body = ask(lisa, CLINIC, "clinician", "treatment").to_dict()
    assert body["reason"] == (
        "no suggestions: the agreement does not allow the family's location for this purpose"
    )
    assert body["suggestions"] == []
    assert body["location"] is None


def test_a_reader_who_may_not_see_the_plan_gets_the_plan_reads_404(lisa: Runtime, search: FakeSearch) -> None:
    need = food_need(lisa, CLINIC, "care-manager", "care-coordination")
    answers = []
    for student in (LISA, "stu-nobody", "https://grandbend.example.org/ns/studentUniqueId|000000"):
        with pytest.raises(NotFound) as raised:
            ask(lisa, "northside-food-bank", "case-worker", "research", need=need, student=student)
        answers.append((raised.value.message, [i.__dict__ for i in raised.value.issues]))
    with pytest.raises(NotFound) as read:
        read_plan(
            lisa,
            ReadRequest(
                student_id="stu-nobody",
                organization_id=CLINIC,
                actor="t",
                role="clinician",
                purpose="treatment",
            ),
        )
    assert answers == [(read.value.message, [i.__dict__ for i in read.value.issues])] * 3
    assert search.asked == []


def test_a_need_the_reader_cannot_see_is_not_found(lisa: Runtime, search: FakeSearch) -> None:
    with pytest.raises(NotFound, match="no such need"):
        ask(lisa, CLINIC, "care-manager", "care-coordination", need="el-not-a-need")


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        pytest.param({"role": "wizard"}, "role", id="role outside the vocabulary"),
        pytest.param({"purpose": ""}, "purpose", id="purpose missing"),
        pytest.param({"need_id": ""}, "need", id="need missing"),
        pytest.param({"timezone": "Mars/Olympus"}, "timezone", id="unknown time zone"),
    ],
)
def test_a_bad_request_is_refused_naming_the_field(
    lisa: Runtime, search: FakeSearch, changes: dict[str, Any], path: str
) -> None:
    request = MatchRequest(
        student_ref=LISA,
        need_id="el-x",
        organization_id=CLINIC,
        actor="t",
        role="care-manager",
        purpose="care-coordination",
    )
    with pytest.raises(InputInvalid) as raised:
        match(lisa, dataclasses.replace(request, **changes))
    assert path in {i.path for i in raised.value.issues}


def _audit_rows(rt: Runtime) -> list[tuple[str, str]]:
    with rt.sessions() as session:
        rows = session.scalars(select(AuditEntryRow).order_by(AuditEntryRow.seq)).all()
        return [(row.kind, json.dumps(row.details) + row.actor + row.subject) for row in rows]


def _details(row: str) -> dict[str, Any]:
    found, _ = json.JSONDecoder().raw_decode(row)
    return dict(found)


@pytest.mark.parametrize("address", [COORDINATES, POSTAL_ONLY], ids=["coordinates", "postal code"])
def test_the_location_never_reaches_the_audit_or_the_logs(
    lisa: Runtime, search: FakeSearch, caplog: pytest.LogCaptureFixture, address: dict[str, Any]
) -> None:
    send_address(lisa, address)
    family_consent(lisa)
    need = food_need(lisa, CLINIC, "care-manager", "care-coordination")
    before = len(_audit_rows(lisa))
    with caplog.at_level(logging.DEBUG):
        answer = ask(lisa, CLINIC, "care-manager", "care-coordination", need=need)
    assert answer.outcome == "suggested"
    written = _audit_rows(lisa)[before:]
    matched = [_details(d) for kind, d in written if kind == "directory.matched"]
    assert matched
    assert matched[0]["suggestions"] == 1
    assert matched[0]["need"] == answer.need["id"]
    assert matched[0]["locationBasis"] == ("coordinates" if "latitude" in address else "postal-code")
    place = search.asked[0].point
    secrets = {"28.5", "-99.8", "78834", "12 Elm"}
    for text_ in [details for _, details in written] + [r.getMessage() for r in caplog.records]:
        assert not any(s in text_ for s in secrets), text_
    assert f"{place.lat}" not in caplog.text
    assert f"{place.lon}" not in caplog.text


def test_the_match_is_recorded_as_a_read_of_the_need_and_the_location(
    lisa: Runtime, search: FakeSearch
) -> None:
    send_address(lisa, COORDINATES)
    family_consent(lisa)
    need = food_need(lisa, CLINIC, "care-manager", "care-coordination")
    before = len(_audit_rows(lisa))
    answer = ask(lisa, CLINIC, "care-manager", "care-coordination", need=need)
    disclosures = [_details(d) for kind, d in _audit_rows(lisa)[before:] if kind == "disclosure"]
    (record,) = disclosures
    assert record["flow"] == "plan.read"
    assert set(record["categories"]) == {"location", "sdoh-screening"}
    assert answer.need["id"] in record["elements"]
    assert record["recordCount"] == 2
    assert any(c == "consent-location-to-clinic" for c in record["consentIds"])
