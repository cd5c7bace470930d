"""The student side of the directory end to end: Lisa's district sends her home address, an HSDS
directory and a GTFS feed are imported by their own importers, and her coordinator asks for
services for her food need with ``match``, over HTTP (``GET /api/v1/plans/{student}/needs/{need}/
suggestions``, checked against the OpenAPI document) and with ``spgw directory match``
(SQLite and PostgreSQL). The family's place is in no answer, only how it was found."""

from __future__ import annotations

import datetime as dt
import json
import pathlib
from typing import Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from gateway.cli import main
from gateway.core.geo import Point
from gateway.core.matching import NeedQuery
from gateway.service.directory.directory_import import import_path
from gateway.service.directory.directory_match import MatchRequest, match
from gateway.service.directory.directory_search import search
from gateway.service.directory.transit_import import import_feed
from gateway.service.exchange.inbound import Inbound
from gateway.service.exchange.ingest import ingest
from gateway.service.runtime import Runtime
from gateway.service.views.plans import ReadRequest, read_plan
from gateway.web.directory_api import SUGGESTIONS
from gateway.web.openapi import build_openapi
from tests.conftest import Clock
from tests.helpers import DISTRICT_IDS, LISA, client_with_token, sans_request_id, send_demo
from tests.test_directory_search import DIRECTORY, FEED, HOME

NY = ZoneInfo("America/New_York")
MONDAY_1530 = dt.datetime(2026, 12, 7, 15, 30, tzinfo=NY)
DISTRICT = "grand-bend-isd"
READER = {"actor": "t-coord", "role": "coordinator", "purpose": "care-coordination"}
CHECKED_ANSWERS = {(SUGGESTIONS, "get"): {200, 400, 401, 404}}


def _address(point: Point) -> bytes:
    record = {
        "studentReference": {"studentUniqueId": "604822"},
        "educationOrganizationReference": {"educationOrganizationId": 255901},
        "addresses": [
            {
                "addressTypeDescriptor": "uri://ed-fi.org/AddressTypeDescriptor#Home",
                "postalCode": "02903",
                "latitude": f"{point.lat}",
                "longitude": f"{point.lon}",
            }
        ],
    }
    return json.dumps([record]).encode()


@pytest.fixture
def world(rt: Runtime, clock: Clock, tmp_path: pathlib.Path) -> Runtime:
    for prefix in ("01", "05", "04", "08"):
        send_demo(rt, prefix)
    entity = "studentEducationOrganizationAssociations"
    summary = ingest(
        rt, Inbound(source_org=DISTRICT, format_name="edfi-json", payload=_address(HOME), entity=entity)
    )
    assert summary.outcome["accepted"] == 1, summary.outcome
    path = tmp_path / "directory.json"
    path.write_text(json.dumps(DIRECTORY), "utf-8")
    import_path(rt, path, source="test")
    import_feed(rt, FEED, name="clean")
    clock.now = MONDAY_1530.astimezone(dt.UTC)
    return rt


def _need(rt: Runtime) -> str:
    view = read_plan(rt, ReadRequest(student_id=LISA, organization_id=DISTRICT, **READER))
    (need,) = view.plan["needs"]
    return str(need["id"])


def _request(need: str, **changes: Any) -> MatchRequest:
    fields: dict[str, Any] = {
        "student_ref": LISA,
        "need_id": need,
        "organization_id": DISTRICT,
        "when": MONDAY_1530,
        "timezone": "America/New_York",
        **READER,
    }
    return MatchRequest(**(fields | changes))


def test_match_searches_from_home_with_what_the_plan_shows(world: Runtime) -> None:
    answer = match(world, _request(_need(world)))
    # Her district shows its coordinator her birth date (16) and her home; no language of hers.
    expected = search(
        world,
        NeedQuery(
            category="food-insecurity", point=HOME, when=MONDAY_1530, timezone="America/New_York", age=16.0
        ),
    )
    assert [s.to_dict() for s in answer.suggestions] == [s.to_dict() for s in expected]
    pantry = next(s for s in answer.suggestions if s.service.name == "Clinic Pantry")
    assert "bus 1 from Broad St at 15:40, arrives 15:58; open until 18:00" in pantry.explanation
    assert answer.to_dict()["location"] == "from the address coordinates"


def _url(student: str, need: str, **query: str) -> str:
    path = SUGGESTIONS.replace("{student}", quote(student, safe="")).replace("{need}", need)
    return f"{path}?{urlencode(query)}"


def _validator(status: int) -> Any:
    from tests.test_web_openapi import schema_validator  # imported here: that module imports this one

    return schema_validator(build_openapi(), SUGGESTIONS, "get", status)


def test_the_api_answers_as_documented(world: Runtime) -> None:
    client, headers = client_with_token(world, DISTRICT)
    need = _need(world)
    query = {**READER, "when": "2026-12-07T15:30", "tz": "America/New_York"}
    for student in (LISA, f"{DISTRICT_IDS}|604822"):
        answer = client.get(_url(student, need, **query), headers=headers)
        assert answer.status_code == 200, answer.get_json()
        body = answer.get_json()
        assert list(_validator(200).iter_errors(body)) == []
        assert body == match(world, _request(need)).to_dict()
        assert body["outcome"] == "suggested"
        assert "41.8" not in answer.get_data(as_text=True)
    missing = client.get(_url(LISA, need, actor="t", purpose="care-coordination"), headers=headers)
    assert missing.status_code == 400
    assert list(_validator(400).iter_errors(missing.get_json())) == []
    assert "role" in {i["path"] for i in missing.get_json()["error"]["issues"]}
    bad_km = client.get(_url(LISA, need, **READER, km="far"), headers=headers)
    assert bad_km.status_code == 400
    anonymous = client.get(_url(LISA, need, **READER))
    assert anonymous.status_code == 401
    assert list(_validator(401).iter_errors(anonymous.get_json())) == []


def test_a_reader_shown_nothing_gets_the_plan_reads_404(world: Runtime) -> None:
    client, headers = client_with_token(world, "northside-food-bank")
    need = _need(world)
    reader = {"actor": "t", "role": "case-worker", "purpose": "research"}
    bodies = []
    for student in (LISA, "stu-nobody"):
        answer = client.get(_url(student, need, **reader), headers=headers)
        assert answer.status_code == 404
        assert list(_validator(404).iter_errors(answer.get_json())) == []
        bodies.append(sans_request_id(answer.get_data(as_text=True)))
    read = client.get(f"/api/v1/plans/{LISA}?{urlencode(reader)}", headers=headers)
    assert read.status_code == 404
    assert bodies == [sans_request_id(read.get_data(as_text=True))] * 2


def _cli(rt: Runtime, *args: str) -> Any:
    env = {"GATEWAY_DATABASE_URL": rt.settings.database_url, "SPGW_TIMEZONE": "America/New_York"}
    return CliRunner().invoke(main, ["--home", str(rt.settings.home), "directory", "match", *args], env=env)


def test_cli_match(world: Runtime) -> None:
    need = _need(world)
    args = [LISA, "--need", need, "--as", DISTRICT, "--when", "2026-12-07T15:30"]
    result = _cli(world, *args, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == match(world, _request(need)).to_dict()
    text = _cli(world, *args)
    assert text.exit_code == 0, text.output
    assert "Family location: from the address coordinates" in text.output
    assert "bus 1 from Broad St at 15:40, arrives 15:58" in text.output
    assert f"{HOME.lat}" not in text.output
    refused = _cli(world, *args, "--purpose", "astrology")
    assert refused.exit_code == 2
    assert "purpose" in refused.output
