"""Opening hours from HSDS schedule rows: the windows a service is open between two instants.

HSDS schedules borrow RFC 5545 RRULE fields. A directory needs a small part of them, and that part
is evaluated here day by day (a week's search touches about nine local dates per rule):

- WEEKLY with BYDAY ("MO,WE") and INTERVAL counted in weeks from DTSTART (else VALID_FROM);
- MONTHLY with ordinal BYDAY ("1SA" first Saturday, "-1FR" last Friday, "2TU,4TU") or plain
  BYDAY (every such weekday), BYMONTHDAY ("1,15", "-1" the last day; both given: both must hold)
  and INTERVAL counted in months;
- VALID_FROM/VALID_TO, DTSTART and UNTIL bound the dates (inclusive);
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

import datetime as dt
import functools
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from gateway.core.directory import ScheduleRule

Window = tuple[dt.datetime, dt.datetime]

_DAYS = {"MO": 0, "TU": 1, "WE": 2, "TH": 3, "FR": 4, "SA": 5, "SU": 6}
_BYDAY = re.compile(r"^([+-]?\d{1,2})?(MO|TU|WE|TH|FR|SA|SU)$")
_TIME = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?\s*(Z|[+-]\d{2}:?\d{2})?$")
_OFFSET_HOURS = re.compile(r"^[+-]?\d{1,2}(?:\.\d+)?$")


@dataclass(frozen=True, kw_only=True)
class _Rule:
    """A schedule row read once: recurrence as sets, bounds as dates, hours as offsets from
    the local midnight of the day it occurs."""

    freq: str  # "WEEKLY" | "MONTHLY" | "DATES" (an exception for an explicit span of dates)
    interval: int
    weekdays: frozenset[int]  # plain BYDAY entries
    ordinals: frozenset[tuple[int, int]]  # (n, weekday) from "1SA", "-1FR"
    monthdays: frozenset[int]
    first: dt.date | None  # the latest of DTSTART and VALID_FROM
    last: dt.date | None  # the earliest of UNTIL and VALID_TO
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
    if rule.freq == "DATES":
        return True
    if rule.freq == "WEEKLY":
        return day.weekday() in rule.weekdays and _every(rule, _weeks(rule.anchor, day))
    return _monthly(rule, day) and _every(rule, _months(rule.anchor, day))


def _every(rule: _Rule, periods: int | None) -> bool:
    return rule.interval <= 1 or periods is None or periods % rule.interval == 0


def _weeks(anchor: dt.date | None, day: dt.date) -> int | None:
    if anchor is None:
        return None
    monday = anchor - dt.timedelta(days=anchor.weekday())  # WKST=MO, the RFC 5545 default
    return (day - monday).days // 7


def _months(anchor: dt.date | None, day: dt.date) -> int | None:
    return None if anchor is None else (day.year - anchor.year) * 12 + day.month - anchor.month


def _monthly(rule: _Rule, day: dt.date) -> bool:
    by_day = not (rule.weekdays or rule.ordinals) or (
        day.weekday() in rule.weekdays or any(_nth(day, n, wd) for n, wd in rule.ordinals)
    )
    if not rule.monthdays:
        return by_day
    days_in_month = (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
    by_monthday = day.day in rule.monthdays or day.day - days_in_month.day - 1 in rule.monthdays
    return by_day and by_monthday


def _nth(day: dt.date, n: int, weekday: int) -> bool:
    """Whether ``day`` is the n-th (from the end when negative) such weekday of its month."""
    if day.weekday() != weekday:
        return False
    if n > 0:
        return (day.day - 1) // 7 + 1 == n
    month_end = (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
    return -((month_end.day - day.day) // 7 + 1) == n


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
    monthdays = frozenset(int(d) for d in _split(rule.bymonthday))
    dtstart = _date(rule.dtstart)
    dates = _bounds(rule, dtstart)
    if freq not in {"WEEKLY", "MONTHLY"}:
        # No recurrence: a closure or special hours for its dates, or a weekday row written
        # without FREQ (1.x regular_schedule read loosely) which is weekly by nature.
        if weekdays and not rule.closed:
            freq = "WEEKLY"
        elif dates[0] is not None or dates[1] is not None:
            freq = "DATES"
        else:
            return None
    if freq == "WEEKLY" and not weekdays:
        if dtstart is None:
            return None
        weekdays = frozenset({dtstart.weekday()})  # RFC 5545: BYDAY defaults to DTSTART's day
    opens, closes = _time(rule.opens_at), _time(rule.closes_at)
    if not rule.closed and (opens is None or closes is None):
        return None
    if opens is not None and closes is not None and closes <= opens:
        closes += dt.timedelta(days=1)
    zone = zone_of(rule.timezone) if rule.timezone.strip() else _time_zone(rule.opens_at)
    return _Rule(
        freq=freq,
        interval=max(1, rule.interval),
        weekdays=weekdays,
        ordinals=ordinals,
        monthdays=monthdays,
        first=dates[0],
        last=dates[1],
        anchor=dtstart or _date(rule.valid_from),
        opens=opens,
        closes=closes,
        zone=zone,
        closed=rule.closed,
    )


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
