"""Public transit, as plain values: a trip a family can take between two places, read from a
GTFS feed by storage/service (``gateway.service.directory.transit``) and shown by matching.

The pure rules of GTFS time live here too: stop times are seconds from "noon minus 12 h" of the
service day (so 25:10:00 is 01:10 the next morning, and on a daylight-saving day the origin is
not midnight), which services run on a day (calendar weekday flags and date range, then
calendar_dates adds and removes), and which departures a frequency-based trip makes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

DAY = 86_400
ADDED, REMOVED = 1, 2  # calendar_dates.exception_type


@dataclass(frozen=True, kw_only=True)
class TransitOption:
    route: str  # the route's short name, else its long name ("60", "Blue Line")
    mode: str  # from GTFS route_type: "bus", "tram", "subway", "rail", "ferry", ...
    from_stop: str  # stop names as published
    departs: str  # local "HH:MM" (may be past 24:00 in the feed; shown modulo 24)
    to_stop: str
    arrives: str
    walk_to_stop_km: float
    walk_from_stop_km: float
    feed: str = ""
    # Added by the transit import (optional): the same times as aware datetimes in the feed's
    # time zone (unambiguous across midnight, for matching against opening hours), and for a
    # frequency-based trip its headway (the departure is then the nominal one of a run).
    departs_at: dt.datetime | None = None
    arrives_at: dt.datetime | None = None
    every_minutes: int = 0

    def explain(self) -> str:
        ride = f"{self.mode} {self.route} from {self.from_stop} at {self.departs}"
        return f"{ride}, arrives {self.to_stop} {self.arrives}"


# GTFS route_type: the basic values and the extended (Hierarchical Vehicle Type) ranges.
_BASIC_MODES = {
    0: "tram",
    1: "subway",
    2: "rail",
    3: "bus",
    4: "ferry",
    5: "cable tram",
    6: "aerial lift",
    7: "funicular",
    11: "trolleybus",
    12: "monorail",
}
_EXTENDED_MODES = (
    (100, "rail"),
    (200, "coach"),
    (400, "subway"),
    (700, "bus"),
    (800, "trolleybus"),
    (900, "tram"),
    (1000, "ferry"),
    (1200, "ferry"),
    (1300, "aerial lift"),
    (1400, "funicular"),
    (1500, "taxi"),
    (1700, "other"),
)


def mode_of(route_type: int) -> str:
    if route_type in _BASIC_MODES:
        return _BASIC_MODES[route_type]
    for start, mode in reversed(_EXTENDED_MODES):
        if start <= route_type < start + 100:
            return mode
    return "transit"


def parse_time(text: str) -> int:
    """GTFS time ``H:MM:SS`` or ``HH:MM:SS`` (hours may pass 24) as seconds; ValueError if not."""
    parts = text.strip().split(":")
    if len(parts) != 3 or not all(p.isdigit() for p in parts) or len(parts[1]) != 2 or len(parts[2]) != 2:
        raise ValueError(f"not a GTFS time (H:MM:SS): {text!r}")
    hours, minutes, seconds = (int(p) for p in parts)
    if minutes > 59 or seconds > 59:
        raise ValueError(f"minutes and seconds must be under 60: {text!r}")
    return hours * 3600 + minutes * 60 + seconds


def parse_date(text: str) -> dt.date:
    """GTFS date ``YYYYMMDD``; ValueError if not."""
    value = text.strip()
    if len(value) != 8 or not value.isdigit():
        raise ValueError(f"not a GTFS date (YYYYMMDD): {text!r}")
    return dt.date(int(value[:4]), int(value[4:6]), int(value[6:]))


def day_origin(day: dt.date, tz: dt.tzinfo) -> dt.datetime:
    """The instant GTFS times of service day ``day`` count from: local noon minus 12 hours."""
    noon = dt.datetime.combine(day, dt.time(12), tzinfo=tz).astimezone(dt.UTC)
    return noon - dt.timedelta(hours=12)


def at(day: dt.date, seconds: int, tz: dt.tzinfo) -> dt.datetime:
    """A stop time of service day ``day`` as a local aware datetime."""
    return (day_origin(day, tz) + dt.timedelta(seconds=seconds)).astimezone(tz)


@dataclass(frozen=True, kw_only=True)
class ServiceWindow:
    """Times of one service day that fall in the traveller's window: seconds lo..hi inclusive."""

    day: dt.date
    lo: int
    hi: int


def windows(leave_after: dt.datetime, within_minutes: int, tz: dt.tzinfo) -> list[ServiceWindow]:
    """The service days whose times can fall between ``leave_after`` and ``within_minutes`` later:
    the local day, the day before (its trips past 24:00) and, when the window crosses midnight,
    the day after. A naive ``leave_after`` is read as local time in ``tz``."""
    start = leave_after.replace(tzinfo=tz) if leave_after.tzinfo is None else leave_after
    start = start.astimezone(tz)
    end = start + dt.timedelta(minutes=within_minutes)
    found = []
    for offset in (-1, 0, 1):
        day = start.date() + dt.timedelta(days=offset)
        origin = day_origin(day, tz)
        lo = max(0, _ceil_seconds(start - origin))
        hi = int((end - origin).total_seconds())
        if hi >= lo and hi >= 0:
            found.append(ServiceWindow(day=day, lo=lo, hi=hi))
    return found


def _ceil_seconds(delta: dt.timedelta) -> int:
    whole = int(delta.total_seconds())
    return whole + 1 if delta > dt.timedelta(seconds=whole) else whole


@dataclass(frozen=True, kw_only=True)
class Calendar:
    """One calendar.txt row: weekdays Monday..Sunday and the date range (inclusive)."""

    service_id: str
    weekdays: tuple[bool, bool, bool, bool, bool, bool, bool]
    start: dt.date
    end: dt.date


@dataclass(frozen=True, kw_only=True)
class CalendarDate:
    service_id: str
    date: dt.date
    exception_type: int  # ADDED or REMOVED


def services_on(day: dt.date, calendars: Iterable[Calendar], exceptions: Iterable[CalendarDate]) -> set[str]:
    """The service ids running on ``day``: the calendar's weekday within its range, then the
    day's calendar_dates rows add (1) or remove (2) a service; a feed may have either file only."""
    running = {c.service_id for c in calendars if c.start <= day <= c.end and c.weekdays[day.weekday()]}
    for exception in exceptions:
        if exception.date != day:
            continue
        if exception.exception_type == ADDED:
            running.add(exception.service_id)
        elif exception.exception_type == REMOVED:
            running.discard(exception.service_id)
    return running


@dataclass(frozen=True, kw_only=True)
class Frequency:
    """One frequencies.txt row: runs start every ``headway`` seconds from ``start`` until before
    ``end`` (the time service changes headway or stops), measured at the trip's first stop."""

    start: int
    end: int
    headway: int
    exact_times: bool = False


def run_starts(frequencies: Sequence[Frequency]) -> list[int]:
    """Every start time (at the first stop) of a frequency-based trip, in order. ``end_time`` is
    exclusive, as in the spec's own example (06:00-07:59:59 then 08:00-09:59:59)."""
    starts: set[int] = set()
    for f in frequencies:
        if f.headway > 0:
            starts.update(range(f.start, f.end, f.headway))
    return sorted(starts)


def clock_text(moment: dt.datetime) -> str:
    """A local time as shown to people: ``HH:MM`` (a 25:10 stop time shows as 01:10)."""
    return moment.strftime("%H:%M")
