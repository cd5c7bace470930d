"""OneRoster on the command line: ``spgw ingest oneroster PATH --source ORG`` (PATH a zip or a
folder; routed here by ``gateway.cli``) and ``spgw pull oneroster`` (a REST rostering service)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from gateway.cli import _emit, _handles_errors, _runtime, human
from gateway.service.exchange.oneroster import OneRosterSummary, ingest_oneroster
from gateway.service.runtime import Runtime
from gateway.service.sources.oneroster_pull import VERSIONS, pull_oneroster

FORMATS: frozenset[str] = frozenset({"oneroster", "oneroster-csv"})


def ingest_bundle(rt: Runtime, path: Path, source: str, for_people: bool) -> OneRosterSummary:
    """``for_people``: a progress bar (at a terminal) and the notes and warnings on stderr; with
    ``--json`` they are in the summary only."""
    with human.progress_bar(path.name, show=for_people) as progress:
        summary = ingest_oneroster(rt, source_org=source, path_or_bytes=path, progress=progress)
    if not for_people:
        return summary
    for note in summary.notes:
        click.echo(f"note: {note.path}: {note.message}", err=True)
    for w in summary.warnings:
        column = f" column {w.column}" if w.column else ""
        click.echo(f"warning: {w.file}{column}: {w.rule} ({w.count}x)", err=True)
    return summary


@click.command("oneroster")
@click.option("--source", required=True, help="The partner organization whose OneRoster service this is.")
@click.option("--base-url", required=True, help="The host root; /ims/oneroster/... is added per version.")
@click.option("--client-id", required=True)
@click.option(
    "--client-secret-env",
    required=True,
    metavar="VAR",
    help="The environment variable holding the client secret (never given on the command line).",
)
@click.option("--token-url", help="The OAuth2 token endpoint (default: BASE_URL/oauth/token).")
@click.option("--version", "version", type=click.Choice(VERSIONS), default="1.2", show_default=True)
@click.option("--resource", "resources", multiple=True, help="Pull only this collection (repeatable).")
@click.option("--page-size", type=click.IntRange(1, 10_000), default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@_handles_errors
def pull_oneroster_command(
    ctx: click.Context,
    source: str,
    base_url: str,
    client_id: str,
    client_secret_env: str,
    token_url: str | None,
    version: str,
    resources: tuple[str, ...],
    page_size: int,
    as_json: bool,
) -> None:
    """Pull a OneRoster REST service into the gateway as SOURCE (exit 3 if anything was rejected or held)."""
    secret = os.environ.get(client_secret_env)
    if not secret:
        raise click.UsageError(f"environment variable {client_secret_env} is not set (it holds the secret)")
    with human.pull_progress() as progress:  # one bar per collection, on stderr at a terminal
        summary = pull_oneroster(
            _runtime(ctx),
            source_org=source,
            base_url=base_url,
            client_id=client_id,
            client_secret=secret,
            token_url=token_url,
            version=version,
            resources=resources or None,
            page_size=page_size,
            progress=progress,
        )
    _emit(summary.to_dict(), as_json, _pull_text)
    if summary.troubled:
        sys.exit(3)


def _pull_text(s: dict[str, Any]) -> str:
    lines = [
        f"OneRoster {s['version']} pull of {s['source']}: pages {s['pages']}, records {s['records']}: "
        f"accepted {s['accepted']}, rejected {s['rejected']}, held {s['held']}, ignored {s['ignored']}"
    ]
    lines.extend(f"  {r['resource']}: {r['records']} records in {r['pages']} pages" for r in s["resources"])
    return "\n".join(lines)


def register(main: click.Group) -> None:
    """``spgw pull oneroster`` joins the ``pull`` group (created by gateway.cli.pull)."""
    from gateway.cli import pull

    pull.register(main)
    pull.pull_group.add_command(pull_oneroster_command)
