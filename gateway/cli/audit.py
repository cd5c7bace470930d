"""`spgw audit ...` (registered on the main group by gateway.cli): the tamper-evident audit trail.

Each part of the compliance work keeps its commands in a module of its own that attaches them
to ``audit_group``; ``register`` imports those modules."""

from __future__ import annotations

import sys

import click

from gateway.cli import _emit, _handles_errors, _runtime
from gateway.service import audit as audit_service


@click.group("audit")
def audit_group() -> None:
    """The tamper-evident audit trail."""


@audit_group.command("verify")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@_handles_errors
def audit_verify(ctx: click.Context, as_json: bool) -> None:
    """Check the hash chain and the signed checkpoints; exit 1 on any break."""
    report = audit_service.verify(_runtime(ctx))
    _emit(
        report.to_dict(),
        as_json,
        lambda r: (
            f"audit chain {'OK' if r['ok'] else 'BROKEN'}: {r['entries']} entries, head seq {r['headSeq']}"
            + "".join(f"\n  seq {b['seq']}: {b['kind']}: {b['message']}" for b in r["breaks"])
        ),
    )
    if not report.ok:
        sys.exit(1)


def register(main: click.Group) -> None:
    main.add_command(audit_group)
