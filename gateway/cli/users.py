"""``spgw users add|list|sign-out``: the people who sign in to the pages (issue 15).

The password is read from standard input (one line), never from an argument, so it stays out of
the shell history and the process list.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from gateway.cli import _emit, _handles_errors, _runtime
from gateway.core.people import PAGE_ROLES
from gateway.service.identity.people import add_person, end_sessions, list_people


@click.group("users")
def users_group() -> None:
    """People who sign in to the pages: compliance officers, coordinators and families."""


@users_group.command("add")
@click.argument("email")
@click.option("--role", type=click.Choice(PAGE_ROLES), required=True, help="What the person's pages show.")
@click.option("--organization", help="The organization a compliance officer or coordinator works for.")
@click.option(
    "--student",
    "students",
    multiple=True,
    help="A student a family member is the parent or guardian of (stu-... or SYSTEM|VALUE); repeatable.",
)
@click.option(
    "--relationship",
    default="PRN",
    show_default=True,
    help="A family member's HL7 v3 RoleCode (PRN parent, GUARD guardian...).",
)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@_handles_errors
def add_command(
    ctx: click.Context,
    email: str,
    role: str,
    organization: str | None,
    students: tuple[str, ...],
    relationship: str,
    as_json: bool,
) -> None:
    """Add the person signing in as EMAIL; the password is read from standard input."""
    if sys.stdin.isatty():
        click.echo("Password (at least 12 characters): ", nl=False, err=True)
        password = click.prompt("", hide_input=True, prompt_suffix="", err=True)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    person = add_person(
        _runtime(ctx),
        email=email,
        role=role,
        password=password,
        organization=organization,
        student_refs=students,
        relationship=relationship,
        by="operator",
    )
    shown = {
        "id": person.id,
        "role": person.role,
        "organization": person.organization_id,
        "students": list(person.student_ids),
    }
    _emit(shown, as_json, lambda d: f"added {d['id']} ({d['role']})")


@users_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@_handles_errors
def list_command(ctx: click.Context, as_json: bool) -> None:
    """The accounts, their roles, organizations and students."""
    _emit(list_people(_runtime(ctx)), as_json, _table)


@users_group.command("sign-out")
@click.argument("email")
@click.pass_context
@_handles_errors
def sign_out_command(ctx: click.Context, email: str) -> None:
    """End every session of EMAIL's person at once (a lost laptop, a person who left)."""
    ended = end_sessions(_runtime(ctx), email)
    click.echo(f"ended {ended} session(s)")


def _table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no accounts"
    lines = [f"{'ID':<21} {'ROLE':<12} {'ORGANIZATION':<22} EMAIL"]
    for row in rows:
        state = " (locked)" if row["locked"] else " (disabled)" if row["disabled"] else ""
        lines.append(
            f"{row['id']:<21} {row['role']:<12} {row['organization'] or '-':<22} {row['email']}{state}"
        )
    return "\n".join(lines)
