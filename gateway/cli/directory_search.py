"""`spgw directory search`: services for a need category near a place, for a coordinator exploring
without a student (added to the ``directory`` group by gateway.cli.directory). No student data is
read; each result shows its distance, hours and the trip there, with why it was suggested."""

from __future__ import annotations

import datetime as dt
from typing import Any

import click

from gateway.cli import _emit, _handles_errors, _runtime
from gateway.cli.places import parse_point, parse_when
from gateway.core.geo import Point
from gateway.core.matching import NeedQuery
from gateway.core.schedule import zone_of
from gateway.service.directory.directory_search import search


@click.command("search")
@click.option("--category", required=True, help="A need category, e.g. food-insecurity (see the crosswalk).")
@click.option("--near", required=True, callback=parse_point, help="LAT,LON of the place to search from.")
@click.option("--when", callback=parse_when, help="ISO date-time to be open at or after [default: now].")
@click.option(
    "--tz",
    envvar="SPGW_TIMEZONE",
    default="UTC",
    show_default=True,
    help="IANA zone for --when without an offset and for hours naming no zone [SPGW_TIMEZONE].",
)
@click.option("--language", default="", help="Language the family speaks (es, Spanish, ...).")
@click.option(
    "--age", type=click.FloatRange(0, 130), help="Age in years, checked against the services' ages."
)
@click.option("--postal-code", default="", help="The family's postal code, checked against service areas.")
@click.option("--km", type=click.FloatRange(min=0.1), default=5.0, show_default=True)
@click.option("--no-transit", is_flag=True, help="Distance only: do not look for trips.")
@click.option("--walk-km", type=click.FloatRange(min=0), default=0.8, show_default=True)
@click.option("--limit", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@_handles_errors
def search_command(
    ctx: click.Context, /, near: Point, when: dt.datetime | None, tz: str, **options: Any
) -> None:
    """Services for a need CATEGORY near a place, open at or after --when, best first."""
    rt = _runtime(ctx)
    as_json = options.pop("as_json")
    need = _need(near, when or rt.now(), tz, **options)
    _emit([s.to_dict() for s in search(rt, need)], as_json, _text)


def _need(near: Point, when: dt.datetime, tz: str, *, no_transit: bool, **options: Any) -> NeedQuery:
    try:
        zone = zone_of(tz)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--tz") from None
    # A time without an offset is the directory's local time; now is shown in that zone too.
    when = when.replace(tzinfo=zone) if when.tzinfo is None else when.astimezone(zone)
    return NeedQuery(point=near, when=when, timezone=tz, transit=not no_transit, **options)


def _text(rows: list[dict[str, Any]]) -> str:
    def line(i: int, r: dict[str, Any]) -> str:
        return f"{i}. {r['name']} ({r['organization']})  {r['address']}\n   {r['explanation']}".rstrip()

    return "\n".join(line(i, r) for i, r in enumerate(rows, 1)) or "no services found"
