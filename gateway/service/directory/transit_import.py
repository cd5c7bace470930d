"""Import a GTFS static feed (zip or folder) into the gateway's database, replacing the feed of
the same name in one transaction. Rows that break the spec are reported with their file, line and
reason, and the rest lands; a feed without its required files or time zone is refused whole.

Stop times are streamed and inserted in batches (memory stays flat in the size of stop_times.txt:
only the stop and trip id maps are held). A trip's stop_times rows must come together, as every
feed writes them; rows of a trip met again after other trips are reported, not stored."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from gateway.core.geo import cell_key
from gateway.core.transit import Frequency, mode_of
from gateway.errors import InputInvalid, Issue
from gateway.formats import gtfs_rows
from gateway.formats.gtfs import GtfsSource, Problem
from gateway.service.runtime import Runtime
from gateway.storage import transit_store as store
from gateway.storage.db import Session

BATCH = 10_000
SHOWN_PER_FILE = 20  # problems listed per file; all are counted


@dataclass(kw_only=True)
class FileCount:
    read: int = 0
    loaded: int = 0
    problems: int = 0


@dataclass(frozen=True, kw_only=True)
class ImportReport:
    feed: str
    timezone: str
    files: dict[str, FileCount]
    problems: tuple[Problem, ...]  # the first few per file

    def to_dict(self) -> dict[str, Any]:
        return {
            "feed": self.feed,
            "timezone": self.timezone,
            "files": {name: vars(count) for name, count in self.files.items()},
            "problemCount": sum(c.problems for c in self.files.values()),
            "problems": [p.to_dict() for p in self.problems],
        }


def feed_name(path: Path) -> str:
    return path.stem if path.is_file() else path.name


def import_feed(rt: Runtime, path: Path, *, name: str | None = None) -> ImportReport:
    """Read the feed at ``path`` and store it as feed ``name`` (default: the file or folder name)."""
    name = name or feed_name(path)
    with GtfsSource(path) as source:
        source.check()
        with rt.sessions.begin() as session:
            loader = _Loader(session=session, source=source, name=name)
            loader.run(rt.now())
        with rt.sessions.begin() as session:  # after the commit: statistics of the rows now visible
            store.analyze(session)
        return loader.report()


@dataclass(kw_only=True)
class _Loader:
    session: Session
    source: GtfsSource
    name: str
    timezone: str = ""
    feed_key: int = 0
    counts: dict[str, FileCount] = field(default_factory=dict)
    shown: list[Problem] = field(default_factory=list)
    stops: dict[str, int] = field(default_factory=dict)
    trips: dict[str, int] = field(default_factory=dict)
    routes: set[str] = field(default_factory=set)
    services: set[str] = field(default_factory=set)

    def run(self, now: dt.datetime) -> None:
        agency = self._agency()
        self.feed_key = store.replace_feed(self.session, self.name, self.timezone, agency, now)
        self._stops()
        self._simple("routes.txt", gtfs_rows.route, self._route_row, store.ROUTES)
        self._simple("calendar.txt", gtfs_rows.calendar, self._calendar_row, store.CALENDARS)
        self._simple("calendar_dates.txt", gtfs_rows.calendar_date, self._date_row, store.CALENDAR_DATES)
        frequencies = self._frequencies()
        self._trips(set(frequencies))
        self._stop_times()
        self._store_frequencies(frequencies)

    def report(self) -> ImportReport:
        for problem in self.source.problems:
            self._problem(problem.file, problem.line, problem.message)
        return ImportReport(
            feed=self.name, timezone=self.timezone, files=self.counts, problems=tuple(self.shown)
        )

    # -- bookkeeping

    def _count(self, file: str) -> FileCount:
        return self.counts.setdefault(file, FileCount())

    def _problem(self, file: str, line: int, message: str) -> None:
        count = self._count(file)
        count.problems += 1
        if count.problems <= SHOWN_PER_FILE:
            self.shown.append(Problem(file=file, line=line, message=message))

    def _rows(self, file: str) -> Iterator[tuple[int, dict[str, str]]]:
        count = self._count(file)
        for line, row in self.source.rows(file):
            count.read += 1
            yield line, row

    def _parsed(self, file: str, parse: Callable[[dict[str, str]], Any]) -> Iterator[tuple[int, Any]]:
        for line, row in self._rows(file):
            try:
                yield line, parse(row)
            except ValueError as exc:
                self._problem(file, line, str(exc))

    def _flush(self, file: str, table: type[Any], rows: list[dict[str, Any]]) -> None:
        store.add(self.session, table, rows)
        self._count(file).loaded += len(rows)
        rows.clear()

    # -- files

    def _agency(self) -> str:
        names, zones = [], []
        for _line, row in self._rows("agency.txt"):
            names.append(row.get("agency_name", ""))
            zones.append(row.get("agency_timezone", ""))
        zone = next((z for z in zones if z), "")
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise InputInvalid(
                "the feed's agency_timezone is missing or not an IANA time zone",
                [Issue(path="agency.txt/agency_timezone", message="give e.g. America/New_York")],
            ) from None
        self.timezone = zone
        self._count("agency.txt").loaded = len(names)
        return "; ".join(n for n in names if n)

    def _stops(self) -> None:
        parsed: dict[str, gtfs_rows.Stop] = {}
        for line, stop in self._parsed("stops.txt", gtfs_rows.stop):
            if stop.stop_id in parsed:
                self._problem(
                    "stops.txt", line, f"stop_id {stop.stop_id!r} is given twice; the first is kept"
                )
            else:
                parsed[stop.stop_id] = stop
        rows: list[dict[str, Any]] = []
        for key, stop in enumerate(parsed.values(), start=1):
            self.stops[stop.stop_id] = key
            parent = parsed.get(stop.parent_station)
            point = stop.point or (parent.point if parent else None)  # a boarding area may sit at its station
            rows.append(
                {
                    "feed_key": self.feed_key,
                    "stop_key": key,
                    "stop_id": stop.stop_id,
                    "name": stop.name,
                    "lat": point.lat if point else None,
                    "lon": point.lon if point else None,
                    "cell": cell_key(point) if point else None,
                    "location_type": stop.location_type,
                }
            )
            if len(rows) >= BATCH:
                self._flush("stops.txt", store.STOPS, rows)
        self._flush("stops.txt", store.STOPS, rows)

    def _simple(
        self,
        file: str,
        parse: Callable[[dict[str, str]], Any],
        row_of: Callable[[Any], Any],
        table: type[Any],
    ) -> None:
        rows: list[dict[str, Any]] = []
        seen: set[Any] = set()
        for line, value in self._parsed(file, parse):
            key, row = row_of(value)
            if key in seen:
                self._problem(file, line, f"{key} is given twice; the first is kept")
                continue
            seen.add(key)
            rows.append({"feed_key": self.feed_key, **row})
        self._flush(file, table, rows)

    def _route_row(self, route: gtfs_rows.Route) -> tuple[Any, dict[str, Any]]:
        self.routes.add(route.route_id)
        return route.route_id, {
            "route_id": route.route_id,
            "short_name": route.short_name,
            "long_name": route.long_name,
            "route_type": route.route_type,
            "mode": mode_of(route.route_type),
        }

    def _calendar_row(self, c: Any) -> tuple[Any, dict[str, Any]]:
        self.services.add(c.service_id)
        weekdays = "".join("1" if flag else "0" for flag in c.weekdays)
        row = {"service_id": c.service_id, "weekdays": weekdays, "start_date": c.start, "end_date": c.end}
        return f"service_id {c.service_id!r}", row

    def _date_row(self, d: Any) -> tuple[Any, dict[str, Any]]:
        self.services.add(d.service_id)
        row = {"service_id": d.service_id, "date": d.date, "exception_type": d.exception_type}
        return f"service_id {d.service_id!r} on {d.date}", row

    def _frequencies(self) -> dict[str, list[tuple[int, Frequency]]]:
        found: dict[str, list[tuple[int, Frequency]]] = {}
        for line, (trip_id, frequency) in self._parsed("frequencies.txt", gtfs_rows.frequency):
            found.setdefault(trip_id, []).append((line, frequency))
        return found

    def _trips(self, frequency_based: set[str]) -> None:
        rows: list[dict[str, Any]] = []
        for line, trip in self._parsed("trips.txt", gtfs_rows.trip):
            reason = self._trip_problem(trip)
            if reason:
                self._problem("trips.txt", line, reason)
                continue
            key = self.trips[trip.trip_id] = len(self.trips) + 1
            rows.append(
                {
                    "feed_key": self.feed_key,
                    "trip_key": key,
                    "trip_id": trip.trip_id,
                    "route_id": trip.route_id,
                    "service_id": trip.service_id,
                    "headsign": trip.headsign,
                    "frequency_based": trip.trip_id in frequency_based,
                }
            )
            if len(rows) >= BATCH:
                self._flush("trips.txt", store.TRIPS, rows)
        self._flush("trips.txt", store.TRIPS, rows)

    def _trip_problem(self, trip: gtfs_rows.Trip) -> str:
        if trip.trip_id in self.trips:
            return f"trip_id {trip.trip_id!r} is given twice; the first is kept"
        if trip.route_id not in self.routes:
            return f"route_id {trip.route_id!r} is not in routes.txt"
        if trip.service_id not in self.services:
            return f"service_id {trip.service_id!r} is in neither calendar.txt nor calendar_dates.txt"
        return ""

    def _stop_times(self) -> None:
        file = "stop_times.txt"
        rows: list[dict[str, Any]] = []
        done: set[int] = set()  # trips whose rows have all been met
        for group in gtfs_rows.timed_trips(self._stop_time_values()):
            if isinstance(group, gtfs_rows.Untimed):
                self._problem(file, group.line, "an untimed stop at a trip's end: give it a time")
                continue
            for st in self._kept(group, done):
                rows.append(st)
            if len(rows) >= BATCH:
                self._flush(file, store.STOP_TIMES, rows)
        self._flush(file, store.STOP_TIMES, rows)

    def _stop_time_values(self) -> Iterator[gtfs_rows.StopTime]:
        for line, row in self._rows("stop_times.txt"):
            try:
                yield gtfs_rows.stop_time(line, row)
            except ValueError as exc:
                self._problem("stop_times.txt", line, str(exc))

    def _kept(self, group: list[gtfs_rows.StopTime], done: set[int]) -> Iterator[dict[str, Any]]:
        file = "stop_times.txt"
        trip_key = self.trips.get(group[0].trip_id)
        if trip_key is None or trip_key in done:
            reason = (
                f"trip_id {group[0].trip_id!r} is not a trip of the feed"
                if trip_key is None
                else "this trip's rows come after other trips' rows: sort stop_times.txt by trip_id"
            )
            for st in group:
                self._problem(file, st.line, reason)
            return
        done.add(trip_key)
        sequences: set[int] = set()
        for st in group:
            stop_key = self.stops.get(st.stop_id)
            if stop_key is None or st.sequence in sequences:
                reason = (
                    f"stop_id {st.stop_id!r} is not in stops.txt"
                    if stop_key is None
                    else (f"stop_sequence {st.sequence} is given twice for this trip")
                )
                self._problem(file, st.line, reason)
                continue
            sequences.add(st.sequence)
            yield {
                "feed_key": self.feed_key,
                "trip_key": trip_key,
                "sequence": st.sequence,
                "stop_key": stop_key,
                "arrival": st.arrival,
                "departure": st.departure,
                "pickup": st.pickup,
                "drop_off": st.drop_off,
            }

    def _store_frequencies(self, frequencies: dict[str, list[tuple[int, Frequency]]]) -> None:
        file = "frequencies.txt"
        rows: dict[tuple[int, int], dict[str, Any]] = {}
        for trip_id, entries in frequencies.items():
            for line, f in entries:
                key = self.trips.get(trip_id)
                if key is None or (key, f.start) in rows:
                    reason = (
                        "is not a trip of the feed" if key is None else "has two rows with this start_time"
                    )
                    self._problem(file, line, f"trip_id {trip_id!r} {reason}")
                    continue
                times = {"start": f.start, "end": f.end, "headway": f.headway, "exact_times": f.exact_times}
                rows[(key, f.start)] = {"feed_key": self.feed_key, "trip_key": key, **times}
        self._flush(file, store.FREQUENCIES, list(rows.values()))
