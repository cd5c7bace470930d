"""``spgw check FORMAT PATHS... --source ORG``: what sending these files would do, storing nothing.

Every file is parsed, validated, mapped, decided on and linked by the pipeline's own steps in a
transaction that is rolled back (gateway/service/exchange/check.py). The answer is a table per file (records
that would land, be held, be ignored, be rejected or fail) with the first reasons of each outcome,
or JSON with ``--json``. Exit code: 0 when no record of any file would be rejected or fail, 1 when
one would (or a file is refused whole, or the command failed), 2 for a usage or gateway error.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from gateway.cli import FormatName, _emit, _entity_for, _formats_epilog, _handles_errors, _runtime
from gateway.service.exchange.check import OUTCOMES, CheckReport, check_file
from gateway.service.exchange.exchanges import ONEROSTER_BUNDLES

# outcome -> the column header a vendor reads
COLUMNS = {
    "accepted": "land",
    "held": "held",
    "ignored": "ignored",
    "rejected": "rejected",
    "failed": "failed",
}


@click.command("check", epilog=_formats_epilog())
@click.argument("format_name", metavar="FORMAT", type=FormatName())
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=True, path_type=Path))
@click.option("--source", required=True, help="The partner organization the files would be sent as.")
@click.option("--entity", help="Record type when the format does not carry it (Ed-Fi resource name).")
@click.option("--json", "as_json", is_flag=True, help="One JSON document instead of the table.")
@click.pass_context
@_handles_errors
def check_command(
    ctx: click.Context,
    format_name: str,
    paths: tuple[Path, ...],
    source: str,
    entity: str | None,
    as_json: bool,
) -> None:
    """Check files as partner SOURCE would send them: nothing is stored.

    Exit code 0 when nothing would be rejected, 1 otherwise."""
    for path in paths:
        if path.is_dir() and format_name not in ONEROSTER_BUNDLES:
            raise click.BadParameter(f"{path} is a folder; only OneRoster bundles may be folders")
    rt = _runtime(ctx)
    reports = [_check(rt, format_name, path, source, entity) for path in paths]
    result = {
        "files": [r.to_dict() for r in reports],
        "wouldReject": any(r.would_reject for r in reports),
    }
    _emit(result, as_json, _table)
    sys.exit(1 if result["wouldReject"] else 0)


def _check(rt: Any, fmt: str, path: Path, source: str, entity: str | None) -> CheckReport:
    entity = _entity_for(path, entity) if fmt == "edfi-json" else entity
    return check_file(rt, source_org=source, format_name=fmt, path=path, entity=entity)


def _table(result: dict[str, Any]) -> str:
    files = result["files"]
    width = max([len("file"), *(len(f["file"]) for f in files)])
    header = f"{'file':<{width}}  {'records':>7}" + "".join(f"  {COLUMNS[o]:>8}" for o in OUTCOMES)
    lines = [header]
    for f in files:
        lines.append(f"{f['file']:<{width}}  {f['records']:>7}" + "".join(f"  {f[o]:>8}" for o in OUTCOMES))
        lines.extend(_reason_lines(f))
    verdict = "some records would be rejected" if result["wouldReject"] else "nothing would be rejected"
    lines.append(f"{verdict} (nothing was stored)")
    return "\n".join(lines)


def _reason_lines(report: dict[str, Any]) -> list[str]:
    lines = []
    error = report.get("error")
    if error is not None:
        lines.append(f"  refused whole ({error['code']}): {error['message']}")
        lines.extend(f"    {i['path']}: {i['message']}" for i in error["issues"][:5])
    for outcome in OUTCOMES:
        for reason in report["reasons"].get(outcome, []):
            where = reason["firstLocation"]
            lines.append(f"  {COLUMNS[outcome]} x{reason['count']}: {reason['reason']} (first at {where})")
    return lines
