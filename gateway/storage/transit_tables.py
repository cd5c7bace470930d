"""Transit tables (GTFS static feeds, migration 0014). A feed's rows are keyed by the feed's
integer key and small integer keys the importer gives its stops and trips, so the million rows of
stop_times stay narrow; the GTFS ids are kept on stops and trips. Stop times are seconds from the
service day's "noon minus 12 h" (they may pass 86,400: 25:10:00 is 90,600)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, Date, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from gateway.storage.tables import Base, UTCDateTime


class TransitFeedRow(Base):
    __tablename__ = "transit_feeds"
    key: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    timezone: Mapped[str] = mapped_column(String(64))  # agency_timezone (IANA)
    agency: Mapped[str] = mapped_column(Text)
    imported_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


def _feed() -> Mapped[int]:
    return mapped_column(Integer, ForeignKey("transit_feeds.key", ondelete="CASCADE"), primary_key=True)


class TransitStopRow(Base):
    __tablename__ = "transit_stops"
    feed_key: Mapped[int] = _feed()
    stop_key: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    stop_id: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(Text)
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    cell: Mapped[str | None] = mapped_column(String(24))  # gateway.core.geo.cell_key
    location_type: Mapped[int] = mapped_column(Integer)


class TransitRouteRow(Base):
    __tablename__ = "transit_routes"
    feed_key: Mapped[int] = _feed()
    route_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    short_name: Mapped[str] = mapped_column(Text)
    long_name: Mapped[str] = mapped_column(Text)
    route_type: Mapped[int] = mapped_column(Integer)
    mode: Mapped[str] = mapped_column(String(32))


class TransitTripRow(Base):
    __tablename__ = "transit_trips"
    feed_key: Mapped[int] = _feed()
    trip_key: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    trip_id: Mapped[str] = mapped_column(String(255))
    route_id: Mapped[str] = mapped_column(String(255))
    service_id: Mapped[str] = mapped_column(String(255))
    headsign: Mapped[str] = mapped_column(Text)
    frequency_based: Mapped[bool] = mapped_column(Boolean)


class TransitStopTimeRow(Base):
    __tablename__ = "transit_stop_times"
    feed_key: Mapped[int] = _feed()
    trip_key: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    sequence: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    stop_key: Mapped[int] = mapped_column(Integer)
    arrival: Mapped[int] = mapped_column(Integer)
    departure: Mapped[int] = mapped_column(Integer)
    pickup: Mapped[int] = mapped_column(Integer)  # pickup_type: 1 = no pickup
    drop_off: Mapped[int] = mapped_column(Integer)  # drop_off_type: 1 = no drop off


class TransitCalendarRow(Base):
    __tablename__ = "transit_calendars"
    feed_key: Mapped[int] = _feed()
    service_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    weekdays: Mapped[str] = mapped_column(String(7))  # "1111100": Monday..Sunday
    start_date: Mapped[dt.date] = mapped_column(Date)
    end_date: Mapped[dt.date] = mapped_column(Date)


class TransitCalendarDateRow(Base):
    __tablename__ = "transit_calendar_dates"
    feed_key: Mapped[int] = _feed()
    service_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    date: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    exception_type: Mapped[int] = mapped_column(Integer)


class TransitFrequencyRow(Base):
    __tablename__ = "transit_frequencies"
    feed_key: Mapped[int] = _feed()
    trip_key: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    start: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    end: Mapped[int] = mapped_column(Integer)
    headway: Mapped[int] = mapped_column(Integer)
    exact_times: Mapped[bool] = mapped_column(Boolean)


Index("ix_transit_stops_cell_point", TransitStopRow.cell, TransitStopRow.lat, TransitStopRow.lon)  # 0016
Index(
    "ix_transit_stop_times_stop",
    TransitStopTimeRow.feed_key,
    TransitStopTimeRow.stop_key,
    TransitStopTimeRow.departure,
)
Index("ix_transit_calendar_dates_date", TransitCalendarDateRow.feed_key, TransitCalendarDateRow.date)
