"""`spgw consents ...`, `spgw agreements ...` and `spgw policy explain` (registered on the main
group by gateway.cli): thin commands over the consents, agreements and explain services."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

import click

from gateway.cli import QuietAlias, _emit, _handles_errors, _runtime
from gateway.cli.agreements import agreements
from gateway.core.policy_model import ACTIONS
from gateway.errors import GatewayError, InputInvalid, Issue
from gateway.service.policy import consents as consent_service
from gateway.service.policy.explain import explain
from gateway.service.runtime import Runtime

FILE = click.Path(exists=True, dir_okay=False, path_type=Path)
DAY = click.DateTime(formats=["%Y-%m-%d"])


def _consent_line(c: dict[str, Any]) -> str:
    to = ",".join(c["recipients"])
    what = ",".join(c["categories"]) or ",".join(c["labels"])
    return f"{c['id']}  {c['state']:<13} {c['grantor']} -> {to}  {what}  ({','.join(c['purposes'])})"


@click.group()
def consents() -> None:
    """Family consents (FHIR R4 Consent in and out)."""


@consents.command("import")
@click.argument("paths", nargs=-1, required=True, type=FILE)
@click.option("--by", "by", required=True, help="The organization recording (the consent's grantor).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@_handles_errors
def consents_import(ctx: click.Context, paths: tuple[Path, ...], by: str, as_json: bool) -> None:
    """Import FHIR Consent files; each is checked whole and stored, or refused with its problems."""
    rt = _runtime(ctx)
    results = [_import_one(rt, path, by) for path in paths]
    _emit(results, as_json, lambda rs: "\n".join(_import_text(r) for r in rs))
    if any("error" in r for r in results):
        sys.exit(2)


def _import_one(rt: Runtime, path: Path, by: str) -> dict[str, Any]:
    # One file's refusal does not stop the others: each consent is its own transaction.
    try:
        summary = consent_service.import_consent_bytes(rt, path.read_bytes(), recorded_by=by)
    except GatewayError as exc:
        return {"file": str(path), **exc.to_dict()}
    return {"file": str(path), "consent": summary.to_dict()}


def _import_text(result: dict[str, Any]) -> str:
    if "error" in result:
        issues = "".join(f"\n    {i['path']}: {i['message']}" for i in result["error"]["issues"])
        return f"{result['file']}: refused: {result['error']['message']}{issues}"
    consent = result["consent"]
    return f"{result['file']}: {'recorded' if consent['created'] else 'already recorded'} {consent['id']}"


@consents.command("record")
@click.argument("student")
@click.option("--grantor", required=True, help="The organization the consent lets disclose.")
@click.option(
    "--recipient",
    "--to",
    "recipients",
    cls=QuietAlias,
    multiple=True,
    required=True,
    help="A recipient organization (repeatable).",
)
@click.option("--category", "categories", multiple=True, required=True)
@click.option("--purpose", "purposes", multiple=True, required=True)
@click.option("--signer", type=click.Choice(["parent", "guardian", "student"]), required=True)
@click.option("--signer-system", help="A parent's or guardian's identifier system (as their guardian link).")
@click.option("--signer-value", help="A parent's or guardian's identifier in that system.")
@click.option("--relationship", help="A parent's or guardian's HL7 v3 RoleCode (default PRN or GUARD).")
@click.option("--signed", type=DAY, required=True, help="The day it was signed (YYYY-MM-DD).")
@click.option("--expires", type=DAY, required=True, help="The last day it holds (YYYY-MM-DD).")
@click.option("--deny", is_flag=True, help="The family refuses this sharing (a deny consent).")
@click.option("--label", "labels", multiple=True, help="A security label (e.g. 42CFRPart2).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@_handles_errors
def consents_record(ctx: click.Context, /, student: str, **options: Any) -> None:
    """Record what a family signed for STUDENT (stu-... or SYSTEM|VALUE) as a FHIR Consent."""
    as_json = options.pop("as_json")
    summary = consent_service.record_consent(
        _runtime(ctx),
        student_ref=student,
        signer_role=options.pop("signer"),
        signer_identifier=_signer_identifier(options.pop("signer_system"), options.pop("signer_value")),
        signed_at=options.pop("signed").date(),
        expires=options.pop("expires").date(),
        recorded_by=options["grantor"],
        **options,
    )
    _emit(summary.to_dict(), as_json, lambda c: f"recorded {_consent_line(c)}")


def _signer_identifier(system: str | None, value: str | None) -> tuple[str, str] | None:
    return (system, value) if system and value else None


@consents.command("list")
@click.option("--student", help="Only this student's (stu-... or SYSTEM|VALUE).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@_handles_errors
def consents_list(ctx: click.Context, student: str | None, as_json: bool) -> None:
    """List consents (a student's with --student): state, grantor -> recipients, data, purposes."""
    found = [c.to_dict() for c in consent_service.list_consents(_runtime(ctx), student)]
    _emit(found, as_json, lambda cs: "\n".join(_consent_line(c) for c in cs) or "no consents")


@consents.command("revoke")
@click.argument("consent_id")
@click.option("--by", "by", required=True, help="The organization revoking: its recorder or a recipient.")
@click.option(
    "--requested-by",
    type=click.Choice(consent_service.REQUESTERS),
    default="organization",
    show_default=True,
    help="Who asked for the revocation (audited).",
)
@click.option("--at", "at", help="When it took effect (ISO 8601 with offset); default now.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@_handles_errors
def consents_revoke(
    ctx: click.Context, consent_id: str, by: str, requested_by: str, at: str | None, as_json: bool
) -> None:
    """Revoke a consent from its time on; queued deliveries relying on it are cancelled."""
    summary = consent_service.revoke_consent(
        _runtime(ctx), consent_id, at=_instant(at), by=by, requested_by=requested_by
    )
    _emit(
        summary.to_dict(),
        as_json,
        lambda c: (
            f"{c['id']} revoked at {c['revokedAt']}; {c['cancelledDeliveries']} queued deliveries cancelled"
        ),
    )


def _instant(text: str | None) -> dt.datetime | None:
    if text is None:
        return None
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InputInvalid("invalid --at", [Issue(path="at", message="an ISO 8601 date-time")]) from exc


@consents.command("export")
@click.argument("consent_id")
@click.pass_context
@_handles_errors
def consents_export(ctx: click.Context, consent_id: str) -> None:
    """Print the consent as FHIR R4 Consent JSON (inactive, ending at its revocation, once revoked)."""
    click.echo(json.dumps(consent_service.export_consent(_runtime(ctx), consent_id), indent=2))


@click.group()
def policy() -> None:
    """The policy decision point."""


@policy.command("explain")
@click.option("--source", required=True, help="The organization the data comes from.")
@click.option(
    "--recipient",
    "--to",
    "recipient",
    cls=QuietAlias,
    required=True,
    help="The organization that would receive it.",
)
@click.option("--category", "categories", multiple=True, required=True)
@click.option("--purpose", required=True)
@click.option("--role", required=True)
@click.option("--actor", default="cli-user", show_default=True)
@click.option("--student", "student_ref", help="stu-... or SYSTEM|VALUE: decide with their consents.")
@click.option(
    "--regime",
    "regimes",
    multiple=True,
    help="FERPA, HIPAA, 42CFRPart2, not-covered [default: as a plan read labels the data: the "
    "student's records from --source, else the labels the mappings give the categories].",
)
@click.option(
    "--sensitivity",
    "sensitivities",
    multiple=True,
    help="[default: as a read labels the data, with --regime]",
)
@click.option("--action", type=click.Choice(sorted(ACTIONS)), default="read", show_default=True)
@click.option("--emergency-reason", default="", help="The threat, for purpose 'emergency'.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@_handles_errors
def policy_explain(ctx: click.Context, /, as_json: bool, **inputs: Any) -> None:
    """Show what the decision point would decide for this request, and why. Without --regime the
    data is labelled as a plan read labels it, so the answer is the read's."""
    _emit(explain(_runtime(ctx), **inputs, as_read=True), as_json, _explain_text)


def _explain_text(d: dict[str, Any]) -> str:
    lines = [f"{d['effect'].upper()}  (decision {d['decisionId']}, policy {d['policyVersion']})"]
    labels = d["inputs"]["regimes"] + d["inputs"]["sensitivities"]
    lines.append(f"  decided for: {', '.join(labels) or 'data under no law (not-covered)'}")
    lines += [f"  basis: {b}" for b in d["basis"]]
    lines += [f"  rule: {r}" for r in d["matchedRules"]]
    lines += [f"  why: {r}" for r in d["reasons"]]
    lines += [f"  obligation: {json.dumps(o)}" for o in d["obligations"]]
    inputs = d["inputs"]
    lines.append(f"  consents considered: {', '.join(inputs['consentsConsidered']) or 'none'}")
    lines.append(f"  agreements in force: {', '.join(inputs['agreementsInForce']) or 'none'}")
    return "\n".join(lines)


def register(main: click.Group) -> None:
    """Attach this module's command groups to ``main``."""
    for group in (consents, agreements, policy):
        main.add_command(group)
