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
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from gateway.core.geo import Point, box_around, cell_key, cells_within, haversine_km
from gateway.core.transit import (
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
from gateway.storage.db import Session
from gateway.storage.transit_store import Ride, StoredStop

_Walks = dict[tuple[int, int], tuple[StoredStop, float]]
MAX_NAMED_TRIPS = 2_000  # frequency-based trips read by key up to this many (else by stop)


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
    (for the life of one session: the data cannot change under it). ``many`` answers several
    destinations with one trip query per feed: a search asks for its best candidates at once."""

    def __init__(self, session: Session, origin: Point, walk_km: float) -> None:
        self.session, self.origin, self.walk_km = session, origin, walk_km
        self._starts: _Walks | None = None
        self._zones: dict[int, tuple[str, ZoneInfo]] = {}
        self._running: dict[tuple[int, dt.date], frozenset[str]] = {}
        self._runs: dict[int, _Runs] = {}
        self._frequency: dict[int, dict[int, str]] = {}

    def to(
        self, destination: Point, *, leave_after: dt.datetime, within_minutes: int = 120
    ) -> list[TransitOption]:
        return self.many([(destination, leave_after)], within_minutes=within_minutes)[0]

    def many(
        self, asks: Sequence[tuple[Point, dt.datetime]], *, within_minutes: int = 120
    ) -> list[list[TransitOption]]:
        """``to`` for each (destination, leave after) of ``asks``, in order."""
        places = [destination for destination, _ in asks]
        if self._starts is None:
            self._starts, *ends = self._near_all([self.origin, *places])
        else:
            ends = self._near_all(places)
        starts = self._starts
        feeds = {f for f, _ in starts} & {f for walks in ends for f, _ in walks}
        found: list[list[TransitOption]] = [[] for _ in asks]
        for key, (name, zone) in self._zones_of(feeds):
            searches = [
                (i, _Search(key, name, zone, starts, walks), windows(leave, within_minutes, zone))
                for i, (walks, (_, leave)) in enumerate(zip(ends, asks, strict=True))
                if any(f == key for f, _ in walks)
            ]
            for i, options in self._feed_options(key, searches):
                found[i].extend(options)
        return [sorted(options, key=_by_arrival) for options in found]

    def _near(self, place: Point) -> _Walks:
        cells, box = cells_within(place, self.walk_km), box_around(place, self.walk_km)
        return _walks(store.stops_in_cells(self.session, cells, box), place, self.walk_km)

    def _near_all(self, places: list[Point]) -> list[_Walks]:
        """``_near`` of each place, in one query: the stops in any place's box, then each
        place's own (in its cells and box, as its own query would read them)."""
        boxes = [box_around(place, self.walk_km) for place in places]
        if len(places) < 2 or any(box is None for box in boxes):
            return [self._near(place) for place in places]
        cells = [set(cells_within(place, self.walk_km)) for place in places]
        read = store.stops_in_boxes(self.session, set().union(*cells), [b for b in boxes if b is not None])
        located = [(stop, cell_key(Point(lat=stop.lat, lon=stop.lon))) for stop in read]
        return [
            _walks(
                [stop for stop, cell in located if cell in own and _inside(stop, box)], place, self.walk_km
            )
            for place, own, box in zip(places, cells, boxes, strict=True)
        ]

    def _zones_of(self, feeds: set[int]) -> list[tuple[int, tuple[str, ZoneInfo]]]:
        missing = feeds - set(self._zones)
        if missing:
            found = store.feed_zones(self.session, missing)
            self._zones.update({k: (name, ZoneInfo(zone)) for k, (name, zone) in found.items()})
        return sorted((k, self._zones[k]) for k in feeds if k in self._zones)

    def _running_on(self, feed_key: int, days: set[dt.date]) -> dict[dt.date, frozenset[str]]:
        """The services running on each day, read for the days not yet known in one query."""
        missing = sorted(d for d in days if (feed_key, d) not in self._running)
        if missing:
            calendars, dates = store.service_calendar(self.session, feed_key, missing)
            for day in missing:
                self._running[(feed_key, day)] = frozenset(services_on(day, calendars, dates))
        return {day: self._running[(feed_key, day)] for day in days}

    def _feed_options(
        self, feed_key: int, searches: list[tuple[int, _Search, list[ServiceWindow]]]
    ) -> Iterator[tuple[int, list[TransitOption]]]:
        """One query for every search of the feed: the union of their stops, and per service
        day the services running and the widest window; each search then keeps its own."""
        if not searches:
            return
        running = self._running_on(feed_key, {w.day for _, _, days in searches for w in days})
        envelope: dict[dt.date, tuple[int, int]] = {}
        for _, _, days in searches:
            for w in days:
                lo, hi = envelope.get(w.day, (w.lo, w.hi))
                envelope[w.day] = (min(lo, w.lo), max(hi, w.hi))
        first = searches[0][1]
        destinations = sorted({k for _, search, _ in searches for k in search.stop_keys(search.ends)})
        timetabled = [(sorted(running[day]), lo, hi) for day, (lo, hi) in sorted(envelope.items())]
        stops = (first.stop_keys(first.starts), destinations)
        frequency_based = self._frequency_based(feed_key, running)
        found = store.rides(self.session, feed_key, stops, timetabled, frequency_based)
        runs = self._frequency_runs(feed_key, [r for r in found if r.frequency_based])
        for i, search, days in searches:
            mine = [r for r in found if (feed_key, r.to_stop) in search.ends]
            yield i, _options(search, mine, days, running, runs)

    def _frequency_based(self, feed_key: int, running: dict[dt.date, frozenset[str]]) -> list[int] | None:
        """The feed's frequency-based trips whose service runs on one of the days (None: too
        many to name, the query then finds them by stop)."""
        if feed_key not in self._frequency:
            self._frequency[feed_key] = store.frequency_trips(self.session, feed_key)
        every = set().union(*running.values())
        keys = sorted(k for k, service in self._frequency[feed_key].items() if service in every)
        return None if len(keys) > MAX_NAMED_TRIPS else keys

    def _frequency_runs(self, feed_key: int, rides: list[Ride]) -> _Runs:
        known = self._runs.setdefault(feed_key, {})
        missing = {r.trip_key for r in rides} - set(known)
        if missing:
            known.update(_frequency_runs(self.session, feed_key, missing))
        return known


def _by_arrival(o: TransitOption) -> tuple[dt.datetime | None, dt.datetime | None, float]:
    return o.arrives_at, o.departs_at, o.walk_to_stop_km + o.walk_from_stop_km


def _options(
    search: _Search,
    rides: list[Ride],
    days: list[ServiceWindow],
    running: dict[dt.date, frozenset[str]],
    runs: _Runs,
) -> list[TransitOption]:
    """A search's options from the rides to its stops: in its own windows, on days its
    service runs, once per trip and run (the pair of stops with the least walking)."""
    best: dict[tuple[int, dt.date, int], tuple[float, int, Ride, int, int]] = {}
    for ride in rides:
        # rounded as the option shows them: the comparison is the one the options would make
        walk_to = round(search.starts[(search.feed_key, ride.from_stop)][1], 3)
        walk = walk_to + round(search.ends[(search.feed_key, ride.to_stop)][1], 3)
        for window in days:
            if ride.service_id not in running[window.day]:
                continue
            for start, shift, headway in _departures(ride, window, runs):
                key, rank = (ride.trip_key, window.day, start), (walk, ride.arrival + shift)
                if key not in best or rank < best[key][:2]:
                    best[key] = (*rank, ride, shift, headway)
    return [
        _option(search, ride, day, shift, headway)
        for (_, day, _), (_, _, ride, shift, headway) in best.items()
    ]


def _inside(stop: StoredStop, box: tuple[float, float, float, float] | None) -> bool:
    """The box test of ``stops_in_cells`` (BETWEEN: bounds included)."""
    if box is None:
        return True
    south, west, north, east = box
    return south <= stop.lat <= north and west <= stop.lon <= east


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
