"""GTFS rows read into values, one parser per file. Each raises ValueError with a message a
person can act on; the importer reports it with the file and line and goes on with the next row.

Untimed stops (blank arrival and departure, as feeds with ``timepoint=0`` write them) are given
times by linear interpolation between the timed stops around them, by ``shape_dist_traveled``
when every row of the trip has it, else evenly by position. An untimed stop at either end of a
trip cannot be placed and is reported (GTFS requires the first and last stop to be timed)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from gateway.core.geo import Point
from gateway.core.transit import Calendar, CalendarDate, Frequency, parse_date, parse_time


@dataclass(frozen=True, kw_only=True)
class Stop:
    stop_id: str
    name: str
    point: Point | None
    location_type: int
    parent_station: str


@dataclass(frozen=True, kw_only=True)
class Route:
    route_id: str
    short_name: str
    long_name: str
    route_type: int


@dataclass(frozen=True, kw_only=True)
class Trip:
    trip_id: str
    route_id: str
    service_id: str
    headsign: str


@dataclass(frozen=True, kw_only=True, slots=True)
class StopTime:
    line: int
    trip_id: str
    stop_id: str
    sequence: int
    arrival: int | None
    departure: int | None
    pickup: int
    drop_off: int
    distance: float | None


def _required(row: dict[str, str], column: str) -> str:
    value = row.get(column, "")
    if not value:
        raise ValueError(f"{column} is required")
    return value


def _int(row: dict[str, str], column: str, default: int) -> int:
    value = row.get(column, "")
    if not value:
        return default
    try:
        return int(float(value)) if "." in value else int(value)
    except ValueError:
        raise ValueError(f"{column} is not a number: {value!r}") from None


def _time(row: dict[str, str], column: str) -> int | None:
    value = row.get(column, "")
    return parse_time(value) if value else None


def stop(row: dict[str, str]) -> Stop:
    stop_id = _required(row, "stop_id")
    lat, lon = row.get("stop_lat", ""), row.get("stop_lon", "")
    point = None
    if lat and lon:
        try:
            point = Point(lat=float(lat), lon=float(lon))
        except ValueError:
            raise ValueError(f"stop_lat/stop_lon are not a WGS84 position: {lat!r}, {lon!r}") from None
    location_type = _int(row, "location_type", 0)
    if point is None and location_type in (0, 1, 2):
        raise ValueError("stop_lat and stop_lon are required for a stop, station or entrance")
    name = row.get("stop_name", "") or row.get("stop_desc", "") or row.get("stop_code", "") or stop_id
    return Stop(
        stop_id=stop_id,
        name=name,
        point=point,
        location_type=location_type,
        parent_station=row.get("parent_station", ""),
    )


def route(row: dict[str, str]) -> Route:
    short, long = row.get("route_short_name", ""), row.get("route_long_name", "")
    if not short and not long:
        raise ValueError("route_short_name or route_long_name is required")
    return Route(
        route_id=_required(row, "route_id"),
        short_name=short,
        long_name=long,
        route_type=_int(row, "route_type", 3) if row.get("route_type") else _missing_type(),
    )


def _missing_type() -> int:
    raise ValueError("route_type is required")


def trip(row: dict[str, str]) -> Trip:
    return Trip(
        trip_id=_required(row, "trip_id"),
        route_id=_required(row, "route_id"),
        service_id=_required(row, "service_id"),
        headsign=row.get("trip_headsign", ""),
    )


_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def calendar(row: dict[str, str]) -> Calendar:
    flags = []
    for day in _WEEKDAYS:
        value = row.get(day, "")
        if value not in ("0", "1"):
            raise ValueError(f"{day} must be 0 or 1, not {value!r}")
        flags.append(value == "1")
    return Calendar(
        service_id=_required(row, "service_id"),
        weekdays=(flags[0], flags[1], flags[2], flags[3], flags[4], flags[5], flags[6]),
        start=parse_date(_required(row, "start_date")),
        end=parse_date(_required(row, "end_date")),
    )


def calendar_date(row: dict[str, str]) -> CalendarDate:
    kind = _int(row, "exception_type", 0)
    if kind not in (1, 2):
        raise ValueError("exception_type must be 1 (service added) or 2 (service removed)")
    return CalendarDate(
        service_id=_required(row, "service_id"), date=parse_date(_required(row, "date")), exception_type=kind
    )


def frequency(row: dict[str, str]) -> tuple[str, Frequency]:
    headway = _int(row, "headway_secs", 0)
    if headway <= 0:
        raise ValueError("headway_secs must be a positive number of seconds")
    start, end = parse_time(_required(row, "start_time")), parse_time(_required(row, "end_time"))
    if end < start:
        raise ValueError("end_time is before start_time")
    exact = _int(row, "exact_times", 0) == 1
    return _required(row, "trip_id"), Frequency(start=start, end=end, headway=headway, exact_times=exact)


def stop_time(line: int, row: dict[str, str]) -> StopTime:
    arrival, departure = _time(row, "arrival_time"), _time(row, "departure_time")
    distance = row.get("shape_dist_traveled", "")
    return StopTime(
        line=line,
        trip_id=_required(row, "trip_id"),
        stop_id=_required(row, "stop_id"),
        sequence=_int(row, "stop_sequence", -1) if row.get("stop_sequence") else _no_sequence(),
        arrival=arrival if arrival is not None else departure,
        departure=departure if departure is not None else arrival,
        pickup=_int(row, "pickup_type", 0),
        drop_off=_int(row, "drop_off_type", 0),
        distance=float(distance) if _is_number(distance) else None,
    )


def _no_sequence() -> int:
    raise ValueError("stop_sequence is required")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


@dataclass(frozen=True, kw_only=True)
class Untimed:
    """A stop time that could not be given a time (reported, not stored)."""

    line: int
    trip_id: str


def timed_trips(stop_times: Iterable[StopTime]) -> Iterator[list[StopTime] | Untimed]:
    """Stop times grouped by trip (as feeds write them: a trip's rows together), in stop order,
    with untimed stops interpolated; each untimed stop that cannot be placed comes as Untimed."""
    group: list[StopTime] = []
    for st in stop_times:
        if group and st.trip_id != group[0].trip_id:
            yield from _interpolated(group)
            group = []
        group.append(st)
    if group:
        yield from _interpolated(group)


def _interpolated(group: list[StopTime]) -> Iterator[list[StopTime] | Untimed]:
    group.sort(key=lambda s: s.sequence)
    if all(s.departure is not None for s in group):
        yield group
        return
    timed = [i for i, s in enumerate(group) if s.departure is not None]
    by_distance = all(s.distance is not None for s in group)
    kept: list[StopTime] = []
    for i, st in enumerate(group):
        if st.departure is not None:
            kept.append(st)
            continue
        before = max((t for t in timed if t < i), default=None)
        after = min((t for t in timed if t > i), default=None)
        if before is None or after is None:
            yield Untimed(line=st.line, trip_id=st.trip_id)
            continue
        seconds = _between(group, before, after, i, by_distance)
        kept.append(_with_time(st, seconds))
    yield kept


def _between(group: list[StopTime], before: int, after: int, i: int, by_distance: bool) -> int:
    left, right = group[before], group[after]
    start, end = left.departure or 0, right.arrival or 0
    if (
        by_distance
        and left.distance is not None
        and right.distance is not None
        and right.distance > left.distance
    ):
        share = ((group[i].distance or 0.0) - left.distance) / (right.distance - left.distance)
    else:
        share = (i - before) / (after - before)
    return start + round((end - start) * share)


def _with_time(st: StopTime, seconds: int) -> StopTime:
    return StopTime(
        line=st.line,
        trip_id=st.trip_id,
        stop_id=st.stop_id,
        sequence=st.sequence,
        arrival=seconds,
        departure=seconds,
        pickup=st.pickup,
        drop_off=st.drop_off,
        distance=st.distance,
    )
