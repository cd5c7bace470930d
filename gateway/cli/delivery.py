"""`spgw refer`, `spgw deliver` and `spgw deliveries list` (registered on the main group by
gateway.cli): queue a consented referral, run the outbox worker, list the outbox."""

from __future__ import annotations

import time
from typing import Any

import click

from gateway.cli import QuietAlias, _emit, _handles_errors, _runtime, human
from gateway.service.compliance.audit import signs_on_exit
from gateway.service.compliance.retention import run_if_due
from gateway.service.compliance.witness import deliver_heads
from gateway.service.referrals.deliveries import STATUSES, DeliverySummary, list_deliveries, refer
from gateway.service.referrals.delivery_worker import deliver_due


def _line(d: dict[str, Any]) -> str:
    reason = f"  {d['reason']}" if d["reason"] else ""
    return f"{d['id']}  {d['status']:<9} {d['source']} -> {d['recipient']}  {d['purpose']}{reason}"


def _lines(rows: list[dict[str, Any]], empty: str) -> str:
    return "\n".join(_line(d) for d in rows) or empty


def _dicts(summaries: list[DeliverySummary]) -> list[dict[str, Any]]:
    return [s.to_dict() for s in summaries]


@click.command("refer")
@click.argument("student")
@click.option(
    "--source", "--from", "source", cls=QuietAlias, required=True, help="The referring organization."
)
@click.option(
    "--recipient",
    "--to",
    "recipient",
    cls=QuietAlias,
    required=True,
    help="The agency that receives the referral.",
)
@click.option("--role", required=True, help="The recipient's role (e.g. case-worker).")
@click.option("--purpose", required=True, help="Why (e.g. referral-fulfillment).")
@click.option("--actor", default="cli-user", show_default=True, help="Who refers, within --source.")
@click.option("--reason-code", help="A code naming the need referred for (e.g. a SNOMED CT code).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@_handles_errors
def refer_command(
    ctx: click.Context,
    student: str,
    source: str,
    recipient: str,
    role: str,
    purpose: str,
    actor: str,
    reason_code: str | None,
    as_json: bool,
) -> None:
    """Queue a consented referral of STUDENT (stu-... or SYSTEM|VALUE) for delivery."""
    summary = refer(
        _runtime(ctx),
        student_ref=student,
        source_org=source,
        recipient_org=recipient,
        actor=actor,
        role=role,
        purpose=purpose,
        note_code=reason_code,
    )
    _emit(summary.to_dict(), as_json, _line)


@click.command("deliver")
@click.option("--once", is_flag=True, help="Send what is due now, then stop.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 1000))
@click.option(
    "--interval", default=5.0, show_default=True, type=click.FloatRange(0.1), help="Seconds between runs."
)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@_handles_errors
def deliver_command(ctx: click.Context, once: bool, limit: int, interval: float, as_json: bool) -> None:
    """Run the outbox worker: decide again and send due deliveries (until Ctrl-C unless --once)."""
    rt = _runtime(ctx)
    # The newest audit head is signed on the way out (SIGTERM and Ctrl-C included).
    with signs_on_exit(rt):
        if once:
            _emit(_dicts(deliver_due(rt, limit=limit)), as_json, lambda rows: _lines(rows, "nothing due"))
            deliver_heads(rt, limit=limit)
            run_if_due(rt)  # the retention purge, every Settings.retention_interval_seconds
            return
        try:
            while True:
                done = deliver_due(rt, limit=limit)
                deliver_heads(rt, limit=limit)  # signs a head when due, sends heads to witnesses
                run_if_due(rt)  # the retention purge, every Settings.retention_interval_seconds
                if done:
                    _emit(_dicts(done), as_json, lambda rows: _lines(rows, ""))
                if len(done) < limit:  # the queue is drained: wait before looking again
                    time.sleep(interval)
        except KeyboardInterrupt:
            click.echo("stopped", err=True)


@click.group("deliveries")
def deliveries_group() -> None:
    """The outbox: referrals queued, sent, failed or cancelled."""


@deliveries_group.command("list")
@click.option("--status", type=click.Choice(STATUSES))
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 1000))
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@_handles_errors
def deliveries_list(ctx: click.Context, status: str | None, limit: int, as_json: bool) -> None:
    """Deliveries in the order they were queued: to whom, what, their status and next attempt."""
    rows = list_deliveries(_runtime(ctx), status=status, limit=limit)
    _emit(_dicts(rows), as_json, _deliveries_text)


def _deliveries_text(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no deliveries"
    columns = ("queued", "delivery", "status", "from", "to", "purpose", "data", "attempts", "next", "reason")
    cells = [
        (
            human.when(d["createdAt"]),
            d["id"],
            d["status"],
            d["source"],
            d["recipient"],
            d["purpose"],
            ", ".join(d["categories"]),
            d["attempts"],
            human.when(d["nextAttemptAt"]) if d["nextAttemptAt"] else "",
            d["reason"],
        )
        for d in rows
    ]
    return human.render(
        human.heading("Deliveries", human.count(len(rows), "delivery", "deliveries")),
        human.table(columns, cells),
    )


def register(main: click.Group) -> None:
    """Attach this module's commands to ``main``."""
    for command in (refer_command, deliver_command, deliveries_group):
        main.add_command(command)
