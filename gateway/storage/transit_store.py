"""Transit feeds over a caller's session. Nothing here commits: the import replaces a feed in
the service's one transaction, and the trip search reads in a few set-based queries."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import Select, and_, delete, func, insert, or_, select, text, union_all, update
from sqlalchemy.orm import Session, aliased

from gateway.core.transit import Calendar, CalendarDate, Frequency
from gateway.storage.transit_tables import (
    TransitCalendarDateRow,
    TransitCalendarRow,
    TransitFeedRow,
    TransitFrequencyRow,
    TransitRouteRow,
    TransitStopRow,
    TransitStopTimeRow,
    TransitTripRow,
)

_CHILDREN = (
    TransitFrequencyRow,
    TransitStopTimeRow,
    TransitTripRow,
    TransitCalendarDateRow,
    TransitCalendarRow,
    TransitRouteRow,
    TransitStopRow,
)
STOPS, ROUTES, TRIPS = TransitStopRow, TransitRouteRow, TransitTripRow
STOP_TIMES, CALENDARS, CALENDAR_DATES = TransitStopTimeRow, TransitCalendarRow, TransitCalendarDateRow
FREQUENCIES = TransitFrequencyRow
_CHUNK = 500  # bounded IN lists on every database


def replace_feed(session: Session, name: str, timezone: str, agency: str, now: dt.datetime) -> int:
    """Empty the feed called ``name`` (or create it) and return its key; the caller's transaction
    makes the replacement atomic: readers see the old feed until it commits."""
    key = session.scalar(select(TransitFeedRow.key).where(TransitFeedRow.name == name))
    if key is None:
        row = TransitFeedRow(name=name, timezone=timezone, agency=agency, imported_at=now)
        session.add(row)
        session.flush()
        return row.key
    for table in _CHILDREN:
        session.execute(delete(table).where(table.feed_key == key))
    session.execute(
        update(TransitFeedRow)
        .where(TransitFeedRow.key == key)
        .values(timezone=timezone, agency=agency, imported_at=now)
    )
    return key


def add(session: Session, table: type[Any], rows: list[dict[str, Any]]) -> None:
    """Insert rows in one executemany (the caller batches them)."""
    if rows:
        session.execute(insert(table.__table__), rows)  # Core executemany: no ORM bookkeeping


def analyze(session: Session) -> None:
    """Fresh planner statistics after a bulk load, on PostgreSQL (autovacuum analyses much later):
    with none, the trip search's self-join of stop_times was planned for an empty table and a few
    searches took seconds. SQLite plans from its indexes alone."""
    if session.get_bind().dialect.name == "postgresql":
        for table in (*_CHILDREN, TransitFeedRow):
            session.execute(text(f"ANALYZE {table.__tablename__}"))


def feeds(session: Session) -> list[dict[str, Any]]:
    rows = session.execute(select(TransitFeedRow).order_by(TransitFeedRow.name)).scalars()
    return [{"name": r.name, "timezone": r.timezone, "agency": r.agency, "key": r.key} for r in rows]


@dataclass(frozen=True, kw_only=True)
class StoredStop:
    feed_key: int
    stop_key: int
    name: str
    lat: float
    lon: float


def stops_in_cells(
    session: Session, cells: Iterable[str], box: tuple[float, float, float, float] | None = None
) -> list[StoredStop]:
    """Boardable stops (location_type 0 or 4) in these grid cells, inside the (south, west,
    north, east) box when one is given (a cell holds hundreds of a city's stops; a walk's box
    a few: the ``(cell, lat, lon)`` index answers the box)."""
    return stops_in_boxes(session, cells, [box] if box is not None else [])


def stops_in_boxes(
    session: Session, cells: Iterable[str], boxes: Sequence[tuple[float, float, float, float]]
) -> list[StoredStop]:
    """``stops_in_cells`` for several boxes at once (the stops near each of a search's
    candidates: one query), inside any of them; no box: every stop of the cells."""
    s = TransitStopRow
    statement = select(s.feed_key, s.stop_key, s.name, s.lat, s.lon).where(
        s.cell.in_(sorted(set(cells))), s.location_type.in_((0, 4))
    )
    if boxes:
        inside = [
            and_(s.lat.between(south, north), s.lon.between(west, east)) for south, west, north, east in boxes
        ]
        statement = statement.where(or_(*inside))
    return [
        StoredStop(feed_key=f, stop_key=k, name=n, lat=la, lon=lo)
        for f, k, n, la, lo in session.connection().execute(statement).all()
        if la is not None and lo is not None
    ]


def feed_zones(session: Session, keys: Iterable[int]) -> dict[int, tuple[str, str]]:
    """Name and time zone per feed key."""
    statement = select(TransitFeedRow.key, TransitFeedRow.name, TransitFeedRow.timezone).where(
        TransitFeedRow.key.in_(sorted(set(keys)))
    )
    return {key: (name, zone) for key, name, zone in session.execute(statement)}


def service_calendar(
    session: Session, feed_key: int, days: Sequence[dt.date]
) -> tuple[list[Calendar], list[CalendarDate]]:
    """The feed's calendars that cover any of ``days``, and its calendar_dates rows on them."""
    c, d = TransitCalendarRow, TransitCalendarDateRow
    calendars = session.execute(
        select(c).where(c.feed_key == feed_key, c.start_date <= max(days), c.end_date >= min(days))
    ).scalars()
    dates = session.execute(select(d).where(d.feed_key == feed_key, d.date.in_(list(days)))).scalars()
    return (
        [
            Calendar(
                service_id=r.service_id,
                weekdays=tuple(ch == "1" for ch in r.weekdays),  # type: ignore[arg-type]
                start=r.start_date,
                end=r.end_date,
            )
            for r in calendars
        ],
        [CalendarDate(service_id=r.service_id, date=r.date, exception_type=r.exception_type) for r in dates],
    )


class Ride(NamedTuple):
    """A trip that calls at an origin stop and later at a destination stop (a tuple: a search
    reads hundreds, one per pair of stops)."""

    trip_key: int
    service_id: str
    frequency_based: bool
    route: str
    route_type: int
    from_stop: int
    departure: int
    to_stop: int
    arrival: int


def frequency_trips(session: Session, feed_key: int) -> dict[int, str]:
    """The feed's frequency-based trips: trip key -> service id (most feeds have few or none)."""
    t = TransitTripRow
    statement = select(t.trip_key, t.service_id).where(t.feed_key == feed_key, t.frequency_based.is_(True))
    return {key: service for key, service in session.execute(statement)}


def rides(
    session: Session,
    feed_key: int,
    stops: tuple[Sequence[int], Sequence[int]],
    timetabled: Sequence[tuple[Sequence[str], int, int]],
    frequency_based: Sequence[int] | None,
) -> list[Ride]:
    """Rides from an origin stop (boarding allowed) to a later destination stop (alighting
    allowed), in one statement. A timetabled trip qualifies when its service runs on a service
    day and its departure falls in that day's window (``(service ids, lo, hi)`` per day: each a
    range of the stop-time index, not a scan of the stops' whole day); a frequency-based trip
    when it is one of ``frequency_based`` (the caller's running ones, read by trip key; None:
    too many to list, read them by stop), its runs are expanded after."""
    origins, destinations = stops
    if not origins or not destinations:
        return []
    parts = [
        _rides(feed_key, origins, destinations).where(
            t_.frequency_based.is_(False),
            t_.service_id.in_(list(services)),
            a_.departure.between(lo, hi),
        )
        for services, lo, hi in timetabled
        if services
    ]
    if frequency_based is None:
        parts.append(_rides(feed_key, origins, destinations).where(t_.frequency_based.is_(True)))
    for start in range(0, len(frequency_based or ()), _CHUNK):
        keys = list(frequency_based or ())[start : start + _CHUNK]
        parts.append(_rides(feed_key, origins, destinations, by_trip=True).where(a_.trip_key.in_(keys)))
    if not parts:
        return []
    statement = parts[0] if len(parts) == 1 else union_all(*parts)
    return [
        Ride(k, sid, bool(fb), name or "", rt, fs, dep, ts, arr)
        for k, sid, fb, name, rt, fs, dep, ts, arr in session.connection().execute(statement).all()
    ]


_RideSelect = Select[int, str, bool, Any, int, int, int, int, int]
a_, b_ = aliased(TransitStopTimeRow, name="a"), aliased(TransitStopTimeRow, name="b")
t_, r_ = TransitTripRow, TransitRouteRow


def _rides(
    feed_key: int, origins: Sequence[int], destinations: Sequence[int], *, by_trip: bool = False
) -> _RideSelect:
    # By trip: "stop_key + 0" keeps SQLite from the stop index (a scan of the stops' whole day)
    # so it reads the few named trips by primary key; PostgreSQL plans both the same.
    origin = (a_.stop_key + 0) if by_trip else a_.stop_key
    return (
        select(
            t_.trip_key,
            t_.service_id,
            t_.frequency_based,
            func.coalesce(func.nullif(r_.short_name, ""), r_.long_name),
            r_.route_type,
            a_.stop_key,
            a_.departure,
            b_.stop_key,
            b_.arrival,
        )
        .join(b_, and_(b_.feed_key == a_.feed_key, b_.trip_key == a_.trip_key, b_.sequence > a_.sequence))
        .join(t_, and_(t_.feed_key == a_.feed_key, t_.trip_key == a_.trip_key))
        .join(r_, and_(r_.feed_key == t_.feed_key, r_.route_id == t_.route_id))
        .where(
            a_.feed_key == feed_key,
            origin.in_(list(origins)),
            b_.stop_key.in_(list(destinations)),
            a_.pickup != 1,
            b_.drop_off != 1,
        )
    )


def frequencies(session: Session, feed_key: int, trip_keys: Iterable[int]) -> dict[int, list[Frequency]]:
    """Each frequency-based trip's frequencies rows."""
    f = TransitFrequencyRow
    found: dict[int, list[Frequency]] = {}
    wanted = sorted(set(trip_keys))
    for start in range(0, len(wanted), _CHUNK):
        statement = select(f).where(f.feed_key == feed_key, f.trip_key.in_(wanted[start : start + _CHUNK]))
        for row in session.execute(statement).scalars():
            found.setdefault(row.trip_key, []).append(
                Frequency(start=row.start, end=row.end, headway=row.headway, exact_times=row.exact_times)
            )
    return found


def first_departures(session: Session, feed_key: int, trip_keys: Iterable[int]) -> dict[int, int]:
    """The departure at each trip's first stop, i.e. its earliest (a frequency-based trip's stop
    times are a template: only their offsets from the first departure count)."""
    st = TransitStopTimeRow
    wanted = sorted(set(trip_keys))
    found: dict[int, int] = {}
    for start in range(0, len(wanted), _CHUNK):
        statement = (
            select(st.trip_key, func.min(st.departure))
            .where(st.feed_key == feed_key, st.trip_key.in_(wanted[start : start + _CHUNK]))
            .group_by(st.trip_key)
        )
        found.update({k: v for k, v in session.execute(statement)})
    return found
