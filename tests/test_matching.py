"""Ranking services for a need (gateway.core.matching, pure): filters, the score formula, the
explanations as the issue shows them, transit through an injected fake, deterministic order."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import pathlib
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from gateway.core.directory import ScheduleRule, ServiceAtLocation, Term
from gateway.core.geo import EARTH_RADIUS_KM, Point
from gateway.core.matching import NeedQuery, Suggestion, normalise_language, rank
from gateway.core.transit import TransitOption
from gateway.errors import InputInvalid

ROOT = pathlib.Path(__file__).resolve().parent.parent
NY = ZoneInfo("America/New_York")
HOME = Point(lat=41.8240, lon=-71.4128)  # Providence
MONDAY_1530 = dt.datetime(2026, 12, 7, 15, 30, tzinfo=NY)
PANTRY = Term(taxonomy="AIRS", code="BD-1800.2000", label="Food Pantries")
WEEKDAYS = ScheduleRule(freq="WEEKLY", byday="MO,TU,WE,TH,FR", opens_at="09:00", closes_at="18:00")


@pytest.fixture(scope="module")
def crosswalk() -> dict[str, Any]:
    doc = yaml.safe_load((ROOT / "mappings/codes/need-category-taxonomy.yaml").read_text("utf-8"))
    return {e["from"]: e["to"] for e in doc["entries"]}


def north(km: float) -> Point:
    """A point ``km`` north of home (exactly, on the gateway's sphere)."""
    return Point(lat=HOME.lat + math.degrees(km / EARTH_RADIUS_KM), lon=HOME.lon)


def svc(sid: str = "s1", km: float = 1.0, **fields: Any) -> ServiceAtLocation:
    base: dict[str, Any] = {
        "id": sid, "source": "test", "service_id": sid, "location_id": f"l-{sid}", "name": f"Pantry {sid}",
        "organization": "Org", "terms": (PANTRY,), "point": north(km), "schedules": (WEEKDAYS,),
    }  # fmt: skip
    return ServiceAtLocation(**(base | fields))


def need(**fields: Any) -> NeedQuery:
    base: dict[str, Any] = {"category": "food-insecurity", "point": HOME, "when": MONDAY_1530,
                            "timezone": "America/New_York", "transit": False}  # fmt: skip
    return NeedQuery(**(base | fields))


def bus(departs: str = "15:40", arrives: str = "15:58", route: str = "60") -> TransitOption:
    return TransitOption(route=route, mode="bus", from_stop="Broad St", departs=departs,
                         to_stop="Kennedy Plaza", arrives=arrives, walk_to_stop_km=0.2,
                         walk_from_stop_km=0.1)  # fmt: skip


class FakeTransit:
    """Stands in for gateway.service.directory.transit.trips_between: records each call."""

    def __init__(self, *options: TransitOption) -> None:
        self.options = list(options)
        self.calls: list[tuple[str, dt.datetime]] = []

    def __call__(self, service: ServiceAtLocation, leave_after: dt.datetime) -> list[TransitOption]:
        self.calls.append((service.id, leave_after))
        return self.options


def ranked(
    crosswalk: dict[str, Any], services: list[ServiceAtLocation], lookup: Any = None, **q: Any
) -> list[Suggestion]:
    return rank(need(**q), services, lookup, crosswalk=crosswalk)


# --- filters: is the service suggested at all? ------------------------------------------

FILTERS = [
    # status and capacity
    ("active", {}, {}, True),
    ("inactive", {"status": "inactive"}, {}, False),
    ("temporarily closed", {"status": "temporarily closed"}, {}, False),
    ("capacity 0", {"capacity": 0}, {}, False),
    ("capacity 3", {"capacity": 3}, {}, True),
    # category
    (
        "a sibling AIRS code",
        {"terms": (Term(taxonomy="AIRS", code="BH-1800.8500"),), "name": "Shelter"},
        {},
        False,
    ),
    ("no term, a word of the description", {"terms": (), "description": "Free groceries"}, {}, True),
    # distance
    ("beyond km", {"km": 5.5}, {"km": 5.0}, False),
    ("within km", {"km": 4.9}, {"km": 5.0}, True),
    ("no coordinates", {"point": None}, {}, False),
    # age
    ("age inside", {"age_min": 0, "age_max": 18}, {"age": 12}, True),
    ("age above", {"age_min": 0, "age_max": 18}, {"age": 19}, False),
    ("18 and some months fits 0-18", {"age_min": 0, "age_max": 18}, {"age": 18.7}, True),
    ("age below", {"age_min": 5}, {"age": 4}, False),
    ("age unknown", {"age_min": 5}, {}, True),
    # language
    ("language not listed", {"languages": ("en",)}, {"language": "es"}, False),
    ("language listed", {"languages": ("en", "es")}, {"language": "es"}, True),
    ("language listed as ISO 639-3", {"languages": ("spa",)}, {"language": "Spanish"}, True),
    ("no languages listed", {}, {"language": "es"}, True),
    # service area
    ("postal code served", {"service_area": ("02907",)}, {"postal_code": "02907"}, True),
    ("postal code not served", {"service_area": ("02903", "02904")}, {"postal_code": "02907"}, False),
    ("ZIP+4 against ZIP", {"service_area": ("02907-1234",)}, {"postal_code": "02907"}, True),
    (
        "named area cannot be checked",
        {"service_area": ("Providence County",)},
        {"postal_code": "02907"},
        True,
    ),
    ("area but no postal code asked", {"service_area": ("02903",)}, {}, True),
    # hours
    (
        "closed all week",
        {"schedules": (ScheduleRule(freq="MONTHLY", byday="1SA", opens_at="09:00", closes_at="12:00"),)},
        {},
        False,
    ),
    ("hours unknown", {"schedules": (ScheduleRule(description="Call first"),)}, {}, True),
    ("no schedule at all", {"schedules": ()}, {}, True),
]


@pytest.mark.parametrize(("fields", "query", "kept"), [f[1:] for f in FILTERS], ids=[f[0] for f in FILTERS])
def test_filters(
    crosswalk: dict[str, Any], fields: dict[str, Any], query: dict[str, Any], kept: bool
) -> None:
    assert bool(ranked(crosswalk, [svc(**fields)], **query)) is kept


# --- explanations ------------------------------------------------------------------------

SPANISH_KIDS = {"languages": ("es",), "age_min": 0, "age_max": 18}
EXPLAINED = [
    ("the issue's example", {"km": 1.2, **SPANISH_KIDS}, {"language": "es", "transit": True}, [bus()],
     "1.2 km; bus 60 from Broad St at 15:40, arrives 15:58; open until 18:00; Spanish spoken; ages 0–18"),
    ("opens later today", {"schedules": (ScheduleRule(freq="WEEKLY", byday="MO", opens_at="16:00",
                                                      closes_at="18:00"),)}, {}, None,
     "1.0 km; opens 16:00, until 18:00"),
    ("opens another day", {"schedules": (ScheduleRule(freq="WEEKLY", byday="TU", opens_at="09:00",
                                                      closes_at="17:00"),)}, {}, None,
     "1.0 km; opens Tue 09:00, until 17:00"),
    ("overnight until past midnight", {"schedules": (ScheduleRule(freq="WEEKLY", byday="MO", opens_at="15:00",
                                                                  closes_at="02:00"),)}, {}, None,
     "1.0 km; open until 02:00"),
    ("hours unknown", {"schedules": ()}, {}, None, "1.0 km; hours not published"),
    ("walking distance", {"km": 0.5}, {"transit": True}, [bus()],
     "0.5 km; walking distance; open until 18:00"),
    ("no trip", {}, {"transit": True}, [], "1.0 km; no direct trip found; open until 18:00"),
    ("a trip arriving too late to be seen",
     {"schedules": (ScheduleRule(freq="WEEKLY", byday="MO", opens_at="09:00", closes_at="16:05"),)},
     {"transit": True}, [bus(arrives="15:58")], "1.0 km; no direct trip found; open until 16:05"),
    ("English assumed", {}, {"language": "en"}, None, "1.0 km; open until 18:00; English assumed"),
    ("other language unpublished", {}, {"language": "ht"}, None,
     "1.0 km; open until 18:00; languages not published"),
    ("minimum age only", {"age_min": 5}, {}, None, "1.0 km; open until 18:00; ages 5+"),
    ("maximum age only", {"age_max": 18.5}, {}, None, "1.0 km; open until 18:00; ages up to 18.5"),
    ("capacity", {"capacity": 3}, {}, None, "1.0 km; open until 18:00; 3 places available"),
    ("named area", {"service_area": ("Providence County",)}, {"postal_code": "02907"}, None,
     "1.0 km; open until 18:00; serves Providence County (check the address)"),
    ("matched by name", {"terms": (), "name": "Eastside Food Bank"}, {}, None,
     "1.0 km; open until 18:00; matched by its name"),
    ("matched by description", {"terms": (), "name": "St Mary's", "description": "Hot meals daily"}, {}, None,
     "1.0 km; open until 18:00; matched by its description"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("fields", "query", "options", "expected"), [e[1:] for e in EXPLAINED], ids=[e[0] for e in EXPLAINED]
)
def test_explanations(
    crosswalk: dict[str, Any],
    fields: dict[str, Any],
    query: dict[str, Any],
    options: list[TransitOption] | None,
    expected: str,
) -> None:
    transit = FakeTransit(*options) if options is not None else None
    [suggestion] = ranked(crosswalk, [svc(**fields)], transit, **query)
    assert suggestion.explanation == expected


def test_a_trip_past_midnight_is_read_on_its_service_day(crosswalk: dict[str, Any]) -> None:
    late = ScheduleRule(freq="WEEKLY", byday="MO", opens_at="22:00", closes_at="02:00")
    transit = FakeTransit(bus(departs="24:10", arrives="24:30", route="N"))
    when = MONDAY_1530.replace(hour=23, minute=50)
    [s] = ranked(crosswalk, [svc(schedules=(late,))], transit, transit=True, when=when)
    assert s.explanation == "1.0 km; bus N from Broad St at 00:10, arrives 00:30; open until 02:00"
    assert transit.calls == [("s1", when)]


def test_an_option_s_own_instant_wins_over_its_clock_text(crosswalk: dict[str, Any]) -> None:
    closes_1605 = ScheduleRule(freq="WEEKLY", byday="MO", opens_at="09:00", closes_at="16:05")
    early = dataclasses.replace(bus(arrives="15:58"), arrives_at=MONDAY_1530.replace(hour=15, minute=45),
                                every_minutes=10)  # fmt: skip
    [s] = ranked(crosswalk, [svc(schedules=(closes_1605,))], FakeTransit(early), transit=True)
    assert (
        s.explanation
        == "1.0 km; bus 60 from Broad St at 15:40 (every 10 min), arrives 15:58; open until 16:05"
    )


def test_transit_leaves_before_the_service_opens(crosswalk: dict[str, Any]) -> None:
    later = ScheduleRule(freq="WEEKLY", byday="MO", opens_at="17:00", closes_at="19:00")
    transit = FakeTransit(bus(departs="16:20", arrives="16:40"))
    [s] = ranked(crosswalk, [svc(schedules=(later,))], transit, transit=True)
    assert transit.calls == [("s1", MONDAY_1530.replace(hour=16, minute=15))]
    assert s.transit == transit.options[0]


def test_transit_is_looked_up_only_for_the_best_candidates(crosswalk: dict[str, Any]) -> None:
    services = [svc(f"s{i:02d}", km=0.9 + i * 0.1) for i in range(30)]
    transit = FakeTransit(bus())
    found = rank(need(transit=True, limit=5), services, transit, crosswalk=crosswalk, transit_lookups=7)
    assert [c[0] for c in transit.calls] == [f"s{i:02d}" for i in range(7)]
    assert [s.service.id for s in found] == [f"s{i:02d}" for i in range(5)]


# --- score ------------------------------------------------------------------------------

SCORES = [
    # distance 40*(1-d/km) + hours 25 (open now) + transit 20 + language 10 + term 5
    ("1 km, open, trip, by term", {}, {"transit": True}, [bus()], 40 * 0.8 + 25 + 20 + 10 + 5),
    ("no trip", {}, {"transit": True}, [], 40 * 0.8 + 25 + 0 + 10 + 5),
    ("transit not asked", {}, {}, None, 40 * 0.8 + 25 + 0 + 10 + 5),
    ("opens in 14.5 hours", {}, {"when": MONDAY_1530.replace(hour=18, minute=30)}, None,
     round(40 * 0.8 + 25 * (1 - 14.5 / 168) + 10 + 5, 2)),
    ("hours unknown", {"schedules": ()}, {}, None, 40 * 0.8 + 5 + 10 + 5),
    ("language unpublished", {}, {"language": "es"}, None, 40 * 0.8 + 25 + 5 + 5),
    ("matched by words", {"terms": (), "name": "Food Bank"}, {}, None, 40 * 0.8 + 25 + 10 + 0),
    ("near the limit", {"km": 4.5}, {"km": 5.0}, None, 40 * 0.1 + 25 + 10 + 5),
]  # fmt: skip


@pytest.mark.parametrize(
    ("fields", "query", "options", "expected"), [s[1:] for s in SCORES], ids=[s[0] for s in SCORES]
)
def test_score(
    crosswalk: dict[str, Any],
    fields: dict[str, Any],
    query: dict[str, Any],
    options: list[TransitOption] | None,
    expected: float,
) -> None:
    transit = FakeTransit(*options) if options is not None else None
    [suggestion] = ranked(crosswalk, [svc(**fields)], transit, **query)
    assert suggestion.score == pytest.approx(expected, abs=0.01)


def test_order_is_by_score_then_id_and_limited(crosswalk: dict[str, Any]) -> None:
    services = [svc("b", km=1.0), svc("a", km=1.0), svc("c", km=2.0), svc("d", km=0.5)]
    assert [s.service.id for s in ranked(crosswalk, services)] == ["d", "a", "b", "c"]
    assert [s.service.id for s in ranked(crosswalk, list(reversed(services)), limit=2)] == ["d", "a"]


def test_suggestion_as_json(crosswalk: dict[str, Any]) -> None:
    [s] = ranked(crosswalk, [svc()], FakeTransit(bus()), transit=True)
    doc = s.to_dict()
    assert doc["opens"] == "2026-12-07T09:00:00-05:00"
    assert doc["transit"]["route"] == "60"
    assert doc["matchedBy"] == "211/AIRS BD-1800.2000"


@pytest.mark.parametrize(
    ("query", "path"),
    [
        ({"when": dt.datetime(2026, 12, 7, 15, 30)}, "when"),
        ({"km": 0}, "km"),
        ({"age": -1}, "age"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
    ],
)
def test_invalid_queries_name_the_field(query: dict[str, Any], path: str) -> None:
    with pytest.raises(InputInvalid) as caught:
        need(**query)
    assert [i.path for i in caught.value.issues] == [path]


def test_unknown_category_names_the_known_ones(crosswalk: dict[str, Any]) -> None:
    with pytest.raises(InputInvalid) as caught:
        ranked(crosswalk, [svc()], category="snacks")
    assert "food-insecurity" in caught.value.issues[0].message


@pytest.mark.parametrize(
    ("text", "code"),
    [("es", "es"), ("es-MX", "es"), ("Spanish", "es"), ("spa", "es"), ("HT", "ht"), ("", "")],
)
def test_normalise_language(text: str, code: str) -> None:
    assert normalise_language(text) == code


def test_values_are_frozen(crosswalk: dict[str, Any]) -> None:
    [s] = ranked(crosswalk, [svc()])
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.score = 0  # type: ignore[misc]
