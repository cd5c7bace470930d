"""``spgw serve``: which server and how many processes for which database, and (slow, PostgreSQL)
two real gunicorn workers: ready, one exchange, metrics summed across the workers, the request's
JSON log line, and the audit head signed when the workers stop."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import click
import pytest
import requests
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from gateway.cli import main
from gateway.cli.serve import Serving, serving_for
from gateway.service.runtime import Runtime, Settings
from gateway.storage import ops_queries
from tests.helpers import count_rows, demo_file

SQLITE, POSTGRES = "sqlite:///x.db", "postgresql://u@db/spgw"
SPGW = (sys.executable, "-c", "from gateway.cli import main; main()")
TIMEOUT = 60.0
SECRET = "scrape-secret"


def settings_for(url: str, **given: object) -> Settings:
    return replace(Settings(home=Path("/tmp/unused"), database_url=url), **given)  # type: ignore[arg-type]


# (database, settings given, CPUs, expected server and process count)
PLANS = [
    # auto: waitress for SQLite, gunicorn with 2 per CPU + 1 for PostgreSQL
    (SQLITE, {}, 4, ("waitress", 1)),
    (POSTGRES, {}, 2, ("gunicorn", 5)),
    (POSTGRES, {"workers": 4}, 2, ("gunicorn", 4)),
    # chosen servers
    (POSTGRES, {"server": "waitress"}, 8, ("waitress", 1)),
    (SQLITE, {"server": "gunicorn"}, 8, ("gunicorn", 1)),  # one process: SQLite's one writer
    (SQLITE, {"server": "gunicorn", "workers": 1}, 8, ("gunicorn", 1)),
]


@pytest.mark.parametrize(("url", "given", "cpus", "expected"), PLANS)
def test_which_server_and_how_many_processes(
    url: str, given: dict[str, object], cpus: int, expected: tuple[str, int]
) -> None:
    plan = serving_for(settings_for(url, **given), cpus)
    assert (plan.server, plan.workers) == expected
    assert plan == Serving(server=expected[0], bind="127.0.0.1:8080", workers=expected[1], threads=8)


@pytest.mark.parametrize(
    ("url", "given", "says"),
    [
        (SQLITE, {"workers": 4}, "4 worker processes on SQLite: refused"),
        (SQLITE, {"server": "gunicorn", "workers": 2}, "one writer at a time"),
        (POSTGRES, {"server": "waitress", "workers": 2}, "waitress serves from one process"),
        (POSTGRES, {"server": "uwsgi"}, "not one of auto, gunicorn, waitress"),
    ],
)
def test_what_cannot_work_is_refused_saying_why(url: str, given: dict[str, object], says: str) -> None:
    with pytest.raises(click.UsageError, match=says):
        serving_for(settings_for(url, **given), 2)


def test_the_command_refuses_sqlite_workers_before_serving(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["--home", str(tmp_path), "serve", "--workers", "3"], env={})
    assert result.exit_code == 2
    assert "3 worker processes on SQLite: refused" in result.output


def test_serve_settings_come_from_the_environment(tmp_path: Path) -> None:
    env = {"SPGW_DATABASE_URL": "", "SPGW_WORKERS": "2", "SPGW_SERVER": "gunicorn"}
    result = CliRunner().invoke(main, ["--home", str(tmp_path), "serve"], env=env)
    assert result.exit_code == 2
    assert "2 worker processes on SQLite: refused" in result.output


# -- two gunicorn workers on PostgreSQL (slow) -----------------------------------------------------


@contextmanager
def served(rt: Runtime, stderr: Path) -> Iterator[str]:
    env = {
        **os.environ,
        "SPGW_HOME": str(rt.settings.home),
        "SPGW_DATABASE_URL": rt.settings.database_url,
        "SPGW_METRICS_TOKEN": SECRET,
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    argv = (*SPGW, "serve", "--workers", "2", "--threads", "2", "--bind", "127.0.0.1:0")
    with stderr.open("w") as errors:
        process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=errors)
    try:
        yield f"http://127.0.0.1:{_port(process, stderr)}"
    finally:
        os.kill(process.pid, signal.SIGTERM)  # gunicorn's graceful stop: workers sign and exit
        process.wait(timeout=TIMEOUT)


def _port(process: subprocess.Popen[bytes], stderr: Path) -> int:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline and process.poll() is None:
        found = re.search(r"Listening at: http://127\.0\.0\.1:(\d+)", stderr.read_text("utf-8"))
        if found:
            return int(found.group(1))
        time.sleep(0.1)
    raise AssertionError(f"spgw serve did not start: {stderr.read_text('utf-8')[-2000:]}")


def _ready(url: str) -> int:
    """Probe until ready; the number of 200 answers (each is counted by the metrics)."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/ready", timeout=5).status_code == 200:
                return 1
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    raise AssertionError("never ready")


def _token(url: str, rt: Runtime, org: str) -> dict[str, str]:
    secret = json.loads((rt.settings.home / "demo-credentials.json").read_text("utf-8"))[org]
    answer = requests.post(
        f"{url}/oauth/token", data={"grant_type": "client_credentials", **secret}, timeout=10
    )
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def _value(page: str, name: str, **labels: str) -> float | None:
    for family in text_string_to_metric_families(page):
        for s in family.samples:
            if s.name == name and s.labels == labels:
                return s.value
    return None


@pytest.mark.slow
@pytest.mark.skipif(
    not os.environ.get("GATEWAY_TEST_DATABASE_URL"), reason="needs PostgreSQL: set GATEWAY_TEST_DATABASE_URL"
)
def test_two_gunicorn_workers_on_postgresql(rt: Runtime, tmp_path: Path) -> None:
    stderr = tmp_path / "serve.err"
    with served(rt, stderr) as url:
        probes = _ready(url)
        for i in range(10):  # spread over the workers; their counts must add up
            assert requests.get(f"{url}/ready", headers={"X-Request-Id": f"probe-{i}"}, timeout=10).ok
        path = demo_file("01")
        headers = {"Content-Type": "application/json", "X-Request-Id": "ex-1"}
        answer = requests.post(
            f"{url}/api/v1/exchanges/edfi-json",
            params={"entity": path.stem.split(".")[2]},
            data=path.read_bytes(),
            headers={**_token(url, rt, "grand-bend-isd"), **headers},
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        assert answer.headers["X-Request-Id"] == "ex-1"
        page = requests.get(f"{url}/metrics", headers={"Authorization": f"Bearer {SECRET}"}, timeout=10).text
    ready = {"method": "GET", "route": "/ready", "status": "200"}
    assert _value(page, "spgw_http_request_duration_seconds_count", **ready) == probes + 10
    assert _value(page, "spgw_exchanges", format="edfi-json", status="mapped") == count_rows(rt, "messages")
    lines = [json.loads(line) for line in stderr.read_text("utf-8").splitlines() if line.startswith("{")]
    [line] = [
        entry for entry in lines if entry.get("requestId") == "ex-1" and entry["logger"] == "gateway.request"
    ]
    assert (line["method"], line["route"], line["status"]) == ("POST", "/api/v1/exchanges/<format_name>", 200)
    with rt.sessions() as session:  # the workers signed the newest head as they stopped
        signed = ops_queries.latest_checkpoint(session)
        assert signed is not None
        assert signed[0] == ops_queries.audit_size(session)
