"""One demo-world gateway served over real HTTP (waitress) for a whole test module, on SQLite or
PostgreSQL like ``conftest.database_url``: for the table and property tests that send hundreds of
independent requests, where a world per test would cost more than the tests."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from gateway.artifacts import Artifacts
from gateway.service.runtime import Runtime, Settings
from tests.conftest import Clock, Seeds, seeded_world
from tests.helpers import partner_headers
from tests.http_server import serve_gateway


@dataclass(frozen=True, kw_only=True)
class Served:
    base_url: str
    rt: Runtime
    headers: dict[str, dict[str, str]]  # bearer headers per demo partner


@pytest.fixture(scope="module", name="served")
def served_fixture(
    tmp_path_factory: pytest.TempPathFactory, seeds: Seeds, artifacts: Artifacts
) -> Iterator[Served]:
    """Import ``served_fixture`` into a test module to give its tests the ``served`` fixture."""
    folder = tmp_path_factory.mktemp("served")
    # The default cadence of tree heads, not the tests' one per commit: hundreds of requests.
    cadence = Settings(home=folder, database_url="").checkpoint_every_entries
    world = seeded_world(folder, seeds, artifacts, Clock(), checkpoint_every_entries=cadence)
    with world as runtime, serve_gateway(runtime) as base:
        yield Served(base_url=base, rt=runtime, headers=partner_headers(base, runtime))
