"""Click callbacks for where and when, shared by the directory and transit commands."""

from __future__ import annotations

import datetime as dt

import click

from gateway.core.geo import Point


def parse_point(ctx: click.Context, param: click.Parameter, value: str | None) -> Point | None:
    """``LAT,LON`` in decimal degrees; a value out of range is refused like one that is not numbers."""
    if value is None:
        return None
    try:
        lat, lon = (float(part) for part in value.split(","))
        return Point(lat=lat, lon=lon)
    except ValueError:
        raise click.BadParameter("give LAT,LON in decimal degrees, e.g. 41.82,-71.41") from None


def parse_when(ctx: click.Context, param: click.Parameter, value: str | None) -> dt.datetime | None:
    """An ISO date-time, with or without an offset (the command says which zone a bare one is in)."""
    if value is None:
        return None
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            "give an ISO date-time, e.g. 2026-12-07T15:30 or 2026-12-07T15:30-05:00"
        ) from None
