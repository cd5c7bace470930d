"""``spgw pull``: pull records from a partner's API into the gateway (registered on the main
group by gateway.cli). ``spgw pull edfi`` runs a full or delta sync of an Ed-Fi ODS/API; other
pull sources attach their commands to ``pull_group``."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from gateway.cli import _emit, _handles_errors, _runtime, human
from gateway.clients.edfi_api import PAGING_MODES
from gateway.service.sources.edfi_sync import pull_edfi


@click.group("pull")
def pull_group() -> None:
    """Pull records from a partner's API (full or delta) through the exchange pipeline."""


@pull_group.command("edfi")
@click.option("--source", required=True, help="The partner organization whose ODS/API this is.")
@click.option("--base-url", required=True, help="The ODS/API root that serves the discovery document.")
@click.option("--client-id", required=True, help="The client key the ODS/API issued.")
@click.option(
    "--client-secret-env",
    required=True,
    metavar="VAR",
    help="The environment variable holding the client secret (never given on the command line).",
)
@click.option("--full", is_flag=True, help="Pull everything, not only what changed after the watermark.")
@click.option("--resource", "resources", multiple=True, help="Pull only this resource (repeatable).")
@click.option("--school-year", type=int, help="For year-specific ODS/API instances.")
@click.option("--paging", type=click.Choice(PAGING_MODES), default="auto", show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@_handles_errors
def pull_edfi_command(
    ctx: click.Context,
    source: str,
    base_url: str,
    client_id: str,
    client_secret_env: str,
    full: bool,
    resources: tuple[str, ...],
    school_year: int | None,
    paging: str,
    as_json: bool,
) -> None:
    """Sync an Ed-Fi ODS/API into the gateway as partner SOURCE (exit 3 if anything was rejected or held)."""
    secret = os.environ.get(client_secret_env)
    if not secret:
        raise click.UsageError(f"environment variable {client_secret_env} is not set (it holds the secret)")
    with human.pull_progress() as progress:  # one bar per resource, on stderr at a terminal
        summary = pull_edfi(
            _runtime(ctx),
            source_org=source,
            base_url=base_url,
            client_id=client_id,
            client_secret=secret,
            resources=resources or None,
            full=full,
            progress=progress,
            paging=paging,
            school_year=school_year,
        )
    _emit(summary.to_dict(), as_json, _summary_text)
    if summary.troubled:
        sys.exit(3)


def _summary_text(s: dict[str, Any]) -> str:
    mark = s["watermark"]
    lines = [
        f"{s['mode']} sync of {s['source']}: change version {mark['from']} -> {mark['to']}",
        f"pages {s['pages']}, records {s['records']}: accepted {s['accepted']}, "
        f"rejected {s['rejected']}, held {s['held']}; deletes applied {s['deletesApplied']}, "
        f"key changes applied {s['keyChangesApplied']}",
    ]
    for r in s["resources"]:
        lines.append(
            f"  {r['resource']}: {r['records']} records in {r['pages']} pages "
            f"(accepted {r['accepted']}, rejected {r['rejected']}, held {r['held']}, "
            f"deletes {r['deletesApplied']}/{r['deletesSeen']}, "
            f"key changes {r['keyChangesApplied']}/{r['keyChangesSeen']})"
        )
        lines.extend(f"    {p}" for p in r["problems"])
    lines.extend(f"note: {n}" for n in s["notes"])
    return "\n".join(lines)


def register(main: click.Group) -> None:
    """Attach ``pull`` to ``main`` (once, whoever registers first)."""
    if "pull" not in main.commands:
        main.add_command(pull_group)
