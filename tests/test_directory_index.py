"""The match latency work (issue 16) changes how a search reads, never what it answers:

- ``matching.rank_loading`` (services given without their schedules, the whole service read by id
  only while it can still be suggested) gives exactly ``rank`` over the whole services, for limits,
  transit budgets and trips that lift a candidate over others, and reads fewer services than the
  circle holds when most publish hours (the bound prunes);
- ``TripSearch._near_all`` (the stops near several places in one query) gives each place the
  stops its own query reads;
- ``geo.distance_from`` is ``haversine_km`` to the last bit, and ``geo.cells_around`` adds the
  cells across the antimeridian as ``services_near`` does;
- migration 0016 leaves the point indexes the search relies on (SQLite and PostgreSQL).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import pathlib
import random
from collections.abc import Sequence
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import inspect

from gateway.core.directory import ScheduleRule, ServiceAtLocation, Term
from gateway.core.geo import Point, cells_around, cells_within, distance_from, haversine_km
from gateway.core.matching import NeedQuery, rank, rank_loading
from gateway.core.transit import TransitOption
from gateway.service.directory.transit import TripSearch
from gateway.service.directory.transit_import import import_feed
from gateway.service.runtime import Runtime
from tests.test_directory_speed_transit import _feed

NY = ZoneInfo("America/New_York")
CENTRE = Point(lat=41.82, lon=-71.41)
CROSSWALK = {
    "food-insecurity": {
        "airs": ["BD-1800"],
        "open-eligibility": ["food pantry"],
        "keywords": ["food", "meal"],
    }
}
HOURS = [
    (),
    (ScheduleRule(freq="WEEKLY", byday="MO,WE,FR", opens_at="09:00", closes_at="17:00"),),
    (ScheduleRule(freq="WEEKLY", byday="SA", opens_at="10:00", closes_at="12:00"),),
    (ScheduleRule(freq="WEEKLY", byday="TU", opens_at="18:00", closes_at="21:00"),),
    (ScheduleRule(freq="WEEKLY", byday="SU", opens_at="09:00", closes_at="17:00", valid_to="2020-01-01"),),
]


def _service(rand: random.Random, i: int, hours: Sequence[tuple[ScheduleRule, ...]]) -> ServiceAtLocation:
    terms = rand.choice(
        [(), (Term(taxonomy="AIRS", code="BD-1800.2000"),), (Term(taxonomy="OE", code="food pantry"),)]
    )
    return ServiceAtLocation(
        id=f"s{i:04d}",
        source="test",
        service_id=f"s{i}",
        location_id=f"l{i}",
        name=rand.choice(["Food Pantry", "Meal site", "Service"]),
        organization=f"Org {i}",
        description=rand.choice(["", "hot meals", "advice"]),
        terms=terms,
        languages=tuple(rand.sample(["en", "es", "pt"], rand.randint(0, 2))),
        age_min=rand.choice([None, 0.0, 12.0]),
        age_max=rand.choice([None, 18.0]),
        point=Point(lat=CENTRE.lat + rand.uniform(-0.04, 0.04), lon=CENTRE.lon + rand.uniform(-0.05, 0.05)),
        address=f"{i} Main St",
        schedules=rand.choice(hours),
        capacity=rand.choice([None, None, 0, 4]),
        status=rand.choice(["active", "active", "inactive"]),
    )


def _trips(asks: Sequence[tuple[ServiceAtLocation, dt.datetime]]) -> list[list[TransitOption]]:
    """A trip to every other service (by id), arriving 20 minutes after leaving."""
    found: list[list[TransitOption]] = []
    for service, leave in asks:
        if int(service.id[1:]) % 2:
            found.append([])
            continue
        arrives = leave + dt.timedelta(minutes=20)
        option = TransitOption(
            route="7",
            mode="bus",
            from_stop="A",
            departs=f"{leave:%H:%M}",
            to_stop="B",
            arrives=f"{arrives:%H:%M}",
            walk_to_stop_km=0.2,
            walk_from_stop_km=0.3,
            departs_at=leave,
            arrives_at=arrives,
        )
        found.append([option])
    return found


def _light(s: ServiceAtLocation) -> ServiceAtLocation:
    return dataclasses.replace(s, schedules=(), address="", organization="", source="")


@pytest.mark.parametrize(
    ("limit", "lookups", "transit", "hours"),
    [
        (10, None, True, HOURS),
        (3, None, True, HOURS),
        (10, 3, True, HOURS),
        (3, 10, True, HOURS),
        (10, None, False, HOURS),
        (1, None, True, HOURS[1:2]),  # every service publishes the same hours: bounds tie
        (50, None, True, HOURS),  # more wanted than found: everything is read
    ],
)
def test_rank_loading_answers_as_rank_over_the_whole_services(
    limit: int, lookups: int | None, transit: bool, hours: Sequence[tuple[ScheduleRule, ...]]
) -> None:
    rand = random.Random(limit * 100 + (lookups or 0) + len(hours))
    services = [_service(rand, i, hours) for i in range(300)]
    by_id = {s.id: s for s in services}
    compared = 0
    for k in range(40):
        need = NeedQuery(
            category="food-insecurity",
            point=Point(
                lat=CENTRE.lat + rand.uniform(-0.02, 0.02), lon=CENTRE.lon + rand.uniform(-0.03, 0.03)
            ),
            when=dt.datetime(2026, 12, rand.randint(1, 28), rand.randint(6, 21), tzinfo=NY),
            language=rand.choice(["", "es", "en"]),
            age=rand.choice([None, 8.0, 16.0]),
            km=rand.choice([1.0, 3.0, 5.0]),
            transit=transit,
            limit=limit,
            timezone="America/New_York",
        )
        expected = rank(
            need, services, None, crosswalk=CROSSWALK, transit_lookups=lookups, transit_batch=_trips
        )
        found = rank_loading(
            need,
            [_light(s) for s in services],
            lambda ids: {i: by_id[i] for i in ids},
            crosswalk=CROSSWALK,
            transit_lookups=lookups,
            transit_batch=_trips,
        )
        assert [s.to_dict() for s in found] == [s.to_dict() for s in expected], k
        assert [s.service for s in found] == [s.service for s in expected]
        compared += len(found)
    assert compared > 20  # the needs do find services


def test_rank_loading_reads_only_the_candidates_that_can_still_be_suggested() -> None:
    rand = random.Random(5)
    services = [_service(rand, i, HOURS[1:3]) for i in range(400)]
    by_id = {s.id: s for s in services}
    read: list[str] = []

    def load(ids: Sequence[str]) -> dict[str, ServiceAtLocation]:
        read.extend(ids)
        return {i: by_id[i] for i in ids}

    need = NeedQuery(category="food-insecurity", point=CENTRE, when=dt.datetime(2026, 12, 2, 10, tzinfo=NY),
                     km=5.0, limit=5, timezone="America/New_York")  # fmt: skip
    found = rank_loading(need, [_light(s) for s in services], load, crosswalk=CROSSWALK, transit_batch=_trips)
    candidates = len(rank(dataclasses.replace(need, limit=10_000), services, None, crosswalk=CROSSWALK))
    assert len(found) == 5
    assert len(set(read)) == len(read)  # none read twice
    assert 5 <= len(read) < candidates / 3


@pytest.mark.parametrize("seed", range(5))
def test_distance_from_is_haversine_to_the_last_bit(seed: int) -> None:
    rand = random.Random(seed)
    origin = Point(lat=rand.uniform(-89, 89), lon=rand.uniform(-180, 180))
    km = distance_from(origin)
    for _ in range(200):
        other = Point(lat=rand.uniform(-90, 90), lon=rand.uniform(-180, 180))
        assert km(other.lat, other.lon) == haversine_km(origin, other)


@pytest.mark.parametrize(
    ("lat", "lon", "km"),
    [(41.82, -71.41, 5.0), (-17.7, 179.98, 5.0), (-17.7, -179.99, 3.0), (64.0, 179.9, 20.0), (0.0, 0.0, 1.0)],
)
def test_cells_around_adds_the_cells_across_the_antimeridian(lat: float, lon: float, km: float) -> None:
    place = Point(lat=lat, lon=lon)
    found = cells_around(place, km)
    assert found == sorted(set(found))
    assert set(cells_within(place, km)) <= set(found)
    columns = {int(cell.split(":")[1]) for cell in found}
    crosses = abs(lon) + km / (111.32 * math.cos(math.radians(lat))) > 180.0
    # across the antimeridian the circle takes columns at both ends of the grid
    assert (min(columns) < 0 < max(columns) and max(columns) - min(columns) > 180) == crosses


@pytest.fixture
def grid(bare_rt: Runtime, tmp_path: pathlib.Path) -> Runtime:
    _feed(tmp_path, seed=16)
    import_feed(bare_rt, tmp_path, name="grid")
    return bare_rt


def test_stops_near_several_places_in_one_query_are_each_place_s_own(grid: Runtime) -> None:
    rand = random.Random(9)
    places = [
        Point(lat=41.82 + rand.uniform(-0.01, 0.07), lon=-71.41 + rand.uniform(-0.01, 0.09))
        for _ in range(30)
    ]
    stops = 0
    with grid.sessions() as session:
        for walk_km in (0.3, 0.8):
            search = TripSearch(session, CENTRE, walk_km)
            together = search._near_all(places)
            assert together == [search._near(place) for place in places]
            stops += sum(len(w) for w in together)
    assert stops > 60  # the places do have stops near them


def test_the_search_indexes_are_there_after_migrating(bare_rt: Runtime) -> None:
    inspector = inspect(bare_rt.engine)
    services = {i["name"]: i["column_names"] for i in inspector.get_indexes("directory_services")}
    stops = {i["name"]: i["column_names"] for i in inspector.get_indexes("transit_stops")}
    assert services["ix_directory_services_cell_point"] == ["cell", "lat", "lon", "id"]
    assert stops["ix_transit_stops_cell_point"] == ["cell", "lat", "lon"]
    assert "ix_directory_services_cell" not in services
    assert "ix_transit_stops_cell" not in stops
