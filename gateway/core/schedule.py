"""Opening hours from HSDS schedule rows: the windows a service is open between two instants.

HSDS schedules borrow RFC 5545 RRULE fields. A directory needs a small part of them, and that part
is evaluated here day by day (a week's search touches about nine local dates per rule):

- WEEKLY with BYDAY ("MO,WE") and INTERVAL counted in weeks from DTSTART (else VALID_FROM);
- MONTHLY with ordinal BYDAY ("1SA" first Saturday, "-1FR" last Friday, "2TU,4TU") or plain
  BYDAY (every such weekday), BYMONTHDAY ("1,15", "-1" the last day; both given: both must hold)
  and INTERVAL counted in months;
- YEARLY (HSDS 3's BYYEARDAY is described for it): the days BYDAY ("20MO" the 20th Monday of
  the year), BYMONTHDAY, BYYEARDAY and BYWEEKNO select, else DTSTART's anniversary; INTERVAL
  counted in years;
- BYWEEKNO (ISO 8601 weeks: WKST=MO, week 1 holds the year's first Thursday; "-1" the last week
  of the ISO year) and BYYEARDAY ("-1" the year's last day) limit the days of any of these
  frequencies (HSDS 3 pairs BYWEEKNO with WEEKLY, where RFC 5545 would not: a limit is what a
  publisher writing "WEEKLY, BYDAY=SA, BYWEEKNO=41,42" means);
- COUNT ends the rule after that many occurring days counted from DTSTART (else VALID_FROM);
  without either, the rule cannot be counted and its hours are unknown. A DTSTART the rule does
  not itself produce is not counted (RFC 5545 leaves such a set undefined; dateutil does this);
- VALID_FROM/VALID_TO, DTSTART, UNTIL and COUNT bound the dates (inclusive);
- CLOSES_AT earlier than (or equal to) OPENS_AT runs past midnight into the next day;
- each rule's wall clock is read in its own zone (an IANA name, or a numeric UTC offset as
  HSDS 3 writes it), else in the zone the caller gives for the directory; zoneinfo handles DST,
  so 09:00-17:00 stays 09:00-17:00 on the day the clocks change;
- a ``closed`` row (a holiday or exception) removes every window opening on its dates; a row
  with dates but no recurrence and ``closed`` false replaces those dates' hours with its own
  (HSDS 1.x holiday_schedule with special hours).

A rule with neither recurrence nor hours (only a description) says nothing about when the
service is open: ``hours_known`` is false and callers say "hours not published", not "closed".
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from gateway.core.directory import ScheduleRule

Window = tuple[dt.datetime, dt.datetime]

_DAYS = {"MO": 0, "TU": 1, "WE": 2, "TH": 3, "FR": 4, "SA": 5, "SU": 6}
_BYDAY = re.compile(r"^([+-]?\d{1,2})?(MO|TU|WE|TH|FR|SA|SU)$")
_TIME = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?\s*(Z|[+-]\d{2}:?\d{2})?$")
_OFFSET_HOURS = re.compile(r"^[+-]?\d{1,2}(?:\.\d+)?$")
# How far COUNT is looked for: a century of days (a yearly rule with COUNT=100 ends within it).
_COUNT_HORIZON_DAYS = 36_600


@dataclass(frozen=True, kw_only=True)
class _Rule:
    """A schedule row read once: recurrence as sets, bounds as dates, hours as offsets from
    the local midnight of the day it occurs."""

    freq: str  # "WEEKLY" | "MONTHLY" | "YEARLY" | "DATES" (an exception for an explicit span of dates)
    interval: int
    weekdays: frozenset[int]  # plain BYDAY entries
    ordinals: frozenset[tuple[int, int]]  # (n, weekday) from "1SA", "-1FR"
    monthdays: frozenset[int]
    months: frozenset[int]  # only a YEARLY rule's default: DTSTART's month
    weeknos: frozenset[int]  # ISO weeks, negative from the end of the ISO year
    yeardays: frozenset[int]
    first: dt.date | None  # the latest of DTSTART and VALID_FROM
    last: dt.date | None  # the earliest of UNTIL, VALID_TO and the COUNT-th occurrence
    anchor: dt.date | None  # where INTERVAL counts from
    opens: dt.timedelta | None
    closes: dt.timedelta | None
    zone: dt.tzinfo | None
    closed: bool


def hours_known(rules: Iterable[ScheduleRule]) -> bool:
    """Whether any row says when the service is open. Closures alone do not: a directory that
    lists only its holidays has not published its hours."""
    return any((c := _compile(rule)) is not None and not c.closed for rule in rules)


def open_windows(
    rules: Iterable[ScheduleRule], start: dt.datetime, end: dt.datetime, tz: dt.tzinfo | str
) -> list[Window]:
    """Every window (opens, closes) that overlaps [start, end), in time order; windows are not
    clipped, so a caller can say "open until 18:00". Times are aware, in each rule's zone.
    ``tz`` is the directory's zone for rules that name none. Overlapping rows are merged."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be aware datetimes")
    default = zone_of(tz) if isinstance(tz, str) else tz
    compiled = [c for c in (_compile(rule) for rule in rules) if c is not None]
    recurring = [c for c in compiled if c.freq != "DATES" and not c.closed]
    exceptions = [c for c in compiled if c.freq == "DATES" or c.closed]
    found: list[Window] = []
    for rule in recurring:
        found.extend(_windows(rule, rule.zone or default, start, end))
    found = [w for w in found if not _excepted(w, exceptions, default)]
    for rule in exceptions:
        if not rule.closed:
            found.extend(_windows(rule, rule.zone or default, start, end))
    # Compared as instants: Python compares two datetimes of one zone by wall clock, which is
    # wrong for the hour the clocks go back.
    begin, stop = start.timestamp(), end.timestamp()
    return _merge(w for w in found if w[1].timestamp() > begin and w[0].timestamp() < stop)


def first_window(
    rules: Sequence[ScheduleRule], when: dt.datetime, tz: dt.tzinfo | str, days: int = 7
) -> Window | None:
    """The window open at ``when``, else the next one to open within ``days``."""
    for window in open_windows(rules, when, when + dt.timedelta(days=days), tz):
        if window[1].timestamp() > when.timestamp():
            return window
    return None


def zone_of(name: str) -> dt.tzinfo:
    """An IANA zone, or a fixed offset for HSDS 3's numeric ``timezone`` ("-5", "5.5", "+05:30").
    An unknown name raises ValueError naming it."""
    return _zone(name.strip())


@functools.lru_cache(maxsize=512)
def _zone(name: str) -> dt.tzinfo:
    if _OFFSET_HOURS.match(name):
        return dt.timezone(dt.timedelta(hours=float(name)))
    if re.match(r"^[+-]\d{2}:?\d{2}$", name):
        return _fixed(name)
    if name.upper() in {"Z", "UTC", "GMT"}:
        return dt.UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}: use an IANA name such as America/New_York") from None


def _fixed(text: str) -> dt.timezone:
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    return dt.timezone(sign * dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))


def _windows(rule: _Rule, zone: dt.tzinfo, start: dt.datetime, end: dt.datetime) -> Iterator[Window]:
    if rule.opens is None or rule.closes is None:
        return  # a closure without hours: it removes windows, it opens none
    # The day before start: an overnight window opened then may still be open at start.
    day = start.astimezone(zone).date() - dt.timedelta(days=1)
    last = end.astimezone(zone).date()
    while day <= last:
        if _occurs(rule, day):
            yield _local(day, rule.opens, zone), _local(day, rule.closes, zone)
        day += dt.timedelta(days=1)


def _local(day: dt.date, offset: dt.timedelta, zone: dt.tzinfo) -> dt.datetime:
    """Wall-clock time ``offset`` after local midnight of ``day`` (24:00 and past-midnight closes
    land on the next day). A time the clocks skip (02:30 when DST starts) is read as after the
    jump, by going through UTC."""
    extra, rest = divmod(offset, dt.timedelta(days=1))
    naive = dt.datetime.combine(day + dt.timedelta(days=extra), dt.time()) + rest
    return naive.replace(tzinfo=zone).astimezone(dt.UTC).astimezone(zone)


def _occurs(rule: _Rule, day: dt.date) -> bool:
    if (rule.first and day < rule.first) or (rule.last and day > rule.last):
        return False
    return rule.freq == "DATES" or _recurs(rule, day)


def _recurs(rule: _Rule, day: dt.date) -> bool:
    """Whether the recurrence itself produces ``day`` (bounds aside): every BY part given
    holds (BYDAY's entries are alternatives), in a period INTERVAL selects."""
    if rule.months and day.month not in rule.months:
        return False
    if rule.monthdays and not _on_monthday(rule.monthdays, day):
        return False
    if (rule.weekdays or rule.ordinals) and not (
        day.weekday() in rule.weekdays or any(_nth(rule.freq, day, n, wd) for n, wd in rule.ordinals)
    ):
        return False
    if rule.weeknos and not _in_weeks(rule.weeknos, day):
        return False
    if rule.yeardays and not _on_yearday(rule.yeardays, day):
        return False
    if rule.interval <= 1 or rule.anchor is None:
        return True
    return _periods(rule.freq, rule.anchor, day) % rule.interval == 0


def _periods(freq: str, anchor: dt.date, day: dt.date) -> int:
    """Weeks (WKST=MO, the RFC 5545 default), months or years from the anchor's to the day's."""
    if freq == "WEEKLY":
        return (day - (anchor - dt.timedelta(days=anchor.weekday()))).days // 7
    if freq == "MONTHLY":
        return (day.year - anchor.year) * 12 + day.month - anchor.month
    return day.year - anchor.year


def _in_weeks(weeknos: frozenset[int], day: dt.date) -> bool:
    iso_year, week, _ = day.isocalendar()
    weeks_in_year = dt.date(iso_year, 12, 28).isocalendar().week  # 28 December is always in the last
    return week in weeknos or week - weeks_in_year - 1 in weeknos


def _on_yearday(yeardays: frozenset[int], day: dt.date) -> bool:
    number, days_in_year = day.timetuple().tm_yday, 366 if calendar.isleap(day.year) else 365
    return number in yeardays or number - days_in_year - 1 in yeardays


def _on_monthday(monthdays: frozenset[int], day: dt.date) -> bool:
    days_in_month = calendar.monthrange(day.year, day.month)[1]
    return day.day in monthdays or day.day - days_in_month - 1 in monthdays


def _nth(freq: str, day: dt.date, n: int, weekday: int) -> bool:
    """Whether ``day`` is the n-th (from the end when negative) such weekday of its month
    (MONTHLY) or year (YEARLY); _read folds a WEEKLY rule's ordinals into plain weekdays."""
    if day.weekday() != weekday:
        return False
    if freq == "MONTHLY":
        number, length = day.day, calendar.monthrange(day.year, day.month)[1]
    else:
        number, length = day.timetuple().tm_yday, 366 if calendar.isleap(day.year) else 365
    return (number - 1) // 7 + 1 == n if n > 0 else -((length - number) // 7 + 1) == n


def _excepted(window: Window, exceptions: Sequence[_Rule], default: dt.tzinfo) -> bool:
    """A window is removed when an exception covers the local date it opens on."""
    for rule in exceptions:
        day = window[0].astimezone(rule.zone or default).date()
        if _occurs(rule, day):
            return True
    return False


def _merge(windows: Iterable[Window]) -> list[Window]:
    merged: list[Window] = []
    for opens, closes in sorted(windows, key=lambda w: (w[0].timestamp(), w[1].timestamp())):
        if merged and opens.timestamp() <= merged[-1][1].timestamp():
            if closes.timestamp() > merged[-1][1].timestamp():
                merged[-1] = (merged[-1][0], closes)
            continue
        merged.append((opens, closes))
    return merged


@functools.lru_cache(maxsize=8192)
def _compile(rule: ScheduleRule) -> _Rule | None:
    """The row as sets and dates, or None when it does not say when (hours unknown) or cannot
    be read (a malformed row is not guessed at: it is treated as unknown, never as closed)."""
    try:
        return _read(rule)
    except ValueError:
        return None


def _read(rule: ScheduleRule) -> _Rule | None:
    freq = rule.freq.strip().upper()
    weekdays, ordinals = _byday(rule.byday)
    monthdays = _numbers(rule.bymonthday, 31)
    weeknos, yeardays = _numbers(rule.byweekno, 53), _numbers(rule.byyearday, 366)
    dtstart = _date(rule.dtstart)
    dates = _bounds(rule, dtstart)
    if freq not in {"WEEKLY", "MONTHLY", "YEARLY"}:
        # No recurrence: a closure or special hours for its dates, or a weekday row written
        # without FREQ (1.x regular_schedule read loosely) which is weekly by nature.
        if weekdays and not rule.closed:
            freq = "WEEKLY"
        elif dates[0] is not None or dates[1] is not None:
            freq = "DATES"
        else:
            return None
    months: frozenset[int] = frozenset()
    if freq == "WEEKLY":  # an ordinal means nothing within a week: "1MO" is every Monday
        weekdays, ordinals = weekdays | {day for _, day in ordinals}, frozenset()
    if freq != "DATES" and not (weekdays or ordinals or monthdays or weeknos or yeardays):
        if dtstart is None:
            return None  # "every week" without a day, nor a DTSTART to take it from: not guessed
        # RFC 5545: the day comes from DTSTART (its weekday, day of the month, or date in the year).
        weekdays = frozenset({dtstart.weekday()}) if freq == "WEEKLY" else weekdays
        monthdays = frozenset({dtstart.day}) if freq != "WEEKLY" else monthdays
        months = frozenset({dtstart.month}) if freq == "YEARLY" else months
    opens, closes = _time(rule.opens_at), _time(rule.closes_at)
    if not rule.closed and (opens is None or closes is None):
        return None
    if opens is not None and closes is not None and closes <= opens:
        closes += dt.timedelta(days=1)
    zone = zone_of(rule.timezone) if rule.timezone.strip() else _time_zone(rule.opens_at)
    read = _Rule(
        freq=freq,
        interval=max(1, rule.interval),
        weekdays=weekdays,
        ordinals=ordinals,
        monthdays=monthdays,
        months=months,
        weeknos=weeknos,
        yeardays=yeardays,
        first=dates[0],
        last=dates[1],
        anchor=dtstart or _date(rule.valid_from),
        opens=opens,
        closes=closes,
        zone=zone,
        closed=rule.closed,
    )
    return read if rule.count is None or freq == "DATES" else _counted(read, rule.count)


def _counted(rule: _Rule, count: int) -> _Rule:
    """The rule ending on its COUNT-th occurrence, counted from its anchor (DTSTART, else
    VALID_FROM) whatever VALID_FROM later hides. Raises ValueError when it cannot be counted."""
    if count < 1 or rule.anchor is None:
        raise ValueError("COUNT needs a positive number and DTSTART or VALID_FROM")
    day, seen = rule.anchor, 0
    for _ in range(_COUNT_HORIZON_DAYS):
        if _recurs(rule, day):
            seen += 1
            if seen == count:
                return replace(rule, last=day if rule.last is None else min(rule.last, day))
        day += dt.timedelta(days=1)
    return rule  # not reached within the horizon: no nearer end than the rule already has


def _bounds(rule: ScheduleRule, dtstart: dt.date | None) -> tuple[dt.date | None, dt.date | None]:
    firsts = [d for d in (dtstart, _date(rule.valid_from)) if d is not None]
    lasts = [d for d in (_date(rule.until), _date(rule.valid_to)) if d is not None]
    return (max(firsts) if firsts else None), (min(lasts) if lasts else None)


def _byday(text: str) -> tuple[frozenset[int], frozenset[tuple[int, int]]]:
    weekdays: set[int] = set()
    ordinals: set[tuple[int, int]] = set()
    for item in _split(text):
        match = _BYDAY.match(item.upper())
        if match is None:
            raise ValueError(f"BYDAY entry {item!r}")
        n, day = match.group(1), _DAYS[match.group(2)]
        if n and int(n) != 0:
            ordinals.add((int(n), day))
        else:
            weekdays.add(day)
    return frozenset(weekdays), frozenset(ordinals)


def _numbers(text: str, largest: int) -> frozenset[int]:
    """BYMONTHDAY, BYWEEKNO or BYYEARDAY: 1..largest, or -largest..-1 counted from the end."""
    numbers = frozenset(int(part) for part in _split(text))
    if any(n == 0 or abs(n) > largest for n in numbers):
        raise ValueError(f"a number outside 1..{largest} or -{largest}..-1")
    return numbers


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _date(text: str) -> dt.date | None:
    """ISO dates, ISO date-times and RFC 5545's basic form (20201107T235959Z) alike."""
    text = text.strip()
    if not text:
        return None
    if re.match(r"^\d{8}", text):
        return dt.date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    return dt.date.fromisoformat(text[:10])


def _time(text: str) -> dt.timedelta | None:
    match = _TIME.match(text.strip())
    if match is None:
        if text.strip():
            raise ValueError(f"time {text!r}")
        return None
    hours, minutes = int(match.group(1)), int(match.group(2))
    if hours > 24 or minutes > 59:
        raise ValueError(f"time {text!r}")
    return dt.timedelta(hours=hours, minutes=minutes, seconds=int(match.group(3) or 0))


def _time_zone(text: str) -> dt.tzinfo | None:
    """HSDS 3 says times should carry their offset ("09:00Z", "09:00-05:00"): used when the rule
    names no zone. Without either, the directory's zone applies."""
    match = _TIME.match(text.strip())
    suffix = match.group(4) if match else None
    if not suffix:
        return None
    return dt.UTC if suffix == "Z" else _fixed(suffix)
