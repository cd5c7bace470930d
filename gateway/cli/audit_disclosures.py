"""`spgw audit disclosures STUDENT`: the accounting of disclosures (34 CFR 99.32, 45 CFR 164.528)."""

from __future__ import annotations

import datetime as dt

import click

from gateway.cli import _emit, _handles_errors, _runtime, human
from gateway.cli.audit import audit_group
from gateway.core import accounting as core
from gateway.service.compliance.accounting import accounting_for
from gateway.service.compliance.audit_access import OPERATOR_READER


@audit_group.command("disclosures")
@click.argument("student")
@click.option("--from", "start", type=click.DateTime(["%Y-%m-%d"]), help="First day (UTC, inclusive).")
@click.option("--to", "end", type=click.DateTime(["%Y-%m-%d"]), help="Last day (UTC, inclusive).")
@click.option("--json", "as_json", is_flag=True)
@click.option("--csv", "as_csv", is_flag=True)
@click.option("--family", is_flag=True, help="The family's copy: without internal entries and denials.")
@click.pass_context
@_handles_errors
def disclosures_command(
    ctx: click.Context,
    student: str,
    start: dt.datetime | None,
    end: dt.datetime | None,
    as_json: bool,
    as_csv: bool,
    family: bool,
) -> None:
    """Who received what about STUDENT (a stu-... id or SYSTEM|VALUE), when, why, on what basis."""
    if as_json and as_csv:
        raise click.UsageError("choose one of --json and --csv")
    acc = accounting_for(
        _runtime(ctx),
        OPERATOR_READER,
        student,
        start=start.date() if start else None,
        end=end.date() if end else None,
        family=family,
    )
    if as_csv:
        click.echo(core.to_csv(acc), nl=False)
        return
    _emit(acc.to_dict() if as_json else acc, as_json, _accounting_text)


def _accounting_text(acc: core.Accounting) -> str:
    """The accounting as tables: one row per recipient and purpose, then the denied requests."""
    window = f" from {acc.start or 'the start'} to {acc.end or 'today'}" if acc.start or acc.end else ""
    copy = "the family's copy" if acc.family else "every entry"
    parts = [
        human.heading(f"Accounting of disclosures for {acc.student}", f"{copy}{window}"),
        human.table(core.TABLE_COLUMNS, [core.table_cells(r) for r in acc.rows])
        if acc.rows
        else human.heading("(no disclosures)"),
    ]
    if acc.denials:
        denials = [
            (d.date, d.recipient, d.role, d.action, d.purpose, "; ".join(d.reasons), d.decision_id)
            for d in acc.denials
        ]
        columns = ("date", "recipient", "role", "action", "purpose", "why", "decision")
        parts += [human.heading("Denied requests"), human.table(columns, denials)]
    return human.render(*parts)
