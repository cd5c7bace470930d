"""`spgw audit verify|checkpoint|rotate-key`: the log's signed tree heads (attached to audit_group)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from gateway.cli import _emit, _handles_errors, _runtime
from gateway.cli.audit import audit_group
from gateway.core.tree_head import HeadFormatError, parse_kept
from gateway.service.compliance import audit as audit_service


def _report_text(r: dict[str, Any]) -> str:
    state = "BROKEN" if not r["ok"] else ("OK, with warnings" if r["warnings"] else "OK")
    lines = [f"audit chain {state}: {r['entries']} entries, head seq {r['headSeq']}, root {r['root']}"]
    lines += [f"  seq {b['seq']}: {b['kind']}: {b['message']}" for b in r["breaks"]]
    lines += [f"  warning, seq {w['seq']}: {w['kind']}: {w['message']}" for w in r["warnings"]]
    return "\n".join(lines)


@audit_group.command("verify")
@click.option(
    "--against",
    "against",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A file of signed heads kept elsewhere (appended 'spgw audit checkpoint' outputs).",
)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@_handles_errors
def audit_verify(ctx: click.Context, against: Path | None, as_json: bool) -> None:
    """Check the chain, the Merkle tree and every signed head in one pass; exit 1 on any break
    (entries after the last signed head are a warning: 'unsigned')."""
    try:
        kept = parse_kept(against.read_text("utf-8")) if against is not None else []
    except (HeadFormatError, UnicodeDecodeError) as exc:
        raise click.BadParameter(str(exc), param_hint="--against") from None
    report = audit_service.verify(_runtime(ctx), kept)
    _emit(report.to_dict(), as_json, _report_text)
    if not report.ok:
        sys.exit(1)


@audit_group.command("checkpoint")
@click.option("--json", "as_json", is_flag=True, help="The head as one JSON object.")
@click.option("--note", "as_note", is_flag=True, help="The head as a C2SP signed note (the default).")
@click.pass_context
@_handles_errors
def audit_checkpoint(ctx: click.Context, as_json: bool, as_note: bool) -> None:
    """Print the latest signed tree head (signing one now if the log moved since), to keep elsewhere:
    append it to a file and check the log against it with 'spgw audit verify --against FILE'."""
    rt = _runtime(ctx)
    head = audit_service.latest(rt)
    if head is None:
        raise click.ClickException("the audit log is empty: no head to sign")
    if as_json:
        click.echo(_one_line(head.to_dict()))
    else:
        click.echo(audit_service.note_of(rt, head), nl=False)


def _one_line(doc: dict[str, Any]) -> str:
    import json

    return json.dumps(doc, sort_keys=True)


@audit_group.command("rotate-key")
@click.option("--actor", default="cli-user", show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@_handles_errors
def audit_rotate_key(ctx: click.Context, actor: str, as_json: bool) -> None:
    """Make a new audit signing key; the old public key is kept so the heads it signed verify."""
    old, new = audit_service.rotate_key(_runtime(ctx), actor)
    _emit(
        {"oldKeyId": old, "newKeyId": new}, as_json, lambda r: f"audit key {r['oldKeyId']} -> {r['newKeyId']}"
    )
