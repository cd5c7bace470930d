"""`spgw agreements ...`: the administrator's commands over the agreement life cycle.

The CLI acts as the gateway administrator: it sees every agreement, may propose one, and
records a signature received on paper for a party (`sign --for ORG --signed-by NAME`),
which is audited as such. Partners sign over HTTP with their own credentials.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from gateway.cli import _emit, _handles_errors, _runtime
from gateway.service.policy import agreements as agreement_service
from gateway.service.policy.agreement_signing import SignatureRequest, sign
from gateway.service.policy.agreement_views import Acting

FILE = click.Path(exists=True, dir_okay=False, path_type=Path)
CLI = Acting.administrator("cli")


def agreement_line(a: dict[str, Any]) -> str:
    force = "in force" if a["inForce"] else "not in force"
    version = a["version"] if a["version"] is not None else "-"
    line = f"{a['id']}@{version}  {a['status']:<10} {force:<12} {', '.join(a['parties'])}"
    proposal = a["proposal"]
    if proposal:
        awaiting = ", ".join(proposal["awaiting"]) or "nobody"
        line += f"\n  proposed v{proposal['version']} ({proposal['digest'][:19]}…), awaiting: {awaiting}"
    return line


def _effect_text(a: dict[str, Any]) -> str:
    return f"{a['effect']}: " + agreement_line(a)


@click.group()
def agreements() -> None:
    """Data-sharing agreements (MOUs / DSAs): propose, sign, suspend, terminate."""


@agreements.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@_handles_errors
def agreements_list(ctx: click.Context, as_json: bool) -> None:
    """List agreements: version in force, status, whether in force today, pending proposals."""
    found = [a.to_dict() for a in agreement_service.list_agreements(_runtime(ctx), CLI)]
    _emit(found, as_json, lambda rows: "\n".join(agreement_line(a) for a in rows) or "no agreements")


@agreements.command("show")
@click.argument("agreement_id")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@_handles_errors
def agreements_show(ctx: click.Context, agreement_id: str, as_json: bool) -> None:
    """One agreement: who has and has not signed its pending version."""
    found = agreement_service.show_agreement(_runtime(ctx), agreement_id, CLI)
    _emit(found.to_dict(), as_json, agreement_line)


@agreements.command("import")
@click.argument("path", type=FILE)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@_handles_errors
def agreements_import(ctx: click.Context, path: Path, as_json: bool) -> None:
    """Propose an agreement (or a new version) from a YAML or JSON file, checked whole.

    A new agreement or a widening version waits for every party's signature; a version that
    only narrows applies at once."""
    document = agreement_service.read_agreement_file(path)
    result = agreement_service.import_agreement(_runtime(ctx), document, acting=CLI)
    _emit(result.to_dict(), as_json, _effect_text)


@agreements.command("set-status")
@click.argument("agreement_id")
@click.argument("status", type=click.Choice(agreement_service.STATUSES))
@click.option("--reason", required=True, help="Why (audited as a digest).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@_handles_errors
def agreements_set_status(
    ctx: click.Context, agreement_id: str, status: str, reason: str, as_json: bool
) -> None:
    """Suspend or terminate (final) at once; reactivating is proposed to every party."""
    result = agreement_service.set_status(_runtime(ctx), agreement_id, status, acting=CLI, reason=reason)
    _emit(result.to_dict(), as_json, _effect_text)


@agreements.command("sign")
@click.argument("agreement_id")
@click.option("--for", "party", required=True, help="The party whose paper signature this is.")
@click.option("--signed-by", required=True, help="Who signed for that party.")
@click.option("--version", type=int, help="The version signed (default: the pending proposal).")
@click.option("--digest", help="The digest printed on the signed copy, checked against the version.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@_handles_errors
def agreements_sign(
    ctx: click.Context,
    agreement_id: str,
    party: str,
    signed_by: str,
    version: int | None,
    digest: str | None,
    as_json: bool,
) -> None:
    """Record a signature received on paper (audited as recorded by the administrator)."""
    request = SignatureRequest(
        agreement_id=agreement_id,
        signed_by=signed_by,
        version=version,
        version_digest=digest,
        on_behalf_of=party,
    )
    result = sign(_runtime(ctx), request, acting=CLI)
    _emit(result.to_dict(), as_json, _effect_text)
