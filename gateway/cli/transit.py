"""``spgw transit import PATH`` and ``spgw transit trips`` (registered on the main group by
gateway.cli): load a GTFS feed, and ask it for direct trips between two places, for people
checking a feed before matching relies on it."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Any

import click

from gateway.cli import _emit, _handles_errors, _runtime
from gateway.cli.places import parse_point, parse_when
from gateway.core.geo import Point
from gateway.service.directory.transit import trips_between
from gateway.service.directory.transit_import import import_feed


@click.group("transit")
def transit_group() -> None:
    """Public transit feeds (GTFS) used to tell how a family can reach a service."""


@transit_group.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=True, path_type=Path))
@click.option("--feed", "name", help="The feed's name [default: the zip's or folder's name]; replaces it.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@_handles_errors
def import_command(ctx: click.Context, path: Path, name: str | None, as_json: bool) -> None:
    """Import the GTFS feed at PATH (zip or folder); exit 3 when some rows did not land."""
    report = import_feed(_runtime(ctx), path, name=name).to_dict()
    _emit(report, as_json, _import_text)
    if report["problemCount"]:
        sys.exit(3)


def _import_text(r: dict[str, Any]) -> str:
    lines = [f"feed {r['feed']} ({r['timezone']}): {r['problemCount']} problems"]
    for name, c in r["files"].items():
        lines.append(f"  {name:<20} read {c['read']:>9}  loaded {c['loaded']:>9}  problems {c['problems']}")
    lines.extend(f"  {p['file']}:{p['line']}: {p['message']}" for p in r["problems"])
    return "\n".join(lines)


@transit_group.command("trips")
@click.option("--from", "origin", required=True, callback=parse_point, help="LAT,LON where the trip starts.")
@click.option("--to", "destination", required=True, callback=parse_point, help="LAT,LON where it ends.")
@click.option("--at", "leave_after", required=True, callback=parse_when, help="Leave after (feed time).")
@click.option("--within", "within_minutes", default=120, show_default=True, help="Minutes to wait at most.")
@click.option("--walk-km", default=0.8, show_default=True, help="Longest walk to or from a stop.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@_handles_errors
def trips_command(
    ctx: click.Context,
    origin: Point,
    destination: Point,
    leave_after: dt.datetime,
    within_minutes: int,
    walk_km: float,
    as_json: bool,
) -> None:
    """Direct trips (no transfer) between two places, sorted by arrival."""
    options = trips_between(
        _runtime(ctx),
        origin,
        destination,
        leave_after=leave_after,
        within_minutes=within_minutes,
        walk_km=walk_km,
    )
    rows = [
        {
            **{k: v for k, v in vars(o).items() if not k.endswith("_at")},
            "departs_at": o.departs_at.isoformat() if o.departs_at else None,
            "arrives_at": o.arrives_at.isoformat() if o.arrives_at else None,
            "explanation": o.explain(),
        }
        for o in options
    ]
    _emit(rows, as_json, _trips_text)


def _trips_text(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no direct trip in that window"
    return "\n".join(f"{r['explanation']} ({_walk(r)}; {r['feed']})" for r in rows)


def _walk(r: dict[str, Any]) -> str:
    return f"walk {r['walk_to_stop_km']:.2f} km + {r['walk_from_stop_km']:.2f} km"
