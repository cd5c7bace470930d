"""`spgw directory match STUDENT --need ID`: services for one need of a student's plan, from where
the family lives, read as the named reader (added to the ``directory`` group by
gateway.cli.directory). The family's place is used only when the policy shows it to this reader
for this purpose, and is never printed: the answer says only how it was found."""

from __future__ import annotations

from typing import Any

import click

from gateway.cli import _emit, _handles_errors, _runtime
from gateway.cli.places import parse_when
from gateway.service.directory.directory_match import MatchRequest, match


@click.command("match")
@click.argument("student")
@click.option(
    "--need", "need_id", required=True, help="The need's id in the plan (needs[].id of a plan read)."
)
@click.option("--as", "org", required=True, help="The reading partner organization.")
@click.option("--role", default="coordinator", show_default=True)
@click.option("--purpose", default="care-coordination", show_default=True)
@click.option(
    "--actor", default="cli-user", show_default=True, help="Who is asking, within the organization."
)
@click.option("--when", callback=parse_when, help="ISO date-time to be open at or after [default: now].")
@click.option(
    "--tz",
    envvar="SPGW_TIMEZONE",
    default="UTC",
    show_default=True,
    help="IANA zone for --when without an offset and for hours naming no zone [SPGW_TIMEZONE].",
)
@click.option("--km", type=click.FloatRange(min=0.1, max=100), default=5.0, show_default=True)
@click.option("--limit", type=click.IntRange(min=1, max=100), default=10, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@_handles_errors
def match_command(
    ctx: click.Context, /, student: str, org: str, tz: str, as_json: bool, **options: Any
) -> None:
    """Services for need --need of STUDENT (stu-... or SYSTEM|VALUE), best first, each explained."""
    rt = _runtime(ctx)
    request = MatchRequest(student_ref=student, organization_id=org, timezone=tz, **options)
    _emit(match(rt, request).to_dict(), as_json, _text)


def _text(answer: dict[str, Any]) -> str:
    need = answer["need"]
    code = need.get("code", {})
    lines = [
        f"Need {need['id']}: {code.get('display') or code.get('code', '')} ({answer['category'] or '-'})"
    ]
    if answer["reason"]:
        return "\n".join([*lines, answer["reason"]])
    lines.append(f"Family location: {answer['location']}; {len(answer['suggestions'])} suggestion(s)")
    for number, found in enumerate(answer["suggestions"], 1):
        lines.append(f"{number}. {found['name']} ({found['organization']}), score {found['score']}")
        lines.append(f"   {found['explanation']}")
    return "\n".join(lines)
