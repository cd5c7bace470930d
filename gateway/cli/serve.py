"""``spgw serve``: the HTTP API under gunicorn (worker processes, PostgreSQL) or waitress
(one process, the embedded SQLite default).

``--server auto`` picks gunicorn on PostgreSQL and waitress on SQLite. SQLite is refused more
than one worker process: it has one writer at a time (every write transaction takes the file's
lock at BEGIN), so extra processes would only queue on that lock and time out under load, and
its file cannot be shared by workers on other hosts; its single process serves with threads.

Under gunicorn each worker builds its own Runtime (engine, pool) after the fork: the master
disposes of its engine before forking, so no connection crosses a fork. Request metrics use
prometheus_client's multiprocess mode, in a fresh folder per run (``PROMETHEUS_MULTIPROC_DIR``).
Each worker signs the newest audit head when it stops. Logs are JSON lines on stderr.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, replace
from typing import Any

import click

from gateway.service.administration.health import readiness
from gateway.service.exchange.message_state import recover_interrupted
from gateway.service.runtime import Runtime, Settings

SERVERS = ("auto", "gunicorn", "waitress")
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# A bulk exchange of the largest allowed body can take more than gunicorn's default 30 s.
WORKER_TIMEOUT = 120
log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class Serving:
    server: str  # gunicorn | waitress
    bind: str
    workers: int
    threads: int


def serving_for(settings: Settings, cpus: int) -> Serving:
    """Which server, and how many processes: refuses what cannot work, saying why."""
    sqlite = settings.database_url.startswith("sqlite")
    server = settings.server
    if server not in SERVERS:
        raise click.UsageError(f"server '{server}' is not one of {', '.join(SERVERS)}")
    if server == "auto":
        server = "waitress" if sqlite else "gunicorn"
    workers = settings.workers or (1 if sqlite or server == "waitress" else 2 * cpus + 1)
    if workers > 1 and sqlite:
        raise click.UsageError(
            f"{workers} worker processes on SQLite: refused. SQLite has one writer at a time, so more "
            "processes only queue on its lock; serve SQLite with one process (threads), or use PostgreSQL "
            "(SPGW_DATABASE_URL) for several workers"
        )
    if workers > 1 and server == "waitress":
        raise click.UsageError("waitress serves from one process: use --threads, or --server gunicorn")
    return Serving(server=server, bind=settings.bind, workers=workers, threads=settings.threads)


@click.command("serve")
@click.option("--server", type=click.Choice(SERVERS), help="auto: gunicorn on PostgreSQL, else waitress.")
@click.option("--bind", help="HOST:PORT to listen on [default: 127.0.0.1:8080].")
@click.option("--host", help="The host part of --bind.")
@click.option("--port", type=click.IntRange(0, 65535), help="The port part of --bind.")
@click.option("--workers", type=click.IntRange(0), help="gunicorn worker processes [default: 2 per CPU + 1].")
@click.option("--threads", type=click.IntRange(1), help="Threads per process [default: 8].")
@click.pass_context
def serve(
    ctx: click.Context,
    server: str | None,
    bind: str | None,
    host: str | None,
    port: int | None,
    workers: int | None,
    threads: int | None,
) -> None:
    """Serve the HTTP API (gunicorn workers on PostgreSQL, waitress on SQLite)."""
    settings: Settings = ctx.obj["settings"]
    settings = replace(
        settings,
        server=server or settings.server,
        bind=_bind(settings.bind, bind, host, port),
        workers=settings.workers if workers is None else workers,
        threads=threads or settings.threads,
    )
    plan = serving_for(settings, os.cpu_count() or 1)
    from gateway.web.request_log import configure_json_logging

    configure_json_logging()
    rt = _checked_runtime(ctx, settings)
    shape = f"{plan.workers} process(es) x {plan.threads} threads"
    click.echo(f"Serving on http://{plan.bind} with {plan.server}, {shape} (OpenAPI at /openapi.json)")
    if plan.server == "waitress":
        _waitress(rt, plan)
    else:
        rt.engine.dispose()  # nothing of the master's pool may cross the fork
        _gunicorn(settings, plan)


def _bind(current: str, bind: str | None, host: str | None, port: int | None) -> str:
    if bind is not None:
        return bind
    if host is None and port is None:
        return current
    old_host, _, old_port = current.rpartition(":")
    return f"{host or old_host}:{port if port is not None else old_port}"


def _checked_runtime(ctx: click.Context, settings: Settings) -> Runtime:
    from gateway.cli import _runtime

    ctx.obj["settings"] = settings
    rt = _runtime(ctx)
    state = readiness(rt)
    if not state.ok:
        problems = "; ".join(f"{c.name}: {c.detail}" for c in state.checks if not c.ok)
        raise click.ClickException(f"not ready to serve ({problems})")
    # Runs a previous server left unfinished (killed, host lost) are failed and replayable now.
    interrupted = recover_interrupted(rt)
    if interrupted:
        click.echo(
            f"{len(interrupted)} interrupted message(s) marked failed; replay them with spgw messages replay"
        )
    return rt


def _waitress(rt: Runtime, plan: Serving) -> None:
    from waitress import serve as waitress_serve

    from gateway.service.compliance.audit import signs_on_exit
    from gateway.web import create_app

    with signs_on_exit(rt):  # the newest audit head is signed on the way out, SIGTERM included
        waitress_serve(create_app(runtime=rt), listen=plan.bind, threads=plan.threads)


def _gunicorn(settings: Settings, plan: Serving) -> None:
    given = os.environ.get(MULTIPROC_ENV)
    folder = given or tempfile.mkdtemp(prefix="spgw-metrics-")
    if given:
        for stale in os.scandir(folder):  # a previous run's values would be summed into this one's
            if stale.name.endswith(".db"):
                os.unlink(stale.path)
    os.environ[MULTIPROC_ENV] = folder
    from prometheus_client import values

    # The value class is chosen when prometheus_client is first imported, perhaps before the folder
    # was set: choose again. Metrics are made after this, in each worker's app.
    values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]
    from gateway.cli.serve_gunicorn import GatewayServer

    try:
        GatewayServer(settings, plan).run()
    finally:
        if not given:
            shutil.rmtree(folder, ignore_errors=True)


def gunicorn_options(plan: Serving) -> dict[str, Any]:
    return {
        "bind": [plan.bind],
        "workers": plan.workers,
        "threads": plan.threads,
        "worker_class": "gthread",
        "timeout": WORKER_TIMEOUT,
        "preload_app": False,  # each worker opens its own Runtime after the fork
        "accesslog": None,  # the app writes one JSON line per request itself
        "errorlog": "-",
        "proc_name": "spgw",
    }
