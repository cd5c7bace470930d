"""`spgw audit export`: the audit as FHIR R4 AuditEvents (IHE BALP), a Bundle or NDJSON."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import click
import orjson

from gateway.cli import _handles_errors, _runtime
from gateway.cli.audit import audit_group
from gateway.service.compliance import audit_export as export
from gateway.service.compliance.audit_access import OPERATOR_READER


@contextlib.contextmanager
def _out(path: Path | None) -> Iterator[IO[bytes]]:
    if path is None:
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    with path.open("wb") as fh:
        yield fh


@audit_group.command("export")
@click.option("--format", "fmt", type=click.Choice(["fhir", "ndjson"]), default="fhir", show_default=True)
@click.option("--since", help="Entries recorded at or after this date or instant (ISO 8601).")
@click.option("--until", help="Entries recorded before this date or instant (ISO 8601).")
@click.option("--student", help="Only entries about this student id.")
@click.option(
    "--kinds",
    default="decision,disclosure",
    show_default=True,
    help="Comma-separated entry kinds, or 'all' (other kinds export as application-activity events).",
)
@click.option(
    "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write here instead of stdout."
)
@click.pass_context
@_handles_errors
def audit_export_cmd(
    ctx: click.Context,
    fmt: str,
    since: str | None,
    until: str | None,
    student: str | None,
    kinds: str,
    output: Path | None,
) -> None:
    """The decision and disclosure entries as AuditEvents: a 'collection' Bundle (fhir) or one
    AuditEvent per line (ndjson, streamed: any range in bounded memory). The export is audited."""
    dates = []
    if since:
        dates.append(export.parse_date(f"ge{since}", "--since"))
    if until:
        dates.append(export.parse_date(f"lt{until}", "--until"))
    wanted = () if kinds == "all" else tuple(k.strip() for k in kinds.split(",") if k.strip())
    query = export.ExportQuery(dates=tuple(dates), kinds=wanted, student=student)
    rt = _runtime(ctx)
    export.audit_export(rt, OPERATOR_READER, query, fmt=fmt)
    with _out(output) as out:
        if fmt == "ndjson":
            for event in export.events(rt, OPERATOR_READER, query):
                out.write(orjson.dumps(event) + b"\n")
            return
        # A Bundle is written entry by entry too: no list of the range is held.
        out.write(b'{"resourceType":"Bundle","type":"collection"')
        n = 0
        for n, event in enumerate(export.events(rt, OPERATOR_READER, query), start=1):
            item = {"fullUrl": f"AuditEvent/{event['id']}", "resource": event}
            out.write((b',"entry":[' if n == 1 else b",") + orjson.dumps(item))
        out.write(b"]}\n" if n else b"}\n")  # FHIR JSON has no empty arrays
