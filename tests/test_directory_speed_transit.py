"""A search's trips come from one ``TripSearch`` per origin that reads the origin's stops, the
feeds' zones and calendars and the frequency runs once: every trip it gives equals the trip
``trips_between`` finds alone (a fresh session, nothing cached), for many destinations and times
asked in one go, on a generated feed with weekday and weekend services, a removed and an added
day, frequency-based trips and trips past midnight (SQLite and PostgreSQL); and so does
``TripSearch.many``, which asks for all of them in one query per feed."""

from __future__ import annotations

import csv
import datetime as dt
import pathlib
import random
from zoneinfo import ZoneInfo

import pytest

from gateway.core.geo import Point
from gateway.service.directory.transit import trips_between, trips_from
from gateway.service.directory.transit_import import import_feed
from gateway.service.runtime import Runtime

NY = ZoneInfo("America/New_York")
CENTRE = (41.82, -71.41)
SIDE = 12  # a 12 x 12 grid of stops about 550 m apart


def _write(folder: pathlib.Path, name: str, rows: list[list[object]]) -> None:
    with (folder / name).open("w", newline="", encoding="utf-8") as file:
        csv.writer(file).writerows(rows)


def _feed(folder: pathlib.Path, seed: int) -> list[list[Point]]:
    """The feed in ``folder``; returns each route's stops, in order."""
    rand = random.Random(seed)
    stops = [
        (f"S{i}", CENTRE[0] + 0.005 * (i // SIDE), CENTRE[1] + 0.0066 * (i % SIDE)) for i in range(SIDE**2)
    ]
    agency = ["A", "Test Transit", "https://transit.example.org", "America/New_York"]
    _write(folder, "agency.txt", [["agency_id", "agency_name", "agency_url", "agency_timezone"], agency])
    stop_rows = [[s, f"Stop {s}", lat, lon] for s, lat, lon in stops]
    _write(folder, "stops.txt", [["stop_id", "stop_name", "stop_lat", "stop_lon"], *stop_rows])
    _write(folder, "routes.txt", [["route_id", "route_short_name", "route_long_name", "route_type"],
                                  *[[f"R{r}", str(r), f"Route {r}", 3] for r in range(8)]])  # fmt: skip
    days = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
    _write(folder, "calendar.txt", [["service_id", *days, "start_date", "end_date"],
                                    ["WK", 1, 1, 1, 1, 1, 0, 0, "20260101", "20271231"],
                                    ["WE", 0, 0, 0, 0, 0, 1, 1, "20260101", "20271231"]])  # fmt: skip
    christmas = [["WK", "20261225", 2], ["WE", "20261225", 1]]  # weekday service off, weekend on
    _write(folder, "calendar_dates.txt", [["service_id", "date", "exception_type"], *christmas])
    trips: list[list[object]] = [["route_id", "service_id", "trip_id"]]
    times: list[list[object]] = [["trip_id", "arrival_time", "departure_time", "stop_id", "stop_sequence"]]
    frequencies: list[list[object]] = [["trip_id", "start_time", "end_time", "headway_secs"]]
    lines: list[list[Point]] = []
    for r in range(8):
        first, step = rand.randrange(SIDE**2), rand.choice((1, SIDE, SIDE + 1))
        path = [stops[(first + k * step) % SIDE**2][0] for k in range(10)]
        lines.append([Point(lat=la, lon=lo) for s, la, lo in stops if s in path])
        for t in range(24):
            trip = f"R{r}-{t}"
            trips.append([f"R{r}", "WE" if t % 4 == 0 else "WK", trip])
            begin = 5 * 3600 + t * 3000 + r * 300  # 05:00 to past 01:00 the next morning
            for k, stop in enumerate(path if t % 2 == 0 else path[::-1]):
                clock = f"{(begin + k * 120) // 3600}:{(begin + k * 120) // 60 % 60:02d}:00"
                times.append([trip, clock, clock, stop, k + 1])
            if r % 3 == 0 and t == 1:
                frequencies.append([trip, "06:00:00", "22:00:00", 900])
    _write(folder, "trips.txt", trips)
    _write(folder, "stop_times.txt", times)
    _write(folder, "frequencies.txt", frequencies)
    return lines


@pytest.fixture
def feed(bare_rt: Runtime, tmp_path: pathlib.Path) -> tuple[Runtime, list[list[Point]]]:
    lines = _feed(tmp_path, seed=16)
    import_feed(bare_rt, tmp_path, name="grid")
    return bare_rt, lines


def _near(rand: random.Random, stop: Point) -> Point:
    return Point(lat=stop.lat + rand.uniform(-0.003, 0.003), lon=stop.lon + rand.uniform(-0.004, 0.004))


def test_one_search_per_origin_gives_the_trips_of_each_search_alone(
    feed: tuple[Runtime, list[list[Point]]],
) -> None:
    rt, lines = feed
    rand = random.Random(5)
    compared = found = 0
    for _ in range(6):
        line = rand.choice(lines)  # places along one route, and some anywhere
        origin = _near(rand, rand.choice(line))
        places = [_near(rand, rand.choice(line if k < 8 else rand.choice(lines))) for k in range(10)]
        asked = [(place, _leave(rand)) for place in places]
        alone = [trips_between(rt, origin, d, leave_after=t, walk_km=0.8) for d, t in asked]
        with trips_from(rt, origin, walk_km=0.8) as trips:  # one session (on SQLite: no other)
            together = [trips.to(d, leave_after=t) for d, t in asked]
        with trips_from(rt, origin, walk_km=0.8) as trips:  # every destination in one query per feed
            at_once = trips.many(asked)
        assert together == alone, origin
        assert at_once == alone, origin
        compared, found = compared + len(asked), found + sum(map(len, alone))
    assert compared == 60
    assert found > 40  # trips are found: the comparison bites


def _leave(rand: random.Random) -> dt.datetime:
    day = rand.choice((dt.date(2026, 12, 7), dt.date(2026, 12, 12), dt.date(2026, 12, 25)))
    return dt.datetime.combine(day, dt.time(rand.randint(0, 23), rand.randrange(60)), tzinfo=NY)
