"""The pure rules of GTFS time (gateway.core.transit) and the untimed-stop interpolation, as tables."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from gateway.core.transit import (
    Calendar,
    CalendarDate,
    Frequency,
    at,
    clock_text,
    mode_of,
    parse_date,
    parse_time,
    run_starts,
    services_on,
    windows,
)
from gateway.formats.gtfs_rows import StopTime, Untimed, timed_trips

NY = ZoneInfo("America/New_York")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("08:00:00", 8 * 3600),
        ("8:00:00", 8 * 3600),  # one-digit hours, as many feeds write them
        (" 6:05:09 ", 6 * 3600 + 5 * 60 + 9),  # padded
        ("25:10:00", 25 * 3600 + 600),  # past midnight of the service day
        ("00:00:00", 0),
        ("47:59:59", 47 * 3600 + 59 * 60 + 59),
    ],
)
def test_gtfs_times_are_seconds_from_the_service_days_origin(text, seconds):
    assert parse_time(text) == seconds


@pytest.mark.parametrize("text", ["", "8:00", "08:60:00", "08:00:61", "8h00", "08:0:00", "-1:00:00"])
def test_what_is_not_a_gtfs_time(text):
    with pytest.raises(ValueError, match=r"GTFS time|under 60"):
        parse_time(text)


@pytest.mark.parametrize(
    ("text", "day"), [("20261207", dt.date(2026, 12, 7)), (" 20260101", dt.date(2026, 1, 1))]
)
def test_gtfs_dates(text, day):
    assert parse_date(text) == day


@pytest.mark.parametrize("text", ["2026-12-07", "202612", "20261332"])
def test_what_is_not_a_gtfs_date(text):
    with pytest.raises(ValueError, match=r"GTFS date|month"):
        parse_date(text)


WEEKDAYS = Calendar(
    service_id="WK",
    weekdays=(True, True, True, True, True, False, False),
    start=dt.date(2026, 1, 1),
    end=dt.date(2026, 12, 31),
)
EXCEPTIONS = [
    CalendarDate(service_id="WK", date=dt.date(2026, 12, 25), exception_type=2),
    CalendarDate(service_id="HOL", date=dt.date(2026, 12, 25), exception_type=1),
]


@pytest.mark.parametrize(
    ("day", "running"),
    [
        # the calendar's weekday flags within its range
        (dt.date(2026, 12, 7), {"WK"}),  # a Monday
        (dt.date(2026, 12, 12), set()),  # a Saturday
        (dt.date(2027, 1, 4), set()),  # a Monday after end_date
        (dt.date(2026, 1, 1), {"WK"}),  # start_date is inclusive (a Thursday)
        (dt.date(2026, 12, 31), {"WK"}),  # end_date too
        # calendar_dates remove (2) and add (1) services; a service may live in calendar_dates only
        (dt.date(2026, 12, 25), {"HOL"}),
        (dt.date(2026, 12, 24), {"WK"}),
    ],
)
def test_services_running_on_a_day(day, running):
    assert services_on(day, [WEEKDAYS], EXCEPTIONS) == running


def test_a_feed_with_calendar_dates_only():
    dates = [CalendarDate(service_id="S", date=dt.date(2026, 12, d), exception_type=1) for d in (7, 8)]
    assert services_on(dt.date(2026, 12, 8), [], dates) == {"S"}
    assert services_on(dt.date(2026, 12, 9), [], dates) == set()


@pytest.mark.parametrize(
    ("frequencies", "starts"),
    [
        # end_time is exclusive, as in the spec's own example (06:00-07:59:59 then 08:00-...)
        ([Frequency(start=7 * 3600, end=8 * 3600, headway=1200)], [25200, 26400, 27600]),
        (
            [Frequency(start=0, end=1800, headway=600), Frequency(start=1800, end=2400, headway=300)],
            [0, 600, 1200, 1800, 2100],
        ),
        ([Frequency(start=100, end=100, headway=60)], []),
        ([Frequency(start=0, end=60, headway=60, exact_times=True)], [0]),
    ],
)
def test_frequency_runs(frequencies, starts):
    assert run_starts(frequencies) == starts


@pytest.mark.parametrize(
    ("leave_after", "minutes", "expected"),
    [
        # the local day and the day before (its trips past 24:00)
        (
            dt.datetime(2026, 12, 7, 15, 30),
            60,
            [("2026-12-06", 142200, 145800), ("2026-12-07", 55800, 59400)],
        ),
        # a window crossing midnight reaches the next service day too
        (
            dt.datetime(2026, 12, 7, 23, 30),
            60,
            [("2026-12-06", 171000, 174600), ("2026-12-07", 84600, 88200), ("2026-12-08", 0, 1800)],
        ),
        # an aware time is read in the feed's zone (20:30 UTC is 15:30 in New York in December)
        (
            dt.datetime(2026, 12, 7, 20, 30, tzinfo=dt.UTC),
            60,
            [("2026-12-06", 142200, 145800), ("2026-12-07", 55800, 59400)],
        ),
        # on the days clocks change, times count from noon minus 12 h, not midnight: 08:00 local
        # reads 08:00:00 in the feed though 9 (fall back) or 7 (spring forward) hours have passed
        (dt.datetime(2026, 11, 1, 8, 0), 0, [("2026-10-31", 118800, 118800), ("2026-11-01", 28800, 28800)]),
        (dt.datetime(2026, 3, 8, 8, 0), 0, [("2026-03-07", 111600, 111600), ("2026-03-08", 28800, 28800)]),
    ],
)
def test_service_day_windows(leave_after, minutes, expected):
    found = [(w.day.isoformat(), w.lo, w.hi) for w in windows(leave_after, minutes, NY)]
    assert found == expected


def test_a_time_past_24_is_the_next_morning():
    moment = at(dt.date(2026, 12, 7), parse_time("25:10:00"), NY)
    assert moment == dt.datetime(2026, 12, 8, 1, 10, tzinfo=NY)
    assert clock_text(moment) == "01:10"


@pytest.mark.parametrize(
    ("route_type", "mode"),
    [
        (0, "tram"),
        (1, "subway"),
        (2, "rail"),
        (3, "bus"),
        (4, "ferry"),
        (11, "trolleybus"),
        (700, "bus"),
        (715, "bus"),
        (109, "rail"),
        (1000, "ferry"),
        (99, "transit"),
    ],
)
def test_route_types_name_a_mode(route_type, mode):
    assert mode_of(route_type) == mode


def _st(seq, time, distance=None, line=0):
    return StopTime(
        line=line or seq + 1,
        trip_id="T",
        stop_id=f"S{seq}",
        sequence=seq,
        arrival=time,
        departure=time,
        pickup=0,
        drop_off=0,
        distance=distance,
    )


@pytest.mark.parametrize(
    ("rows", "times", "untimed_lines"),
    [
        # evenly by position when shape_dist_traveled is not on every row
        ([_st(1, 600), _st(2, None), _st(3, None), _st(4, 900)], [600, 700, 800, 900], []),
        # by distance when it is
        ([_st(1, 0, 0.0), _st(2, None, 3.0), _st(3, 400, 4.0)], [0, 300, 400], []),
        # rows out of order are put in stop order first
        ([_st(3, 400), _st(1, 0), _st(2, None)], [0, 200, 400], []),
        # an untimed stop at a trip's end cannot be placed: reported, not stored
        ([_st(1, None, line=7), _st(2, 100), _st(3, 200)], [100, 200], [7]),
    ],
)
def test_untimed_stops_are_interpolated(rows, times, untimed_lines):
    out = list(timed_trips(rows))
    untimed = [u.line for u in out if isinstance(u, Untimed)]
    kept = [g for g in out if not isinstance(g, Untimed)]
    assert [st.departure for group in kept for st in group] == times
    assert untimed == untimed_lines
