"""`spgw students link` (registered on the main group by gateway.cli): record a reviewed link
from a partner's identifier to a registered student, then replay what was held for it."""

from __future__ import annotations

import click

from gateway.cli import _emit, _handles_errors, _runtime
from gateway.service.links import link_identifier


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


def register(main: click.Group) -> None:
    main.add_command(students_group)
