"""Searching the directory end to end: an HSDS directory and a GTFS feed imported by their own
importers, ``search`` joining services near the place, direct trips and the ranking, and
``spgw directory search`` (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import json
import pathlib
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from gateway.cli import main
from gateway.core.geo import Point, haversine_km
from gateway.core.matching import NeedQuery
from gateway.errors import InputInvalid
from gateway.service.directory.directory_import import import_path
from gateway.service.directory.directory_search import search
from gateway.service.directory.transit_import import import_feed
from gateway.service.runtime import Runtime

FEED = pathlib.Path(__file__).parent / "fixtures" / "gtfs-clean"  # stops Broad St (home) -> Clinic: bus 1
NY = ZoneInfo("America/New_York")
HOME = Point(lat=41.8, lon=-71.4)
CLINIC = Point(lat=41.8302, lon=-71.4002)
NEXT_DOOR = Point(lat=41.8006, lon=-71.4003)
MONDAY_1530 = dt.datetime(2026, 12, 7, 15, 30, tzinfo=NY)
WEEKDAYS = [{"id": f"w-{d}", "freq": "WEEKLY", "byday": d, "opens_at": "09:00", "closes_at": "18:00"}
            for d in ("MO", "TU", "WE", "TH", "FR")]  # fmt: skip
CHRISTMAS = {"id": "xmas", "valid_from": "2026-12-25", "valid_to": "2026-12-25"}


def _service(
    sid: str, name: str, point: Point, schedules: list[dict[str, Any]], **more: Any
) -> dict[str, Any]:
    terms = more.pop("terms", [])
    return {
        "id": sid, "name": name, "description": more.pop("description", ""), "status": "active",
        "organization": {"id": f"org-{sid}", "name": f"{name} Inc", "description": ""},
        "languages": [{"id": f"{sid}-{c}", "code": c} for c in more.pop("languages", [])],
        "attributes": [{"id": f"{sid}-a{i}", "link_entity": "service", "link_type": "service_category",
                        "taxonomy_term": {"id": f"t-{code}", "code": code, "name": code, "description": code,
                                          "taxonomy": "AIRS"}} for i, code in enumerate(terms)],
        "service_at_locations": [{"id": f"sal-{sid}", "schedules": schedules, "location": {
            "id": f"loc-{sid}", "location_type": "physical", "name": name,
            "latitude": point.lat, "longitude": point.lon}}],
        **more,
    }  # fmt: skip


DIRECTORY = [
    _service("clinic-pantry", "Clinic Pantry", CLINIC, [*WEEKDAYS, CHRISTMAS], terms=["BD-1800.2000"],
             languages=["es", "en"], minimum_age=0, maximum_age=18),
    _service("next-door", "Broad Street Community Meals", NEXT_DOOR,
             [{"id": "m", "freq": "WEEKLY", "byday": "MO", "opens_at": "16:00", "closes_at": "19:00"}]),
    _service("shelter", "Youth Shelter", CLINIC, WEEKDAYS, terms=["BH-1800.8500"], languages=["es"]),
    _service("english-only", "Eastside Food Bank", CLINIC, WEEKDAYS, terms=["BD-1800"], languages=["en"]),
    _service("far", "Far Pantry", Point(lat=41.9, lon=-71.4), WEEKDAYS, terms=["BD-1800.2000"]),
]  # fmt: skip


@pytest.fixture
def world(bare_rt: Runtime, tmp_path: pathlib.Path) -> Runtime:
    path = tmp_path / "directory.json"
    path.write_text(json.dumps(DIRECTORY), "utf-8")
    import_path(bare_rt, path, source="test")
    import_feed(bare_rt, FEED, name="clean")
    return bare_rt


def need(**fields: Any) -> NeedQuery:
    base: dict[str, Any] = {"category": "food-insecurity", "point": HOME, "when": MONDAY_1530,
                            "timezone": "America/New_York", "language": "es", "km": 5.0}  # fmt: skip
    return NeedQuery(**(base | fields))


def km(p: Point) -> str:
    return f"{haversine_km(HOME, p):.1f} km"


def test_search_joins_directory_transit_and_ranking(world: Runtime) -> None:
    found = search(world, need())
    # Next door and opening in half an hour outscores 3.4 km by bus (distance weighs 40 of 100).
    assert [(s.service.name, s.explanation) for s in found] == [
        (
            "Broad Street Community Meals",
            f"{km(NEXT_DOOR)}; walking distance; opens 16:00, until 19:00; languages not published; "
            "matched by its name",
        ),
        (
            "Clinic Pantry",
            f"{km(CLINIC)}; bus 1 from Broad St at 15:40, arrives 15:58; open until 18:00; "
            "Spanish spoken; ages 0–18",
        ),
    ]


def test_a_holiday_moves_the_window_and_the_trip(world: Runtime) -> None:
    christmas_eve_evening = dt.datetime(2026, 12, 24, 19, 0, tzinfo=NY)
    [pantry] = [
        s for s in search(world, need(when=christmas_eve_evening)) if s.service.name == "Clinic Pantry"
    ]
    assert pantry.window is not None
    assert pantry.window[0] == dt.datetime(2026, 12, 28, 9, 0, tzinfo=NY)
    # Closed on the 25th, then the weekend: Monday's opening, leaving 45 minutes before it.
    assert "bus 4 from Elmwood Ave at 08:20 (every 20 min), arrives 08:35; opens Mon 09:00, until 18:00" in (
        pantry.explanation
    )


def test_without_transit_distance_only(world: Runtime) -> None:
    found = search(world, need(transit=False, language=""))
    assert [s.service.name for s in found] == [
        "Broad Street Community Meals",
        "Clinic Pantry",
        "Eastside Food Bank",
    ]
    assert all(s.transit is None for s in found)


def test_other_category_and_limit(world: Runtime) -> None:
    assert [s.service.name for s in search(world, need(category="homelessness"))] == ["Youth Shelter"]
    assert len(search(world, need(language="", limit=1))) == 1


def test_unknown_category_is_refused(world: Runtime) -> None:
    with pytest.raises(InputInvalid, match="no directory terms"):
        search(world, need(category="snacks"))


def _cli(rt: Runtime, *args: str) -> Any:
    env = {"GATEWAY_DATABASE_URL": rt.settings.database_url, "SPGW_TIMEZONE": "America/New_York"}
    return CliRunner().invoke(main, ["--home", str(rt.settings.home), "directory", "search", *args], env=env)


def test_cli_search(world: Runtime) -> None:
    args = [
        "--category",
        "food-insecurity",
        "--near",
        "41.8,-71.4",
        "--when",
        "2026-12-07T15:30",
        "--language",
        "es",
    ]
    result = _cli(world, *args, "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [r["id"] for r in rows] == [s.service.id for s in search(world, need())]
    assert rows[1]["transit"]["route"] == "1"
    assert rows[1]["opens"] == "2026-12-07T09:00:00-05:00"
    text = _cli(world, *args)
    assert text.exit_code == 0, text.output
    assert "2. Clinic Pantry (Clinic Pantry Inc)" in text.output
    assert "bus 1 from Broad St at 15:40, arrives 15:58; open until 18:00" in text.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--category", "snacks", "--near", "41.8,-71.4"], "no directory terms for need category 'snacks'"),
        (["--category", "food-insecurity", "--near", "north"], "give LAT,LON"),
        (
            ["--category", "food-insecurity", "--near", "41.8,-71.4", "--tz", "Mars/Olympus"],
            "unknown time zone",
        ),
        (["--category", "food-insecurity", "--near", "41.8,-71.4", "--when", "monday"], "ISO date-time"),
    ],
)
def test_cli_refuses_bad_input_saying_what(world: Runtime, args: list[str], message: str) -> None:
    result = _cli(world, *args)
    assert result.exit_code != 0
    assert message in result.output
