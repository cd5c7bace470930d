"""`spgw report flows` and `spgw retention run` (registered on the main group by gateway.cli).

The report prints as readable text, as JSON (``--json``, the same document as
``GET /api/v1/reports/flows``) or as CSV (``--csv``: one table of rows, a ``section`` column
naming the table, every cell defused against spreadsheet formulas by core.csv_safe)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator
from typing import Any

import click

from gateway.cli import _emit, _handles_errors, _runtime
from gateway.core.csv_safe import safe_row
from gateway.service.compliance.audit_access import OPERATOR_READER
from gateway.service.compliance.reports import flow_report
from gateway.service.compliance.retention import run_retention


@click.group("report")
def report_group() -> None:
    """Compliance reports over the audit, the consents and the agreements."""


def _date(ctx: click.Context, param: click.Parameter, value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter("use a date as YYYY-MM-DD") from None


@report_group.command("flows")
@click.option("--from", "start", callback=_date, help="First day (YYYY-MM-DD); default 30 days before --to.")
@click.option("--to", "end", callback=_date, help="Last day (YYYY-MM-DD); default today.")
@click.option("--by", type=click.Choice(["pair", "category", "purpose"]), default="pair", show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.option("--csv", "as_csv", is_flag=True)
@click.pass_context
@_handles_errors
def flows_command(
    ctx: click.Context, start: dt.date | None, end: dt.date | None, by: str, as_json: bool, as_csv: bool
) -> None:
    """Flows by organization pair, category or purpose; denials; consents; agreements; emergencies."""
    rt = _runtime(ctx)
    end = end or rt.now().date()
    start = start or end - dt.timedelta(days=30)
    report = flow_report(rt, OPERATOR_READER, start=start, end=end, by=by)
    if as_csv:
        click.echo(to_csv(report), nl=False)
    else:
        _emit(report, as_json, to_text)


def _csv_rows(report: dict[str, Any]) -> Iterator[list[object]]:
    yield ["section", "key", "value", "count", "detail"]
    for row in report["flows"]:
        key = "/".join(str(row[k]) for k in ("source", "recipient", "category", "purpose") if k in row)
        yield ["flows", key, "records", row["disclosures"], row["records"]]
    for row in report["denials"]:
        yield [
            "denials",
            f"{row['source']}/{row['recipient']}",
            row["reason"],
            row["denials"],
            row["purpose"],
        ]
    for what, ids in report["consents"].items():
        for consent in ids:
            yield ["consents", consent, what, 1, ""]
    for what, items in report["agreements"].items():
        for a in items:
            yield [
                "agreements",
                f"{a['key']}@{a['version']}",
                what,
                1,
                a.get("expires") or " ".join(a.get("unsignedBy", [])),
            ]
    for e in report["emergencies"]:
        yield ["emergencies", e["id"], e["recipient"], 1, e["date"]]
    for what, count in report["retention"].items():
        yield ["retention", what, "", count, ""]


def to_csv(report: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for row in _csv_rows(report):
        writer.writerow(safe_row(row))
    return out.getvalue()


def to_text(r: dict[str, Any]) -> str:
    t = r["totals"]
    lines = [
        f"flows {r['from']} .. {r['to']} by {r['by']} ({r['scope']})",
        f"  {t['disclosures']} disclosure(s), {t['records']} record(s), {t['decisions']} decision(s), "
        f"{t['denials']} denial(s), {t['emergencies']} emergency disclosure(s)",
        "flows:",
    ]
    for row in r["flows"]:
        key = " -> ".join(str(row[k]) for k in ("source", "recipient", "category", "purpose") if k in row)
        lines.append(f"  {key}: {row['disclosures']} disclosure(s), {row['records']} record(s)")
    lines.append("denials:")
    lines += [
        f"  {d['reason']}: {d['source']} -> {d['recipient']} ({d['purpose']}) x{d['denials']}"
        for d in r["denials"]
    ]
    c = r["consents"]
    lines.append(
        f"consents: granted {len(c['granted'])}, revoked {len(c['revoked'])}, expired {len(c['expired'])}"
    )
    lines += [f"  {what}: {' '.join(ids)}" for what, ids in c.items() if ids]
    a = r["agreements"]
    lines.append(
        f"agreements: proposed {len(a['proposed'])}, unsigned {len(a['unsigned'])}, ending {len(a['ending'])}"
    )
    lines += [
        f"  unsigned {x['key']}@{x['version']}: awaiting {', '.join(x['unsignedBy'])}" for x in a["unsigned"]
    ]
    lines += [f"  ending {x['key']}@{x['version']} on {x['expires']}" for x in a["ending"]]
    lines.append("emergencies:")
    lines += [
        f"  {e['date']} {e['id']} -> {e['recipient']} ({', '.join(e['categories'])})"
        for e in r["emergencies"]
    ]
    if r["retention"]:
        lines.append("retention: " + ", ".join(f"{k} {v}" for k, v in r["retention"].items()))
    return "\n".join(lines)


@click.group("retention")
def retention_group() -> None:
    """Stored payload copies and their agreements' retention (R14)."""


@retention_group.command("run")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@_handles_errors
def retention_run_command(ctx: click.Context, as_json: bool) -> None:
    """Purge the payload copies past retention (audited; digests and metadata are kept)."""
    _emit(run_retention(_runtime(ctx)).to_dict(), as_json, _retention_text)


def _retention_text(d: dict[str, Any]) -> str:
    lines = [
        f"retention at {d['at']}: purged {len(d['purgedMessages'])} message(s), "
        f"{len(d['purgedDeliveries'])} delivery body(ies); {len(d['pending'])} past retention awaiting replay"
    ]
    lines += [f"  pending {p}" for p in d["pending"]]
    return "\n".join(lines)


def register(main: click.Group) -> None:
    main.add_command(report_group)
    main.add_command(retention_group)
