"""`spgw students link` (registered on the main group by gateway.cli): record a reviewed link
from a partner's identifier to a registered student, then replay what was held for it; and
`spgw students guardians link|list`: the parents and guardians who may consent for a student."""

from __future__ import annotations

import click

from gateway.cli import _emit, _handles_errors, _runtime
from gateway.service.identity.guardian_links import link_guardian, list_guardians
from gateway.service.identity.links import link_identifier


@click.group("students")
def students_group() -> None:
    """Student identity: explicit, reviewed links."""


@students_group.command("link")
@click.argument("student")
@click.option("--system", required=True, help="The partner's identifier system (a URI).")
@click.option("--value", required=True, help="The identifier value in that system.")
@click.option("--by", required=True, help="Who reviewed the link (a staff id; it goes in the audit).")
@click.option("--no-replay", is_flag=True, help="Do not replay the held messages now.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@_handles_errors
def link_command(
    ctx: click.Context, student: str, system: str, value: str, by: str, no_replay: bool, as_json: bool
) -> None:
    """Link SYSTEM|VALUE to STUDENT (a stu-... id or a linked SYSTEM|VALUE)."""
    summary = link_identifier(
        _runtime(ctx), student_ref=student, system=system, value=value, by=by, replay_held=not no_replay
    )
    _emit(summary.to_dict(), as_json, _text)


def _text(d: dict[str, object]) -> str:
    state = "linked" if d["created"] else "already linked"
    replayed = d["replayed"]
    assert isinstance(replayed, list)
    lines = [f"{state}: {d['system']} -> {d['studentId']}"]
    lines += [f"  replayed {r['messageId'][:8]}: {r['status']}" for r in replayed]
    return "\n".join(lines)


@students_group.group("guardians")
def guardians_group() -> None:
    """Parents and legal guardians who may consent for a student (issue 10)."""


@guardians_group.command("link")
@click.argument("student")
@click.option("--system", required=True, help="The person's identifier system (a URI), as consents name it.")
@click.option("--value", required=True, help="The person's identifier in that system.")
@click.option("--relationship", required=True, help="HL7 v3 RoleCode: MTH, FTH, PRN, ADOPTP, GUARD, ...")
@click.option("--by", required=True, help="Who reviewed the papers (a staff id; it goes in the audit).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@_handles_errors
def guardians_link_command(
    ctx: click.Context, student: str, system: str, value: str, relationship: str, by: str, as_json: bool
) -> None:
    """Link a parent or guardian (SYSTEM|VALUE) to STUDENT (stu-... or SYSTEM|VALUE)."""
    summary = link_guardian(
        _runtime(ctx), student_ref=student, system=system, value=value, relationship=relationship, by=by
    )
    _emit(summary.to_dict(), as_json, lambda d: ("linked" if d["created"] else "already linked") + _line(d))


@guardians_group.command("list")
@click.argument("student")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@_handles_errors
def guardians_list_command(ctx: click.Context, student: str, as_json: bool) -> None:
    """Who is linked to STUDENT as parent or guardian, and by what (education record or administrator)."""
    found = [link.to_dict() for link in list_guardians(_runtime(ctx), student)]
    _emit(found, as_json, lambda links: "\n".join(_line(d).strip() for d in links) or "no guardian links")


def _line(d: dict[str, object]) -> str:
    by = d["linkedBy"] if d["source"] == "administrator" else d["sourceOrg"]
    person = f"{d['system']}|{d['value']}"
    return f" {d['authority']} ({d['relationship']}): {person} -> {d['studentId']} by {d['source']} {by}"


def register(main: click.Group) -> None:
    main.add_command(students_group)
