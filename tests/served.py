"""One demo-world gateway served over real HTTP (waitress) for a whole test module, on SQLite or a
fresh PostgreSQL schema like ``conftest.database_url``: for the table and property tests that send
hundreds of independent requests, where a world per test would cost more than the tests."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, text

from gateway.service.runtime import Runtime, Settings
from gateway.service.setup import initialise
from gateway.storage.db import normalise_url
from gateway.web import create_app
from tests.conftest import PROJECT_ROOT, Clock
from tests.helpers import partner_headers
from tests.http_server import serve_wsgi


@dataclass(frozen=True, kw_only=True)
class Served:
    base_url: str
    rt: Runtime
    headers: dict[str, dict[str, str]]  # bearer headers per demo partner


@pytest.fixture(scope="module", name="served")
def served_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """Import ``served_fixture`` into a test module to give its tests the ``served`` fixture."""
    tmp = tmp_path_factory.mktemp("served")
    url, drop = _database(tmp)
    settings = Settings(home=tmp / "home", database_url=url, artifacts_root=PROJECT_ROOT)
    runtime, _ = initialise(settings, with_samples=True)
    runtime = replace(runtime, clock=Clock())
    with serve_wsgi(create_app(runtime=runtime)) as base:
        yield Served(base_url=base, rt=runtime, headers=partner_headers(base, runtime))
    runtime.engine.dispose()
    drop()


def _database(tmp: Path) -> tuple[str, Callable[[], None]]:
    base = os.environ.get("GATEWAY_TEST_DATABASE_URL")
    if not base:
        return f"sqlite:///{tmp / 'gateway.db'}", lambda: None
    base, schema = normalise_url(base), "t_" + uuid.uuid4().hex[:16]
    admin = create_engine(base)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))

    def drop() -> None:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    separator = "&" if "?" in base else "?"
    return f"{base}{separator}options={quote(f'-csearch_path={schema}')}", drop
