"""``spgw``: thin commands over the service layer. Each parses argv, calls one service
function and renders the result (text, or JSON with ``--json``). Errors exit non-zero with the
same JSON error shape the HTTP API uses."""

from __future__ import annotations

import difflib
import functools
import json
import logging
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import click

from gateway.cli import human, plan_text
from gateway.errors import GatewayError
from gateway.formats import known_formats
from gateway.service.administration.demo import run_demo
from gateway.service.administration.partners import PARTNER, ROLES, create_secret
from gateway.service.administration.settings_file import load_settings
from gateway.service.administration.setup import initialise
from gateway.service.exchange import messages as message_service
from gateway.service.exchange.inbound import Inbound
from gateway.service.exchange.ingest import IngestSummary, ingest, replay, replay_where
from gateway.service.identity.students import resolve_student_ref
from gateway.service.policy.explain import view_scope
from gateway.service.runtime import Runtime, Settings, open_runtime
from gateway.service.views.plans import ReadRequest, export_plan, read_plan

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger(__name__)


def _emit(data: Any, as_json: bool, text: Callable[[Any], str]) -> None:
    click.echo(json.dumps(data, indent=2, default=str) if as_json else text(data))


def _handles_errors(func: F) -> F:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except GatewayError as exc:
            click.echo(json.dumps(exc.to_dict(), indent=2), err=True)
            sys.exit(2 if exc.status < 500 else 1)
        except (click.ClickException, click.exceptions.Abort, click.exceptions.Exit):
            raise  # usage errors and exits are click's to render
        except Exception as exc:
            # The same error shape, never a traceback: the exception's message may quote PHI.
            log.error("%s failed with %s", func.__name__, type(exc).__name__, exc_info=_debugging())
            error = {"code": "internal_error", "message": f"the command failed ({type(exc).__name__})"}
            click.echo(json.dumps({"error": {**error, "issues": []}}, indent=2), err=True)
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


class QuietAlias(click.Option):
    """An option whose first name is the one word the CLI and the API share (``--recipient``, as
    the API's ``recipient``); the names after it still work for old scripts but are not shown."""

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        shown, self.opts = self.opts, self.opts[:1]
        try:
            return super().get_help_record(ctx)
        finally:
            self.opts = shown


def _debugging() -> bool:
    return log.isEnabledFor(logging.DEBUG)


def _runtime(ctx: click.Context) -> Runtime:
    settings: Settings = ctx.obj["settings"]
    if not (settings.home / "keys").exists():
        raise click.UsageError(f"no gateway at {settings.home}: run 'spgw init' first")
    rt = open_runtime(settings)
    # Close the pool when the command ends: a PostgreSQL server should not see idle leftovers.
    ctx.call_on_close(rt.engine.dispose)
    return rt


@click.group()
@click.option(
    "--home",
    help="Folder for the SQLite database, keys and checkpoints [default: SPGW_HOME, GATEWAY_HOME or var].",
)
@click.option(
    "--config",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A TOML settings file (see deploy/spgw.example.toml) [default: SPGW_CONFIG].",
)
@click.pass_context
def main(ctx: click.Context, home: str | None, config: Path | None) -> None:
    """Success Plan Gateway: consented exchange of education and health records."""
    try:  # command line > SPGW_<NAME> variables > the file > defaults
        settings = load_settings(cli={"home": home}, config=config)
    except GatewayError as exc:
        raise click.UsageError(_problems(exc)) from exc
    ctx.obj = {"settings": settings}


def _problems(error: GatewayError) -> str:
    return "\n".join([error.message, *(f"  {i.path}: {i.message}" for i in error.issues)])


@main.command()
@click.option("--with-samples", is_flag=True, help="Load the demo world (partners, agreements, consents).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@_handles_errors
def init(ctx: click.Context, with_samples: bool, as_json: bool) -> None:
    """Create or migrate the database and create the gateway's keys."""
    rt, report = initialise(ctx.obj["settings"], with_samples=with_samples)
    ctx.call_on_close(rt.engine.dispose)
    _emit(
        report.to_dict(),
        as_json,
        lambda r: (
            f"Gateway ready at {r['home']} ({r['database']})"
            + (f"\nDemo partner credentials: {r['credentials_file']}" if r["credentials_file"] else "")
        ),
    )


@main.command()
@click.option("--home", "demo_home", default="var/demo", show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@_handles_errors
def demo(ctx: click.Context, demo_home: str, as_json: bool) -> None:
    """Run the demo world end to end on a fresh SQLite database and tell what happened."""
    say = (lambda _line: None) if as_json else click.echo
    result = run_demo(Path(demo_home).resolve(), ctx.obj["settings"], say)
    if as_json:
        click.echo(json.dumps(result, indent=2))
    if not result["audit"]["ok"]:
        sys.exit(1)


def _entity_for(path: Path, entity: str | None) -> str | None:
    # Ed-Fi JSON carries no resource name: take it from --entity or the file name's last part.
    return entity or path.stem.split(".")[-1].split("-", 1)[-1]


class FormatName(click.ParamType):  # type: ignore[type-arg]  # generic from click 8.3 on only
    """A wire format from the format registry; a mistyped one is refused before anything is read
    or stored, naming the nearest format and all of them."""

    name = "format"

    @staticmethod
    def choices() -> list[str]:
        from gateway.cli import oneroster  # the bundle alias

        return sorted(set(known_formats()) | oneroster.FORMATS)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        choices = self.choices()
        if value in choices:
            return str(value)
        near = difflib.get_close_matches(str(value), choices, n=1)
        hint = f" (did you mean '{near[0]}'?)" if near else ""
        self.fail(f"unknown format '{value}'{hint}; one of: {', '.join(choices)}", param, ctx)


def _formats_epilog() -> str:
    return "FORMAT is one of: " + ", ".join(FormatName.choices()) + " (see README 'Formats')."


@main.command("ingest", epilog=_formats_epilog())
@click.argument("format_name", metavar="FORMAT", type=FormatName())
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=True, path_type=Path))
@click.option("--source", required=True, help="The sending partner organization id.")
@click.option("--entity", help="Record type when the format does not carry it (Ed-Fi resource name).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@_handles_errors
def ingest_command(
    ctx: click.Context,
    format_name: str,
    paths: tuple[Path, ...],
    source: str,
    entity: str | None,
    as_json: bool,
) -> None:
    """Send files through the exchange pipeline as partner SOURCE, in wire format FORMAT."""
    rt = _runtime(ctx)
    summaries = [
        _ingest_file(rt, format_name, path, source, entity, show_progress=not as_json) for path in paths
    ]
    totals = {
        "accepted": sum(s.outcome["accepted"] for s in summaries),
        "rejected": sum(s.outcome["rejected"] + s.outcome["failed"] for s in summaries),
        "held": sum(s.outcome["held"] for s in summaries),
        "ignored": sum(s.outcome.get("ignored", 0) for s in summaries),
        "messages": [s.to_dict() for s in summaries],
    }
    _emit(totals, as_json, _ingest_text)
    if totals["rejected"] or totals["held"]:
        sys.exit(3)


def _ingest_file(
    rt: Runtime, fmt: str, path: Path, source: str, entity: str | None, show_progress: bool
) -> IngestSummary:
    from gateway.cli import oneroster  # a OneRoster bundle (zip or folder) applies its manifest too

    if fmt in oneroster.FORMATS:
        return oneroster.ingest_bundle(rt, path, source, show_progress)  # type: ignore[return-value]
    if path.is_dir():
        raise click.BadParameter(f"{path} is a folder; only OneRoster bundles may be folders")
    entity = _entity_for(path, entity) if fmt == "edfi-json" else entity
    # A bulk file: copied into the payload store and streamed, never read whole into memory.
    with human.progress_bar(path.name, show=show_progress) as progress:
        return ingest(
            rt, Inbound(source_org=source, format_name=fmt, path=path, entity=entity), progress=progress
        )


def _ingest_text(totals: dict[str, Any]) -> str:
    lines = [
        f"accepted {totals['accepted']}, rejected {totals['rejected']}, held {totals['held']}, "
        f"ignored {totals['ignored']}"
    ]
    for m in totals["messages"]:
        lines.append(f"  {m['messageId']}: {m['status']} {m['reason']}".rstrip())
        lines.extend(f"    {r['location']}: {r['status']}: {r['reason']}" for r in m["records"][:10])
    return "\n".join(lines)


@main.group()
def plan() -> None:
    """Read Success Plans."""


@plan.command("show")
@click.argument("student")
@click.option("--as", "org", required=True, help="The reading partner organization.")
@click.option("--role", required=True)
@click.option("--purpose", required=True)
@click.option(
    "--actor", default="cli-user", show_default=True, help="Who is reading, within the organization."
)
@click.option("--emergency-reason", default="", help="For purpose 'emergency': the threat (FERPA 99.36).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@_handles_errors
def plan_show(
    ctx: click.Context,
    student: str,
    org: str,
    role: str,
    purpose: str,
    actor: str,
    emergency_reason: str,
    as_json: bool,
) -> None:
    """Show the parts of STUDENT's plan (stu-... or SYSTEM|VALUE) this reader may see."""
    rt = _runtime(ctx)
    request = replace(
        _read_request(rt, student, org, role, purpose, actor), emergency_reason=emergency_reason
    )
    view = read_plan(rt, request)
    if as_json:
        click.echo(json.dumps(view.to_dict(), indent=2))
        return
    scope = view_scope(rt, replace(request, student_id=str(view.plan["student"]["id"])))
    human.echo(*plan_text.plan_parts(view.to_dict(), scope))


@plan.command("export")
@click.argument("student")
@click.option("--as", "org", required=True, help="The organization taking the copy.")
@click.option("--role", required=True)
@click.option("--purpose", required=True)
@click.option("--actor", default="cli-user", show_default=True)
@click.pass_context
@_handles_errors
def plan_export(ctx: click.Context, student: str, org: str, role: str, purpose: str, actor: str) -> None:
    """A copy of STUDENT's plan leaving the gateway, with the obligations that travel with it."""
    rt = _runtime(ctx)
    view = export_plan(rt, _read_request(rt, student, org, role, purpose, actor))
    click.echo(json.dumps(view.to_dict(), indent=2))


def _read_request(rt: Runtime, student: str, org: str, role: str, purpose: str, actor: str) -> ReadRequest:
    return ReadRequest(
        student_id=resolve_student_ref(rt, student),
        organization_id=org,
        actor=actor,
        role=role,
        purpose=purpose,
    )


@main.group()
def messages() -> None:
    """The message store: every inbound exchange with its status and reason."""


@messages.command("list")
@click.option("--status", type=click.Choice(message_service.STATUSES))
@click.option("--limit", default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@_handles_errors
def messages_list(ctx: click.Context, status: str | None, limit: int, as_json: bool) -> None:
    """Messages in the order they arrived: when, from whom, in what format, and their outcome."""
    rows = message_service.list_messages(_runtime(ctx), status, limit)
    _emit(rows, as_json, _messages_text)


def _messages_text(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no messages"
    cells = [
        (
            human.when(r["receivedAt"]),
            r["id"],
            r["status"],
            r["source"],
            f"{r['format']} {r['entity'] or ''}".strip(),
            _counts(r["counts"]),
            r["reason"],
        )
        for r in rows
    ]
    columns = ("received", "message", "status", "source", "format", "records", "reason")
    return human.render(
        human.heading("Messages", human.count(len(rows), "message")), human.table(columns, cells)
    )


def _issues(issues: list[dict[str, str]]) -> str:
    return "; ".join(f"{i.get('path', '')}: {i.get('message', '')}" for i in issues)


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {what}" for what, n in counts.items() if n)


@messages.command("show")
@click.argument("message_id")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@_handles_errors
def messages_show(ctx: click.Context, message_id: str, as_json: bool) -> None:
    """One message: where it came from, when, its outcome and each record's problem."""
    _emit(message_service.show_message(_runtime(ctx), message_id), as_json, _message_text)


def _message_text(m: dict[str, Any]) -> str:
    facts = [
        ("received", human.when(m["receivedAt"])),
        ("updated", human.when(m["updatedAt"])),
        ("source", m["source"]),
        ("format", f"{m['format']} {m['entity'] or ''}".strip()),
        ("status", m["status"]),
        ("records", _counts(m["counts"])),
        ("reason", m["reason"]),
        ("size", human.count(m["size"] or 0, "byte")),
        ("payload", m["payloadDigest"]),
        ("attempts", m["attempts"]),
    ]
    parts: list[Any] = [human.heading("Message", m["id"]), human.table(("", "value"), facts)]
    if m["records"]:
        rows = [
            (r.get("location"), r.get("status"), r.get("reason"), _issues(r.get("issues", [])))
            for r in m["records"]
        ]
        parts += [human.heading("Records"), human.table(("location", "status", "reason", "where"), rows)]
    return human.render(*parts)


@messages.command("replay")
@click.argument("message_ids", nargs=-1)
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice(message_service.STATUSES),
    help="Replay every message with this status (default: held, partial, rejected, failed).",
)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@_handles_errors
def messages_replay(
    ctx: click.Context, message_ids: tuple[str, ...], statuses: tuple[str, ...], as_json: bool
) -> None:
    """Run stored messages through the pipeline again (after a mapping, policy or link fix)."""
    rt = _runtime(ctx)
    if message_ids:
        summaries = [replay(rt, mid) for mid in message_ids]
    else:
        summaries = replay_where(rt, statuses or ("held", "partial", "rejected", "failed"))
    _emit(
        [s.to_dict() for s in summaries],
        as_json,
        lambda ss: (
            "\n".join(f"{s['messageId']}: {s['status']} {s['reason']}".rstrip() for s in ss)
            or "nothing to replay"
        ),
    )


@main.group()
def partners() -> None:
    """Partner organizations and their credentials."""


@partners.command("credentials")
@click.argument("organization")
@click.option(
    "--role",
    type=click.Choice(ROLES),
    default=PARTNER,
    show_default=True,
    help="administrator credentials operate the gateway, compliance credentials read the audit, "
    "reports and accountings of every organization; issuing either is audited.",
)
@click.pass_context
@_handles_errors
def partners_credentials(ctx: click.Context, organization: str, role: str) -> None:
    """Create a client id and secret for ORGANIZATION (the secret is shown once)."""
    issued = create_secret(_runtime(ctx), organization, role=role)
    shown = {"client_id": issued.client_id, "client_secret": issued.client_secret, "role": role}
    click.echo(json.dumps(shown, indent=2))


def _register_command_groups() -> None:
    # Command groups that live in their own modules attach themselves to ``main``.
    from gateway.cli import delivery, policy

    policy.register(main)
    delivery.register(main)
    from gateway.cli import pull as pull_commands

    pull_commands.register(main)
    from gateway.cli import oneroster

    oneroster.register(main)
    from gateway.cli import students

    students.register(main)
    from gateway.cli import audit

    audit.register(main)
    from gateway.cli import reports

    reports.register(main)
    from gateway.cli import partner_keys

    partner_keys.register(partners)
    from gateway.cli.serve import serve

    main.add_command(serve)
    from gateway.cli.check import check_command

    main.add_command(check_command)
    from gateway.cli.directory import directory

    main.add_command(directory)
    from gateway.cli.transit import transit_group

    main.add_command(transit_group)
    from gateway.cli.users import users_group

    main.add_command(users_group)


_register_command_groups()
