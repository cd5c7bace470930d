"""Shared fixtures. Every test gets its own database: a SQLite file by default, or a PostgreSQL
database or schema of its own when GATEWAY_TEST_DATABASE_URL is set (CI sets it), so the whole
suite runs on both. A test that asks for ``rt`` or ``bare_rt`` starts from a copy of a gateway
seeded once per session (see ``Seeds``)."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, make_url, text

from gateway.artifacts import ArtifactFolders, Artifacts, load_artifacts
from gateway.service.administration.setup import initialise
from gateway.service.runtime import Runtime, Settings, open_runtime
from gateway.storage.db import normalise_url
from tests.agency_server import Agency, running_agency
from tests.http_server import serve_gateway
from tests.referral_world import prepare

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _shared_samples() -> Path:
    """The public sample files (../shared/samples beside the checkout, or where
    GATEWAY_SHARED_SAMPLES says; a checkout elsewhere on this machine finds /work/shared)."""
    named = os.environ.get("GATEWAY_SHARED_SAMPLES")
    if named:
        return Path(named)
    candidates = [PROJECT_ROOT.parent / "shared" / "samples", Path("/work/shared/samples")]
    return next((c for c in candidates if c.is_dir()), candidates[0])


SHARED_SAMPLES = _shared_samples()
START = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", help="rewrite golden files for review")


def pytest_sessionstart(session: pytest.Session) -> None:
    # The conformance tests skip when the public samples are absent, which is fine on a laptop;
    # in CI a silent skip would hide that the conformance bar was never run.
    if os.environ.get("CI") and not SHARED_SAMPLES.is_dir():
        raise pytest.UsageError(
            f"CI is set but the public samples are not at {SHARED_SAMPLES}: the conformance tests "
            "would be skipped. Lay out ../shared/samples or set GATEWAY_SHARED_SAMPLES."
        )


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


@dataclass(frozen=True, kw_only=True)
class Seed:
    """A migrated gateway built once per session: its home (keys) and its database (a SQLite
    file, or a PostgreSQL database used as a template)."""

    home: Path
    sqlite_file: Path | None
    pg_database: str | None


class Seeds:
    """Seeded gateways, built on first use and copied into each test that asks for ``rt`` or
    ``bare_rt``, instead of migrating and loading the demo world again for every test: a file
    copy on SQLite, ``CREATE DATABASE ... TEMPLATE`` on PostgreSQL (about 20 ms on an idle
    server)."""

    def __init__(self, root: Path, pg_base: str | None) -> None:
        self.root = root
        self.pg_base = pg_base
        self.built: dict[bool, Seed] = {}

    def get(self, with_samples: bool) -> Seed:
        if with_samples not in self.built:
            self.built[with_samples] = self._build(with_samples)
        return self.built[with_samples]

    def _build(self, with_samples: bool) -> Seed:
        folder = self.root / ("samples" if with_samples else "bare")
        if self.pg_base is None:
            sqlite_file, pg_database = folder / "gateway.db", None
            url = f"sqlite:///{sqlite_file}"
        else:
            sqlite_file, pg_database = None, f"seed_{uuid.uuid4().hex[:12]}"
            _admin(self.pg_base, f'CREATE DATABASE "{pg_database}"')
            url = _database_url(self.pg_base, pg_database)
        runtime, _ = initialise(gateway_settings(folder / "home", url), with_samples=with_samples)
        runtime.engine.dispose()  # a template database must have no connection left
        return Seed(home=folder / "home", sqlite_file=sqlite_file, pg_database=pg_database)

    def pg_copy(self, with_samples: bool) -> str:
        """A PostgreSQL database of the test's own, copied from the seed."""
        name, template = "t_" + uuid.uuid4().hex[:16], self.get(with_samples).pg_database
        _admin(self.pg_base or "", f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return name

    def pg_drop(self, name: str) -> None:
        # FORCE: a connection a test leaked (a subprocess's, say) must not keep its copy alive.
        _admin(self.pg_base or "", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def close(self) -> None:
        for seed in self.built.values():
            if seed.pg_database:
                self.pg_drop(seed.pg_database)


def gateway_settings(home: Path, database_url: str) -> Settings:
    # A tree head after every audited commit, as tests of tampering expect; tests of the real
    # cadence (tests/test_audit_heads.py) set their own.
    return Settings(
        home=home, database_url=database_url, artifacts_root=PROJECT_ROOT, checkpoint_every_entries=1
    )


def _admin(base: str, statement: str) -> None:
    engine = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text(statement))
    finally:
        engine.dispose()


def _database_url(base: str, database: str) -> str:
    return make_url(base).set(database=database).render_as_string(hide_password=False)


def _pg_base() -> str | None:
    base = os.environ.get("GATEWAY_TEST_DATABASE_URL")
    return normalise_url(base) if base else None


@pytest.fixture(scope="session")
def seeds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeds]:
    found = Seeds(tmp_path_factory.mktemp("seeds"), _pg_base())
    yield found
    found.close()


@pytest.fixture(scope="session")
def artifacts() -> Artifacts:
    """The project's artifacts, loaded once: they are immutable, and loading them is a third of
    what setting up a gateway used to cost per test."""
    return load_artifacts(ArtifactFolders.under(PROJECT_ROOT))


def _seed_wanted(request: pytest.FixtureRequest) -> bool | None:
    """Whether this test's gateway starts from the demo world (True), bare (False), or empty."""
    names = request.fixturenames
    return True if "rt" in names else False if "bare_rt" in names else None


@pytest.fixture
def database_url(tmp_path: Path, request: pytest.FixtureRequest, seeds: Seeds) -> Iterator[str]:
    """A database of the test's own: a copy of the seeded one when the test uses ``rt`` or
    ``bare_rt``, otherwise empty (a SQLite file, or a fresh PostgreSQL schema)."""
    wanted = _seed_wanted(request)
    base = seeds.pg_base
    if base is None:
        path = tmp_path / "gateway.db"
        if wanted is not None:
            shutil.copyfile(seeds.get(wanted).sqlite_file or "", path)
        yield f"sqlite:///{path}"
        return
    if wanted is not None:
        database = seeds.pg_copy(wanted)
        yield _database_url(base, database)
        seeds.pg_drop(database)
        return
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
    return gateway_settings(tmp_path / "home", database_url)


def _seeded_runtime(settings: Settings, seed: Seed, artifacts: Artifacts, clock: Clock) -> Runtime:
    # The database already holds the seed (database_url copied it); its keys come with it.
    shutil.copytree(seed.home, settings.home, dirs_exist_ok=True)
    return open_runtime(settings, clock=clock, artifacts=artifacts)


@contextmanager
def seeded_world(
    folder: Path, seeds: Seeds, artifacts: Artifacts, clock: Clock, **settings: object
) -> Iterator[Runtime]:
    """The demo world in a database of its own under ``folder`` (a file copy of the seed, or a
    PostgreSQL copy dropped at the end), for a fixture that outlives one test (a module's served
    gateway). ``settings`` change the test settings (``gateway_settings``)."""
    seed = seeds.get(True)
    pg_database = None
    if seeds.pg_base is None:
        shutil.copyfile(seed.sqlite_file or "", folder / "gateway.db")
        url = f"sqlite:///{folder / 'gateway.db'}"
    else:
        pg_database = seeds.pg_copy(True)
        url = _database_url(seeds.pg_base, pg_database)
    own = replace(gateway_settings(folder / "home", url), **settings)
    runtime = _seeded_runtime(own, seed, artifacts, clock)
    try:
        yield runtime
    finally:
        runtime.engine.dispose()
        if pg_database is not None:
            seeds.pg_drop(pg_database)


@pytest.fixture
def bare_rt(settings: Settings, clock: Clock, seeds: Seeds, artifacts: Artifacts) -> Iterator[Runtime]:
    """A migrated gateway with keys and no partners."""
    rt = _seeded_runtime(settings, seeds.get(False), artifacts, clock)
    yield rt
    rt.engine.dispose()


@pytest.fixture
def rt(settings: Settings, clock: Clock, seeds: Seeds, artifacts: Artifacts) -> Iterator[Runtime]:
    """A migrated gateway with the demo world loaded (partners, agreements, consents)."""
    runtime = _seeded_runtime(settings, seeds.get(True), artifacts, clock)
    yield runtime
    runtime.engine.dispose()


@pytest.fixture
def agency(rt: Runtime) -> Iterator[Agency]:
    """The fake agency (tests/agency_server.py) served over HTTP, with the food bank's endpoint
    pointed at it and Lisa's records received (tests/referral_world.prepare)."""
    with running_agency() as running:
        prepare(rt, running.endpoint)
        yield running


@pytest.fixture
def base_url(rt: Runtime) -> Iterator[str]:
    """The gateway served by waitress on a free port, in a daemon thread (real HTTP)."""
    with serve_gateway(rt) as url:
        yield url


@pytest.fixture
def spgw(rt: Runtime, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Callable[..., tuple[int, str]]:
    """``spgw`` over the test's initialised gateway (the CLI runs on the real clock): exit code, output."""
    from click.testing import CliRunner

    from gateway.cli import main

    monkeypatch.setenv("GATEWAY_DATABASE_URL", database_url)

    def run(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(main, ["--home", str(rt.settings.home), *args])
        return result.exit_code, result.output

    return run
