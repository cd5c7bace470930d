"""transit feeds (issue 16)

GTFS static feeds: ``transit_feeds`` (one per imported feed name, with its time zone) and its
stops (grid cell indexed for lookups near a place), routes, trips, stop times (seconds from the
service day's noon minus 12 h), calendars, calendar dates and frequencies, keyed by the feed's
integer key and the importer's small integer stop and trip keys.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def _feed() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(
        "feed_key", sa.Integer(), sa.ForeignKey("transit_feeds.key", ondelete="CASCADE"), primary_key=True
    )


def upgrade() -> None:
    op.create_table(
        "transit_feeds",
        sa.Column("key", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(120), nullable=False, unique=True),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("agency", sa.Text(), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "transit_stops",
        _feed(),
        sa.Column("stop_key", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("stop_id", sa.String(255), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("cell", sa.String(24), nullable=True),
        sa.Column("location_type", sa.Integer(), nullable=False),
    )
    op.create_index("ix_transit_stops_cell", "transit_stops", ["cell"])
    op.create_table(
        "transit_routes",
        _feed(),
        sa.Column("route_id", sa.String(255), primary_key=True),
        sa.Column("short_name", sa.Text(), nullable=False),
        sa.Column("long_name", sa.Text(), nullable=False),
        sa.Column("route_type", sa.Integer(), nullable=False),
        sa.Column("mode", sa.String(32), nullable=False),
    )
    op.create_table(
        "transit_trips",
        _feed(),
        sa.Column("trip_key", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("trip_id", sa.String(255), nullable=False),
        sa.Column("route_id", sa.String(255), nullable=False),
        sa.Column("service_id", sa.String(255), nullable=False),
        sa.Column("headsign", sa.Text(), nullable=False),
        sa.Column("frequency_based", sa.Boolean(), nullable=False),
    )
    op.create_table(
        "transit_stop_times",
        _feed(),
        sa.Column("trip_key", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("sequence", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("stop_key", sa.Integer(), nullable=False),
        sa.Column("arrival", sa.Integer(), nullable=False),
        sa.Column("departure", sa.Integer(), nullable=False),
        sa.Column("pickup", sa.Integer(), nullable=False),
        sa.Column("drop_off", sa.Integer(), nullable=False),
    )
    op.create_index("ix_transit_stop_times_stop", "transit_stop_times", ["feed_key", "stop_key", "departure"])
    op.create_table(
        "transit_calendars",
        _feed(),
        sa.Column("service_id", sa.String(255), primary_key=True),
        sa.Column("weekdays", sa.String(7), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
    )
    op.create_table(
        "transit_calendar_dates",
        _feed(),
        sa.Column("service_id", sa.String(255), primary_key=True),
        sa.Column("date", sa.Date(), primary_key=True),
        sa.Column("exception_type", sa.Integer(), nullable=False),
    )
    op.create_index("ix_transit_calendar_dates_date", "transit_calendar_dates", ["feed_key", "date"])
    op.create_table(
        "transit_frequencies",
        _feed(),
        sa.Column("trip_key", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("start", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("end", sa.Integer(), nullable=False),
        sa.Column("headway", sa.Integer(), nullable=False),
        sa.Column("exact_times", sa.Boolean(), nullable=False),
    )


def downgrade() -> None:
    for table in (
        "transit_frequencies",
        "transit_calendar_dates",
        "transit_calendars",
        "transit_stop_times",
        "transit_trips",
        "transit_routes",
        "transit_stops",
        "transit_feeds",
    ):
        op.drop_table(table)
