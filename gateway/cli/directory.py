"""`spgw directory`: the resource directory (registered on the main group by gateway.cli).

``import`` reads an HSDS file, package or API into the gateway (an import with rejected rows is
kept as a message, ``replay`` lands them after a fix), ``list`` shows what it holds (near a
place, or by source) and ``export`` writes it back as HSDS 3.x JSON. The matching
commands (``search``, ``match``) live in their own modules and are added to this group."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from gateway.cli import _emit, _handles_errors, _runtime
from gateway.cli.directory_match import match_command
from gateway.cli.directory_search import search_command
from gateway.cli.places import parse_point
from gateway.core.geo import Point
from gateway.service.directory.directory import export_source, list_services
from gateway.service.directory.directory_import import import_path, import_url, replay


@click.group("directory")
def directory() -> None:
    """The resource directory: HSDS services the matching suggests."""


@directory.command("import")
@click.argument("target", metavar="PATH|URL")
@click.option("--source", help="The directory's name in the gateway [default: the file name or URL host].")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@_handles_errors
def import_command(ctx: click.Context, target: str, source: str | None, as_json: bool) -> None:
    """Import an HSDS directory: a 3.x JSON file, a tabular package (zip or folder; 1.x, 2.x or
    3.x), or an HSDS API URL (refreshed by modified_after from the second import on)."""
    rt = _runtime(ctx)
    if target.startswith(("http://", "https://")):
        report = import_url(rt, target, source)
    else:
        report = import_path(rt, Path(target), source)
    _emit(report.to_dict(), as_json, _import_text)
    if report.rejected:
        sys.exit(3)


def _import_text(report: dict[str, Any]) -> str:
    kind = "full" if report["full"] else f"changes since {report['watermark'] or 'the start'}"
    lines = [
        f"{report['source']} ({report['origin']}, HSDS {report['version']}, {kind}): "
        f"added {report['added']}, changed {report['changed']}, unchanged {report['unchanged']}, "
        f"removed {report['removed']}, "
        f"rejected {report['rejected']}, warnings {report['warnings']}"
    ]
    lines.extend(f"  {p['where']}: {p['severity']}: {p['message']}" for p in report["problems"])
    if report.get("messageId"):
        lines.append(
            f"kept as message {report['messageId']} with its rejected rows: "
            f"replay it after a fix with spgw messages replay {report['messageId']}"
        )
    return "\n".join(lines)


@directory.command("replay")
@click.argument("message_id")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@_handles_errors
def replay_command(ctx: click.Context, message_id: str, as_json: bool) -> None:
    """Read a kept import (MESSAGE_ID, from its report or spgw messages list) again and land the
    services its rejected rows kept out; exit status 3 while rows are still rejected."""
    report = replay(_runtime(ctx), message_id)
    _emit(report.to_dict(), as_json, _import_text)
    if report.rejected:
        sys.exit(3)


@directory.command("list")
@click.option("--source", help="Only this directory.")
@click.option("--near", callback=parse_point, metavar="LAT,LON", help="Only services within --km.")
@click.option("--km", type=click.FloatRange(min=0.0, max=500.0), default=5.0, show_default=True)
@click.option("--limit", type=click.IntRange(min=1), default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@_handles_errors
def list_command(
    ctx: click.Context, source: str | None, near: Point | None, km: float, limit: int, as_json: bool
) -> None:
    """Services the gateway holds (nearest first with --near)."""
    rows = list_services(_runtime(ctx), source=source, near=near, km=km, limit=limit)
    _emit(rows, as_json, _list_text)


def _list_text(rows: list[dict[str, Any]]) -> str:
    def line(r: dict[str, Any]) -> str:
        distance = f"{r['distanceKm']:>7.2f} km  " if "distanceKm" in r else ""
        return f"{distance}{r['id']}  {r['name']} ({r['organization']})  {r['address']}".rstrip()

    return "\n".join(line(r) for r in rows) or "no services"


@directory.command("export")
@click.option("--source", required=True, help="The directory to export.")
@click.option("--format", "fmt", type=click.Choice(["hsds-json"]), default="hsds-json", show_default=True)
@click.argument("out", type=click.Path(dir_okay=False, writable=True, path_type=Path))
@click.pass_context
@_handles_errors
def export_command(ctx: click.Context, source: str, fmt: str, out: Path) -> None:
    """Write what the gateway holds from SOURCE as HSDS 3.x JSON (a list of services) to OUT."""
    documents = export_source(_runtime(ctx), source)
    out.write_text(json.dumps(documents, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    click.echo(f"{len(documents)} services written to {out}", err=True)


directory.add_command(search_command)
directory.add_command(match_command)
