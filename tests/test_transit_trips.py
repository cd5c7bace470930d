"""trips_between over the hand-written feed tests/fixtures/gtfs-clean (New York time): which
direct trips a family can take between Broad St and the Clinic, as a table."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from gateway.core.geo import Point
from gateway.service.directory.transit import trips_between
from gateway.service.directory.transit_import import import_feed

CLEAN = Path(__file__).parent / "fixtures" / "gtfs-clean"
BROAD_ST = Point(lat=41.8, lon=-71.4)
CLINIC = Point(lat=41.83, lon=-71.4)


def _calendar_dates_only(target: Path) -> Path:
    """The clean feed with its weekday and Saturday calendars written out as calendar_dates rows."""
    target.mkdir()
    for f in CLEAN.glob("*.txt"):
        if f.name != "calendar.txt":
            (target / f.name).write_text(f.read_text())
    rows = (CLEAN / "calendar_dates.txt").read_text().splitlines()
    day = dt.date(2026, 11, 1)
    while day <= dt.date(2026, 12, 31):
        if day.weekday() < 5 and day != dt.date(2026, 12, 25):
            rows.append(f"WK,{day:%Y%m%d},1")
        if day.weekday() == 5:
            rows.append(f"SAT,{day:%Y%m%d},1")
        day += dt.timedelta(days=1)
    (target / "calendar_dates.txt").write_text("\n".join(rows) + "\n")
    return target


@pytest.fixture(params=["calendar", "calendar_dates only"])
def feed_rt(request, bare_rt, tmp_path):
    path = CLEAN if request.param == "calendar" else _calendar_dates_only(tmp_path / "dates-only")
    report = import_feed(bare_rt, path, name="clean")
    assert report.to_dict()["problemCount"] == 0
    return bare_rt


MON, FRI_HOLIDAY, SAT_EXTRA, SAT = (
    dt.date(2026, 12, 7),
    dt.date(2026, 12, 25),
    dt.date(2026, 12, 5),
    dt.date(2026, 12, 12),
)


def _at(day, hh, mm):
    return dt.datetime.combine(day, dt.time(hh, mm))


@pytest.mark.parametrize(
    ("origin", "destination", "leave_after", "minutes", "walk_km", "expected"),
    [
        # a weekday trip from the weekday calendar
        (BROAD_ST, CLINIC, _at(MON, 15, 30), 60, 0.8, [("1", "15:40", "15:58")]),
        # window edges: the departure at leave_after counts, one minute later it has gone;
        # a departure exactly at the window's end counts, one minute further it does not
        (BROAD_ST, CLINIC, _at(MON, 15, 40), 10, 0.8, [("1", "15:40", "15:58")]),
        (BROAD_ST, CLINIC, _at(MON, 15, 41), 60, 0.8, []),
        (BROAD_ST, CLINIC, _at(MON, 14, 40), 60, 0.8, [("1", "15:40", "15:58")]),
        (BROAD_ST, CLINIC, _at(MON, 14, 40), 59, 0.8, []),
        # 25:10 on Monday's service day is Tuesday 01:10; none after a Saturday or the holiday
        (BROAD_ST, CLINIC, _at(dt.date(2026, 12, 8), 1, 0), 30, 0.8, [("3", "01:10", "01:30")]),
        (BROAD_ST, CLINIC, _at(SAT, 1, 0), 30, 0.8, [("3", "01:10", "01:30")]),  # Friday's
        (BROAD_ST, CLINIC, _at(dt.date(2026, 12, 13), 1, 0), 30, 0.8, []),  # Saturday has no WK
        (BROAD_ST, CLINIC, _at(dt.date(2026, 12, 26), 1, 0), 30, 0.8, []),  # WK removed on the 25th
        # a window crossing midnight finds Monday's 25:10 from Monday 23:50
        (BROAD_ST, CLINIC, _at(MON, 23, 50), 30, 0.8, []),
        (BROAD_ST, CLINIC, _at(MON, 23, 50), 90, 0.8, [("3", "01:10", "01:30")]),
        # a frequency-based trip: runs every 20 minutes from 07:00 at Elmwood Ave (0.33 km away)
        (BROAD_ST, CLINIC, _at(MON, 7, 30), 30, 0.8, [("4", "07:40", "07:55"), ("4", "08:00", "08:15")]),
        (BROAD_ST, CLINIC, _at(MON, 8, 41), 60, 0.8, []),  # the last run leaves at 08:40
        # a stop too far to walk: the ferry's Far Point is 1.66 km from the Clinic
        (BROAD_ST, CLINIC, _at(MON, 9, 50), 30, 0.8, []),
        (BROAD_ST, CLINIC, _at(MON, 9, 50), 30, 2.0, [("Harbor Ferry", "10:00", "10:20")]),
        # a trip visiting the destination before the origin goes the other way
        (BROAD_ST, CLINIC, _at(MON, 15, 55), 30, 0.8, []),
        (CLINIC, BROAD_ST, _at(MON, 15, 55), 30, 0.8, [("1", "16:00", "16:20")]),
        # calendar_dates: the weekday service removed on the holiday, a holiday service added
        (BROAD_ST, CLINIC, _at(FRI_HOLIDAY, 15, 30), 60, 0.8, []),
        (BROAD_ST, CLINIC, _at(FRI_HOLIDAY, 10, 30), 60, 0.8, [("1", "11:00", "11:20")]),
        (BROAD_ST, CLINIC, _at(MON, 10, 30), 60, 0.8, []),
        # a Saturday calendar, and a service added on one Saturday only
        (BROAD_ST, CLINIC, _at(SAT, 11, 50), 30, 0.8, [("1", "12:00", "12:20")]),
        (BROAD_ST, CLINIC, _at(SAT_EXTRA, 12, 50), 30, 0.8, [("1", "13:00", "13:20")]),
        (BROAD_ST, CLINIC, _at(SAT, 12, 50), 30, 0.8, []),
    ],
)
def test_trips_between(feed_rt, origin, destination, leave_after, minutes, walk_km, expected):
    options = trips_between(
        feed_rt, origin, destination, leave_after=leave_after, within_minutes=minutes, walk_km=walk_km
    )
    assert [(o.route, o.departs, o.arrives) for o in options] == expected


def test_an_option_tells_its_stops_walks_and_times(feed_rt):
    (option,) = trips_between(feed_rt, BROAD_ST, CLINIC, leave_after=_at(MON, 7, 35), within_minutes=10)
    assert (option.from_stop, option.to_stop, option.mode, option.feed) == (
        "Elmwood Ave",
        "Clinic",
        "bus",
        "clean",
    )
    assert option.walk_to_stop_km == pytest.approx(0.334, abs=0.001)
    assert option.walk_from_stop_km == 0.0
    assert option.every_minutes == 20
    assert option.arrives_at == dt.datetime(2026, 12, 7, 12, 55, tzinfo=dt.UTC)  # 07:55 in New York
    assert option.explain() == "bus 4 from Elmwood Ave at 07:40, arrives Clinic 07:55"


def test_options_are_sorted_by_arrival_across_service_days(feed_rt):
    options = trips_between(feed_rt, BROAD_ST, CLINIC, leave_after=_at(MON, 0, 0), within_minutes=26 * 60)
    arrivals = [o.arrives_at for o in options]
    assert arrivals == sorted(arrivals)
    # Sunday's service day has no weekday service (no 01:10 on Monday); Monday's 25:10 comes last
    assert (options[0].route, options[0].departs) == ("4", "07:00")
    assert (options[-1].route, options[-1].departs, options[-1].arrives_at.day) == ("3", "01:10", 8)
    assert [o.departs for o in options if o.route == "4"] == [
        f"0{h}:{m:02d}" for h in (7, 8) for m in (0, 20, 40)
    ]
