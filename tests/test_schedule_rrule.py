"""RFC 5545 parts of HSDS 3 schedules beyond BYDAY/BYMONTHDAY (gateway.core.schedule): COUNT,
BYWEEKNO and BYYEARDAY (negative ones too), YEARLY, and the day a rule without BY parts takes
from its DTSTART. Each expected list was checked against dateutil.rrule."""

from __future__ import annotations

import datetime as dt

import pytest

from gateway.core.directory import ScheduleRule
from gateway.core.schedule import hours_known, open_windows

HOURS = {"opens_at": "09:00", "closes_at": "10:00", "timezone": "UTC"}


def days(first: str, last: str, **fields: object) -> list[str]:
    """The dates the rule opens on between ``first`` and ``last`` (inclusive), in UTC."""
    rule = ScheduleRule(**{**HOURS, **fields})  # type: ignore[arg-type]
    start = dt.datetime.fromisoformat(first).replace(tzinfo=dt.UTC)
    end = dt.datetime.fromisoformat(last).replace(tzinfo=dt.UTC) + dt.timedelta(days=1)
    return [opens.date().isoformat() for opens, _ in open_windows([rule], start, end, "UTC")]


CASES = [
    # COUNT
    ("count ends a weekly rule", {"freq": "WEEKLY", "byday": "TU", "dtstart": "2026-12-01", "count": 3},
     "2026-11-01", "2027-01-31", ["2026-12-01", "2026-12-08", "2026-12-15"]),
    ("count from valid_from without dtstart",
     {"freq": "WEEKLY", "byday": "MO,WE", "valid_from": "2026-12-01", "count": 3},
     "2026-11-01", "2026-12-31", ["2026-12-02", "2026-12-07", "2026-12-09"]),
    ("count counts from dtstart, valid_from only hides",
     {"freq": "WEEKLY", "byday": "TU", "dtstart": "2026-12-01", "valid_from": "2026-12-10", "count": 3},
     "2026-11-01", "2026-12-31", ["2026-12-15"]),
    ("count of a monthly ordinal", {"freq": "MONTHLY", "byday": "1SA", "dtstart": "2026-11-07", "count": 2},
     "2026-10-01", "2027-03-31", ["2026-11-07", "2026-12-05"]),
    ("a dtstart the rule does not produce is not counted",
     {"freq": "WEEKLY", "byday": "FR", "dtstart": "2026-12-01", "count": 2},
     "2026-11-01", "2026-12-31", ["2026-12-04", "2026-12-11"]),
    ("until earlier than count wins",
     {"freq": "WEEKLY", "byday": "TU", "dtstart": "2026-12-01", "until": "2026-12-08", "count": 5},
     "2026-11-01", "2026-12-31", ["2026-12-01", "2026-12-08"]),
    ("count earlier than valid_to wins",
     {"freq": "WEEKLY", "byday": "TU", "dtstart": "2026-12-01", "valid_to": "2027-12-31", "count": 2},
     "2026-11-01", "2026-12-31", ["2026-12-01", "2026-12-08"]),
    ("count counts what interval selects",
     {"freq": "WEEKLY", "interval": 2, "byday": "TU", "dtstart": "2026-12-01", "count": 2},
     "2026-11-01", "2027-01-31", ["2026-12-01", "2026-12-15"]),
    # BYWEEKNO (ISO weeks; HSDS pairs it with WEEKLY)
    ("byweekno 41,42 on Saturdays", {"freq": "WEEKLY", "byday": "SA", "byweekno": "41,42"},
     "2026-09-01", "2026-12-31", ["2026-10-10", "2026-10-17"]),
    ("week 1 starts in the year before", {"freq": "WEEKLY", "byday": "MO", "byweekno": "1"},
     "2025-12-01", "2026-01-31", ["2025-12-29"]),
    ("-1 is the ISO year's last week, here in January", {"freq": "WEEKLY", "byday": "FR", "byweekno": "-1"},
     "2026-12-20", "2027-01-10", ["2027-01-01"]),
    ("53 only in a year that has it", {"freq": "WEEKLY", "byday": "TH", "byweekno": "53"},
     "2026-01-01", "2028-01-31", ["2026-12-31"]),
    ("-2 is week 51 of a 52-week year", {"freq": "WEEKLY", "byday": "WE", "byweekno": "-2"},
     "2027-01-01", "2027-12-31", ["2027-12-22"]),
    ("byweekno without byday: the whole week", {"freq": "WEEKLY", "byweekno": "2", "dtstart": "2026-01-01"},
     "2026-01-01", "2026-01-31",
     ["2026-01-05", "2026-01-06", "2026-01-07", "2026-01-08", "2026-01-09", "2026-01-10", "2026-01-11"]),
    ("byweekno with interval counted in weeks",
     {"freq": "WEEKLY", "interval": 2, "byday": "MO", "byweekno": "10,11,12", "dtstart": "2026-03-02"},
     "2026-01-01", "2026-12-31", ["2026-03-02", "2026-03-16"]),
    # BYYEARDAY
    ("byyearday 1 and -1, yearly", {"freq": "YEARLY", "byyearday": "1,-1"},
     "2026-12-01", "2027-01-05", ["2026-12-31", "2027-01-01"]),
    ("366 only in a leap year", {"freq": "YEARLY", "byyearday": "366"},
     "2026-01-01", "2028-12-31", ["2028-12-31"]),
    ("60 is 1 March, or 29 February in a leap year", {"freq": "YEARLY", "byyearday": "60"},
     "2027-01-01", "2028-12-31", ["2027-03-01", "2028-02-29"]),
    ("-366 only in a leap year", {"freq": "YEARLY", "byyearday": "-366"},
     "2027-01-01", "2028-12-31", ["2028-01-01"]),
    ("byyearday limits a weekly rule", {"freq": "WEEKLY", "byday": "FR", "byyearday": "-7,-6,-5,-4,-3,-2,-1"},
     "2026-01-01", "2026-12-31", ["2026-12-25"]),
    ("byyearday limits a monthly rule", {"freq": "MONTHLY", "bymonthday": "1", "byyearday": "1"},
     "2026-01-01", "2027-12-31", ["2026-01-01", "2027-01-01"]),
    # YEARLY and the days a rule takes from DTSTART
    ("yearly on dtstart's date", {"freq": "YEARLY", "dtstart": "2024-07-04"},
     "2026-01-01", "2027-12-31", ["2026-07-04", "2027-07-04"]),
    ("yearly every other year", {"freq": "YEARLY", "interval": 2, "dtstart": "2025-07-04"},
     "2026-01-01", "2028-12-31", ["2027-07-04"]),
    ("yearly -1MO the year's last Monday", {"freq": "YEARLY", "byday": "-1MO"},
     "2026-01-01", "2026-12-31", ["2026-12-28"]),
    ("yearly 20MO the year's 20th Monday", {"freq": "YEARLY", "byday": "20MO"},
     "2026-01-01", "2026-12-31", ["2026-05-18"]),
    ("yearly with count", {"freq": "YEARLY", "byyearday": "100", "dtstart": "2026-01-01", "count": 2},
     "2026-01-01", "2029-12-31", ["2026-04-10", "2027-04-10"]),
    ("monthly without BY parts: dtstart's day of the month", {"freq": "MONTHLY", "dtstart": "2026-10-15"},
     "2026-11-01", "2026-12-31", ["2026-11-15", "2026-12-15"]),
    ("an ordinal in a weekly rule is that weekday", {"freq": "WEEKLY", "byday": "1MO"},
     "2026-12-01", "2026-12-15", ["2026-12-07", "2026-12-14"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("fields", "first", "last", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_rrule_parts(fields: dict[str, object], first: str, last: str, expected: list[str]) -> None:
    assert days(first, last, **fields) == expected


UNKNOWN = [
    ("count without dtstart or valid_from", {"freq": "WEEKLY", "byday": "MO", "count": 3}),
    ("count of zero", {"freq": "WEEKLY", "byday": "MO", "dtstart": "2026-12-01", "count": 0}),
    ("byweekno 54", {"freq": "WEEKLY", "byday": "MO", "byweekno": "54"}),
    ("byweekno 0", {"freq": "WEEKLY", "byday": "MO", "byweekno": "0"}),
    ("byyearday 367", {"freq": "YEARLY", "byyearday": "367"}),
    ("byyearday not a number", {"freq": "YEARLY", "byyearday": "first"}),
    ("bymonthday 32", {"freq": "MONTHLY", "bymonthday": "32"}),
    ("yearly without a day or dtstart", {"freq": "YEARLY"}),
    ("monthly without a day or dtstart", {"freq": "MONTHLY"}),
]


@pytest.mark.parametrize("fields", [c[1] for c in UNKNOWN], ids=[c[0] for c in UNKNOWN])
def test_rules_that_cannot_be_read_leave_the_hours_unknown(fields: dict[str, object]) -> None:
    """Not guessed at, and never read as closed: "hours not published"."""
    rule = ScheduleRule(**{**HOURS, **fields})  # type: ignore[arg-type]
    assert not hours_known([rule])
    assert days("2026-01-01", "2026-12-31", **fields) == []


def test_a_counted_closure_removes_only_its_occurrences() -> None:
    weekdays = ScheduleRule(freq="WEEKLY", byday="MO,TU,WE,TH,FR", **HOURS)
    closed = ScheduleRule(freq="WEEKLY", byday="MO", dtstart="2026-12-07", count=2, closed=True)
    start, end = dt.datetime(2026, 12, 7, tzinfo=dt.UTC), dt.datetime(2026, 12, 29, tzinfo=dt.UTC)
    opened = [o.date().isoformat() for o, _ in open_windows([weekdays, closed], start, end, "UTC")]
    assert [d for d in opened if dt.date.fromisoformat(d).weekday() == 0] == ["2026-12-21", "2026-12-28"]
