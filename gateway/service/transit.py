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
from collections.abc import Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from gateway.core.geo import Point, cells_within, haversine_km
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
from gateway.storage.transit_store import Ride, StoredStop

_Walks = dict[tuple[int, int], tuple[StoredStop, float]]


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
    with rt.sessions() as session:
        near = store.stops_in_cells(
            session, [*cells_within(origin, walk_km), *cells_within(destination, walk_km)]
        )
        starts, ends = _walks(near, origin, walk_km), _walks(near, destination, walk_km)
        feeds = {f for f, _ in starts} & {f for f, _ in ends}
        zones = store.feed_zones(session, feeds) if feeds else {}
        options = [
            option
            for key, (name, zone) in sorted(zones.items())
            for option in _feed_options(
                session, _Search(key, name, ZoneInfo(zone), starts, ends), leave_after, within_minutes
            )
        ]
    return sorted(
        options, key=lambda o: (o.arrives_at, o.departs_at, o.walk_to_stop_km + o.walk_from_stop_km)
    )


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


def _feed_options(
    session: Session, search: _Search, leave_after: dt.datetime, within_minutes: int
) -> list[TransitOption]:
    days = windows(leave_after, within_minutes, search.tz)
    calendars, dates = store.service_calendar(session, search.feed_key, [w.day for w in days])
    running = {w.day: services_on(w.day, calendars, dates) for w in days}
    stops = (search.stop_keys(search.starts), search.stop_keys(search.ends))
    timetabled = [(sorted(running[w.day]), w.lo, w.hi) for w in days]
    every = sorted(set().union(*running.values()))
    found = store.rides(session, search.feed_key, stops, timetabled, every)
    runs = _frequency_runs(session, search.feed_key, [r for r in found if r.frequency_based])
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


_Runs = dict[int, tuple[int, list[int], int]]  # trip key -> (first departure, run starts, headway)


def _frequency_runs(session: Session, feed_key: int, rides: list[Ride]) -> _Runs:
    keys = {r.trip_key for r in rides}
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
