"""Direct transit trips between two places, from the imported GTFS feeds.

``trips_between`` finds the stops within a walk of each place on the grid (cells, then the
straight-line distance), the services running on each service day the window touches (the day
before for its trips past 24:00, the day after when the window crosses midnight), and in one
query per feed the trips that call at an origin stop and later at a destination stop. Timetabled
trips are filtered in SQL; frequency-based ones have their runs expanded from their headways.
A trip that passes several stops near either place is offered once per run, from the pair of
stops with the least walking. Walks are straight-line distances."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from gateway.core.geo import Point, cells_within, haversine_km
from gateway.core.transit import (
    Calendar,
    CalendarDate,
    ServiceWindow,
    TransitOption,
    at,
    clock_text,
    mode_of,
    run_starts,
    services_on,
    windows,
)
from gateway.service.runtime import Runtime
from gateway.storage import transit_store as store
from gateway.storage.transit_store import Ride, StoredStop

_Walks = dict[tuple[int, int], tuple[StoredStop, float]]
_Calendar = tuple[list[Calendar], list[CalendarDate]]


def trips_between(
    rt: Runtime,
    origin: Point,
    destination: Point,
    *,
    leave_after: dt.datetime,
    within_minutes: int = 120,
    walk_km: float = 0.8,
) -> list[TransitOption]:
    """Direct trips (no transfer) from a stop within ``walk_km`` of ``origin`` to one within
    ``walk_km`` of ``destination``, leaving between ``leave_after`` and ``within_minutes`` later
    (a naive ``leave_after`` is the feed's local time), sorted by arrival."""
    with trips_from(rt, origin, walk_km=walk_km) as trips:
        return trips.to(destination, leave_after=leave_after, within_minutes=within_minutes)


@contextmanager
def trips_from(rt: Runtime, origin: Point, *, walk_km: float = 0.8) -> Iterator[TripSearch]:
    """Trips from one place to many (a search's candidates) in one session: the stops near the
    origin, the feeds' zones and calendars and the frequency runs are read once, not per trip."""
    with rt.sessions() as session:
        yield TripSearch(session, origin, walk_km)


class TripSearch:
    """``trips_between`` from a fixed origin; what does not depend on the destination is cached
    (for the life of one session: the data cannot change under it)."""

    def __init__(self, session: Session, origin: Point, walk_km: float) -> None:
        self.session, self.origin, self.walk_km = session, origin, walk_km
        self._starts: _Walks | None = None
        self._zones: dict[int, tuple[str, ZoneInfo]] = {}
        self._calendars: dict[tuple[int, tuple[dt.date, ...]], _Calendar] = {}
        self._runs: dict[int, _Runs] = {}

    def to(
        self, destination: Point, *, leave_after: dt.datetime, within_minutes: int = 120
    ) -> list[TransitOption]:
        if self._starts is None:
            self._starts = self._near(self.origin)
        starts, ends = self._starts, self._near(destination)
        feeds = {f for f, _ in starts} & {f for f, _ in ends}
        options = [
            option
            for key, (name, zone) in self._zones_of(feeds)
            for option in self._feed_options(
                _Search(key, name, zone, starts, ends), leave_after, within_minutes
            )
        ]
        return sorted(
            options, key=lambda o: (o.arrives_at, o.departs_at, o.walk_to_stop_km + o.walk_from_stop_km)
        )

    def _near(self, place: Point) -> _Walks:
        return _walks(
            store.stops_in_cells(self.session, cells_within(place, self.walk_km)), place, self.walk_km
        )

    def _zones_of(self, feeds: set[int]) -> list[tuple[int, tuple[str, ZoneInfo]]]:
        missing = feeds - set(self._zones)
        if missing:
            found = store.feed_zones(self.session, missing)
            self._zones.update({k: (name, ZoneInfo(zone)) for k, (name, zone) in found.items()})
        return sorted((k, self._zones[k]) for k in feeds if k in self._zones)

    def _calendar(self, feed_key: int, days: list[dt.date]) -> _Calendar:
        key = (feed_key, tuple(days))
        if key not in self._calendars:
            self._calendars[key] = store.service_calendar(self.session, feed_key, days)
        return self._calendars[key]

    def _feed_options(
        self, search: _Search, leave_after: dt.datetime, within_minutes: int
    ) -> list[TransitOption]:
        days = windows(leave_after, within_minutes, search.tz)
        calendars, dates = self._calendar(search.feed_key, [w.day for w in days])
        running = {w.day: services_on(w.day, calendars, dates) for w in days}
        stops = (search.stop_keys(search.starts), search.stop_keys(search.ends))
        timetabled = [(sorted(running[w.day]), w.lo, w.hi) for w in days]
        every = sorted(set().union(*running.values()))
        found = store.rides(self.session, search.feed_key, stops, timetabled, every)
        runs = self._frequency_runs(search.feed_key, [r for r in found if r.frequency_based])
        best: dict[tuple[int, dt.date, int], tuple[float, int, TransitOption]] = {}
        for ride in found:
            for window in days:
                if ride.service_id not in running[window.day]:
                    continue
                for start, shift, headway in _departures(ride, window, runs):
                    option = _option(search, ride, window.day, shift, headway)
                    walk = option.walk_to_stop_km + option.walk_from_stop_km
                    key = (ride.trip_key, window.day, start)
                    if key not in best or (walk, ride.arrival + shift) < best[key][:2]:
                        best[key] = (walk, ride.arrival + shift, option)
        return [option for _, _, option in best.values()]

    def _frequency_runs(self, feed_key: int, rides: list[Ride]) -> _Runs:
        known = self._runs.setdefault(feed_key, {})
        missing = {r.trip_key for r in rides} - set(known)
        if missing:
            known.update(_frequency_runs(self.session, feed_key, missing))
        return known


def _walks(stops: Iterable[StoredStop], place: Point, walk_km: float) -> _Walks:
    found: _Walks = {}
    for stop in stops:
        km = haversine_km(place, Point(lat=stop.lat, lon=stop.lon))
        if km <= walk_km:
            found[(stop.feed_key, stop.stop_key)] = (stop, km)
    return found


@dataclass(frozen=True)
class _Search:
    feed_key: int
    feed: str
    tz: ZoneInfo
    starts: _Walks
    ends: _Walks

    def stop_keys(self, walks: _Walks) -> list[int]:
        return sorted(k for f, k in walks if f == self.feed_key)


_Runs = dict[int, tuple[int, list[int], int]]  # trip key -> (first departure, run starts, headway)


def _frequency_runs(session: Session, feed_key: int, keys: set[int]) -> _Runs:
    if not keys:
        return {}
    firsts = store.first_departures(session, feed_key, keys)
    frequencies = store.frequencies(session, feed_key, keys)
    runs: _Runs = {}
    for key in keys:
        rows = frequencies.get(key, [])
        headway = min((f.headway for f in rows), default=0)
        runs[key] = (firsts.get(key, 0), run_starts(rows), headway)
    return runs


def _departures(ride: Ride, window: ServiceWindow, runs: _Runs) -> list[tuple[int, int, int]]:
    """(run start, shift of the template's times, headway) of each departure in the window."""
    if not ride.frequency_based:
        return [(0, 0, 0)] if window.lo <= ride.departure <= window.hi else []
    first, starts, headway = runs.get(ride.trip_key, (0, [], 0))
    offset = ride.departure - first
    return [(s, s - first, headway) for s in starts if window.lo <= s + offset <= window.hi]


def _option(search: _Search, ride: Ride, day: dt.date, shift: int, headway: int) -> TransitOption:
    origin, walk_to = search.starts[(search.feed_key, ride.from_stop)]
    target, walk_from = search.ends[(search.feed_key, ride.to_stop)]
    departs = at(day, ride.departure + shift, search.tz)
    arrives = at(day, ride.arrival + shift, search.tz)
    return TransitOption(
        route=ride.route,
        mode=mode_of(ride.route_type),
        from_stop=origin.name,
        departs=clock_text(departs),
        to_stop=target.name,
        arrives=clock_text(arrives),
        walk_to_stop_km=round(walk_to, 3),
        walk_from_stop_km=round(walk_from, 3),
        feed=search.feed,
        departs_at=departs,
        arrives_at=arrives,
        every_minutes=headway // 60,
    )
