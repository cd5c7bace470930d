"""Opening hours from HSDS schedule rules (gateway.core.schedule): one table row per edge."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from gateway.core.directory import ScheduleRule
from gateway.core.schedule import first_window, hours_known, open_windows, zone_of

NY = ZoneInfo("America/New_York")


def rule(**fields: object) -> ScheduleRule:
    return ScheduleRule(**fields)  # type: ignore[arg-type]


WEEKDAYS = rule(freq="WEEKLY", byday="MO,TU,WE,TH,FR", opens_at="09:00", closes_at="17:00")


def local(windows: list[tuple[dt.datetime, dt.datetime]]) -> list[str]:
    """Each window as its own wall clock: "2026-12-07 09:00-17:00" (the close's date when it differs)."""
    shown = []
    for opens, closes in windows:
        end = closes.strftime("%H:%M" if closes.date() == opens.date() else "%m-%d %H:%M")
        shown.append(f"{opens:%Y-%m-%d %H:%M}-{end}")
    return shown


def between(rules: list[ScheduleRule], first: str, last: str, tz: str = "America/New_York") -> list[str]:
    zone = zone_of(tz)
    start = dt.datetime.fromisoformat(first).replace(tzinfo=zone)
    end = dt.datetime.fromisoformat(last).replace(tzinfo=zone)
    return local(open_windows(rules, start, end, zone))


CASES = [
    # weekly
    (
        "weekdays",
        [WEEKDAYS],
        "2026-12-04",
        "2026-12-08",
        ["2026-12-04 09:00-17:00", "2026-12-07 09:00-17:00"],
    ),
    (
        "byday defaults to dtstart's weekday",
        [rule(freq="WEEKLY", dtstart="2026-12-02", opens_at="10:00", closes_at="12:00")],
        "2026-11-30",
        "2026-12-14",
        ["2026-12-02 10:00-12:00", "2026-12-09 10:00-12:00"],
    ),
    (
        "every other week from dtstart",
        [
            rule(
                freq="WEEKLY",
                interval=2,
                byday="TU",
                dtstart="2026-12-01",
                opens_at="15:00",
                closes_at="18:00",
            )
        ],
        "2026-12-01",
        "2026-12-31",
        ["2026-12-01 15:00-18:00", "2026-12-15 15:00-18:00", "2026-12-29 15:00-18:00"],
    ),
    (
        "seconds in times",
        [rule(freq="WEEKLY", byday="TH", opens_at="10:00:00", closes_at="18:00:00")],
        "2026-12-01",
        "2026-12-05",
        ["2026-12-03 10:00-18:00"],
    ),
    (
        "row without freq but with weekdays is weekly",
        [rule(byday="MO", opens_at="08:00", closes_at="09:00")],
        "2026-12-06",
        "2026-12-08",
        ["2026-12-07 08:00-09:00"],
    ),
    # monthly
    (
        "1SA first Saturday",
        [rule(freq="MONTHLY", byday="1SA", opens_at="09:00", closes_at="12:00")],
        "2026-11-01",
        "2026-12-31",
        ["2026-11-07 09:00-12:00", "2026-12-05 09:00-12:00"],
    ),
    (
        "-1FR last Friday",
        [rule(freq="MONTHLY", byday="-1FR", opens_at="13:00", closes_at="16:00")],
        "2026-11-01",
        "2026-12-31",
        ["2026-11-27 13:00-16:00", "2026-12-25 13:00-16:00"],
    ),
    (
        "2TU,4TU",
        [rule(freq="MONTHLY", byday="2TU,4TU", opens_at="17:00", closes_at="19:00")],
        "2026-12-01",
        "2026-12-31",
        ["2026-12-08 17:00-19:00", "2026-12-22 17:00-19:00"],
    ),
    (
        "+1SA with a sign",
        [rule(freq="MONTHLY", byday="+1SA", opens_at="09:00", closes_at="10:00")],
        "2026-12-01",
        "2026-12-31",
        ["2026-12-05 09:00-10:00"],
    ),
    (
        "bymonthday 1,15 and -1",
        [rule(freq="MONTHLY", bymonthday="1,15,-1", opens_at="09:00", closes_at="10:00")],
        "2026-11-01",
        "2026-12-02",
        [
            "2026-11-01 09:00-10:00",
            "2026-11-15 09:00-10:00",
            "2026-11-30 09:00-10:00",
            "2026-12-01 09:00-10:00",
        ],
    ),
    (
        "byday and bymonthday both hold",
        [rule(freq="MONTHLY", byday="FR", bymonthday="13", opens_at="09:00", closes_at="10:00")],
        "2026-01-01",
        "2026-12-31",
        ["2026-02-13 09:00-10:00", "2026-03-13 09:00-10:00", "2026-11-13 09:00-10:00"],
    ),
    (
        "every other month from dtstart",
        [
            rule(
                freq="MONTHLY",
                interval=2,
                byday="1SA",
                dtstart="2026-10-03",
                opens_at="09:00",
                closes_at="12:00",
            )
        ],
        "2026-10-01",
        "2026-12-31",
        ["2026-10-03 09:00-12:00", "2026-12-05 09:00-12:00"],
    ),
    # bounds
    (
        "valid_from and valid_to",
        [
            rule(
                freq="WEEKLY",
                byday="MO",
                valid_from="2026-12-08",
                valid_to="2026-12-21",
                opens_at="09:00",
                closes_at="10:00",
            )
        ],
        "2026-12-01",
        "2026-12-31",
        ["2026-12-14 09:00-10:00", "2026-12-21 09:00-10:00"],
    ),
    (
        "until in RFC 5545 basic form",
        [
            rule(
                freq="MONTHLY",
                byday="1SA",
                dtstart="2026-07-04",
                until="20261107T235959Z",
                opens_at="09:00",
                closes_at="12:00",
            )
        ],
        "2026-10-01",
        "2026-12-31",
        ["2026-10-03 09:00-12:00", "2026-11-07 09:00-12:00"],
    ),
    # overnight and 24 hours
    (
        "overnight runs into the next day",
        [rule(freq="WEEKLY", byday="FR", opens_at="22:00", closes_at="02:00")],
        "2026-12-05 01:00",
        "2026-12-05 03:00",
        ["2026-12-04 22:00-12-05 02:00"],
    ),
    (
        "equal times are 24 hours",
        [rule(freq="WEEKLY", byday="SA", opens_at="00:00", closes_at="00:00")],
        "2026-12-05",
        "2026-12-06",
        ["2026-12-05 00:00-12-06 00:00"],
    ),
    (
        "24:00 closes at midnight",
        [rule(freq="WEEKLY", byday="SA", opens_at="18:00", closes_at="24:00")],
        "2026-12-05",
        "2026-12-06",
        ["2026-12-05 18:00-12-06 00:00"],
    ),
    (
        "adjacent rows merge",
        [
            rule(freq="WEEKLY", byday="MO", opens_at="09:00", closes_at="12:00"),
            rule(freq="WEEKLY", byday="MO", opens_at="12:00", closes_at="15:00"),
        ],
        "2026-12-07",
        "2026-12-08",
        ["2026-12-07 09:00-15:00"],
    ),
    # holidays and exceptions
    (
        "closed on a holiday",
        [
            WEEKDAYS,
            rule(closed=True, valid_from="2026-12-25", valid_to="2026-12-25", description="Christmas"),
        ],
        "2026-12-24",
        "2026-12-29",
        ["2026-12-24 09:00-17:00", "2026-12-28 09:00-17:00"],
    ),
    (
        "closed for a span of dates",
        [WEEKDAYS, rule(closed=True, valid_from="2026-12-24", valid_to="2026-12-28")],
        "2026-12-23",
        "2026-12-30",
        ["2026-12-23 09:00-17:00", "2026-12-29 09:00-17:00"],
    ),
    (
        "closed on a recurring day",
        [WEEKDAYS, rule(freq="MONTHLY", byday="-1FR", closed=True)],
        "2026-11-26",
        "2026-11-28",
        ["2026-11-26 09:00-17:00"],
    ),
    (
        "special hours replace the day's",
        [WEEKDAYS, rule(valid_from="2026-12-24", valid_to="2026-12-24", opens_at="10:00", closes_at="14:00")],
        "2026-12-23",
        "2026-12-25",
        ["2026-12-23 09:00-17:00", "2026-12-24 10:00-14:00"],
    ),
    (
        "a holiday keeps the overnight window opened the day before",
        [
            rule(freq="WEEKLY", byday="TH", opens_at="22:00", closes_at="02:00"),
            rule(closed=True, valid_from="2026-12-25", valid_to="2026-12-25"),
        ],
        "2026-12-25 00:00",
        "2026-12-26",
        ["2026-12-24 22:00-12-25 02:00"],
    ),
    # time zones and DST (US clocks go forward 2026-03-08, back 2026-11-01)
    (
        "wall clock kept on the day DST starts",
        [rule(freq="WEEKLY", byday="SU", opens_at="09:00", closes_at="17:00")],
        "2026-03-08",
        "2026-03-09",
        ["2026-03-08 09:00-17:00"],
    ),
    (
        "a skipped time is read after the jump",
        [rule(freq="WEEKLY", byday="SU", opens_at="02:30", closes_at="05:00")],
        "2026-03-08",
        "2026-03-09",
        ["2026-03-08 03:30-05:00"],
    ),
    (
        "rule's own zone",
        [
            rule(
                freq="WEEKLY", byday="MO", opens_at="09:00", closes_at="10:00", timezone="America/Los_Angeles"
            )
        ],
        "2026-12-07",
        "2026-12-08",
        ["2026-12-07 09:00-10:00"],
    ),
    ("no structure is no window", [rule(description="Call for hours")], "2026-12-01", "2026-12-31", []),
    (
        "a malformed row is not guessed at",
        [rule(freq="WEEKLY", byday="MONDAY", opens_at="09:00", closes_at="10:00")],
        "2026-12-01",
        "2026-12-31",
        [],
    ),
]


@pytest.mark.parametrize(
    ("rules", "first", "last", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_open_windows(rules: list[ScheduleRule], first: str, last: str, expected: list[str]) -> None:
    assert between(rules, first, last) == expected


def test_windows_are_instants_in_the_rules_zone() -> None:
    la = rule(freq="WEEKLY", byday="MO", opens_at="09:00", closes_at="10:00", timezone="America/Los_Angeles")
    start = dt.datetime(2026, 12, 7, tzinfo=NY)
    [(opens, closes)] = open_windows([la], start, start + dt.timedelta(days=1), NY)
    assert opens == dt.datetime(2026, 12, 7, 17, 0, tzinfo=dt.UTC)
    assert closes.timestamp() - opens.timestamp() == 3600


@pytest.mark.parametrize(
    ("day", "hours"),
    [
        ("2026-11-01", 9),  # clocks go back during the night: 22:00 EDT to 06:00 EST
        ("2026-03-07", 7),  # clocks go forward: 22:00 EST to 06:00 EDT
        ("2026-03-14", 8),
    ],
)
def test_overnight_across_dst_keeps_the_wall_clock(day: str, hours: int) -> None:
    night = rule(freq="WEEKLY", byday="SA,SU", opens_at="22:00", closes_at="06:00")
    start = dt.datetime.fromisoformat(day).replace(tzinfo=NY) - dt.timedelta(days=1)
    windows = open_windows([night], start, start + dt.timedelta(days=3), NY)
    opened = {w[0].date().isoformat(): w for w in windows}
    # 2026-11-01 is a Sunday whose window opens 22:00 on 11-01; the one ending that morning opened 10-31.
    key = (dt.date.fromisoformat(day) - dt.timedelta(days=1 if day == "2026-11-01" else 0)).isoformat()
    opens, closes = opened[key]
    assert (opens.hour, closes.hour) == (22, 6)
    assert closes.timestamp() - opens.timestamp() == hours * 3600  # instants, not wall clocks


@pytest.mark.parametrize(
    ("timezone", "opens_at", "utc_hour"),
    [
        ("-5", "09:00", 14),  # HSDS 3's numeric timezone
        ("5.5", "09:00", 3),
        ("", "09:00-05:00", 14),  # an offset on the time itself
        ("", "09:00Z", 9),
        ("", "09:00", 14),  # neither: the directory's zone (New York, EST in December)
        ("Europe/London", "09:00", 9),
    ],
)
def test_zone_of_a_rule(timezone: str, opens_at: str, utc_hour: int) -> None:
    r = rule(freq="WEEKLY", byday="MO", opens_at=opens_at, closes_at="23:00", timezone=timezone)
    start = dt.datetime(2026, 12, 7, tzinfo=NY)
    [(opens, _)] = open_windows([r], start, start + dt.timedelta(hours=20), NY)
    assert opens.astimezone(dt.UTC).hour == utc_hour


@pytest.mark.parametrize(
    ("rules", "known"),
    [
        ([WEEKDAYS], True),
        ([rule(description="By appointment")], False),
        ([rule(closed=True, valid_from="2026-12-25", valid_to="2026-12-25")], False),  # holidays only
        ([rule(freq="WEEKLY", byday="MO")], False),  # days without hours
        ([rule(description="By appointment"), WEEKDAYS], True),
        ([], False),
    ],
)
def test_hours_known(rules: list[ScheduleRule], known: bool) -> None:
    assert hours_known(rules) is known


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ("2026-12-07 10:00", "2026-12-07 09:00"),  # open now: the current window
        ("2026-12-07 18:00", "2026-12-08 09:00"),  # closed now: the next one
        ("2026-12-05 12:00", "2026-12-07 09:00"),  # over the weekend
        ("2026-12-24 18:00", "2026-12-28 09:00"),  # past the holiday
    ],
)
def test_first_window(when: str, expected: str) -> None:
    rules = [WEEKDAYS, rule(closed=True, valid_from="2026-12-25", valid_to="2026-12-25")]
    window = first_window(rules, dt.datetime.fromisoformat(when).replace(tzinfo=NY), NY)
    assert window is not None
    assert f"{window[0]:%Y-%m-%d %H:%M}" == expected


def test_no_window_within_the_days_asked() -> None:
    yearly = rule(freq="MONTHLY", byday="1SA", opens_at="09:00", closes_at="10:00")
    assert first_window([yearly], dt.datetime(2026, 12, 6, tzinfo=NY), NY, days=7) is None


def test_unknown_zone_names_it() -> None:
    with pytest.raises(ValueError, match="Mars/Olympus"):
        zone_of("Mars/Olympus")


def test_naive_instants_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        open_windows([WEEKDAYS], dt.datetime(2026, 12, 7), dt.datetime(2026, 12, 8), NY)
