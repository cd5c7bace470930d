"""Shared fixtures. Every test gets its own database: a SQLite file by default, or a fresh
PostgreSQL schema when GATEWAY_TEST_DATABASE_URL is set (CI sets it), so the whole suite runs
on both."""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, text

from gateway.service.runtime import Runtime, Settings
from gateway.service.setup import initialise
from gateway.storage.db import normalise_url
from gateway.web import create_app
from tests.http_server import serve_wsgi

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SHARED_SAMPLES = PROJECT_ROOT.parent / "shared" / "samples"
START = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", help="rewrite golden files for review")


class Clock:
    """A controllable clock: tests move time on explicitly."""

    def __init__(self, now: dt.datetime = START) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    base = os.environ.get("GATEWAY_TEST_DATABASE_URL")
    if not base:
        yield f"sqlite:///{tmp_path / 'gateway.db'}"
        return
    base = normalise_url(base)
    schema = "t_" + uuid.uuid4().hex[:16]
    admin = create_engine(base)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in base else "?"
    yield f"{base}{separator}options={quote(f'-csearch_path={schema}')}"
    with admin.begin() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    # A tree head after every audited commit, as tests of tampering expect; tests of the real
    # cadence (tests/test_audit_heads.py) set their own.
    return Settings(
        home=tmp_path / "home",
        database_url=database_url,
        artifacts_root=PROJECT_ROOT,
        checkpoint_every_entries=1,
    )


@pytest.fixture
def bare_rt(settings: Settings, clock: Clock) -> Iterator[Runtime]:
    """A migrated gateway with keys and no partners."""
    rt, _ = initialise(settings, with_samples=False)
    rt = _with_clock(rt, clock)
    yield rt
    rt.engine.dispose()


@pytest.fixture
def rt(settings: Settings, clock: Clock) -> Iterator[Runtime]:
    """A migrated gateway with the demo world loaded (partners, agreements, consents)."""
    runtime, _ = initialise(settings, with_samples=True)
    runtime = _with_clock(runtime, clock)
    yield runtime
    runtime.engine.dispose()


@pytest.fixture
def base_url(rt: Runtime) -> Iterator[str]:
    """The gateway served by waitress on a free port, in a daemon thread (real HTTP)."""
    with serve_wsgi(create_app(runtime=rt)) as url:
        yield url


def _with_clock(runtime: Runtime, clock: Clock) -> Runtime:
    from dataclasses import replace

    return replace(runtime, clock=clock)
