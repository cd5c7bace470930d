"""Directory import (issue 16, D1): HSDS in every shape to the same stored values; problems per
file and row; idempotent re-import, removal on a full import, incremental refresh with deletes,
the HSDS export round trip, and services near a place."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import select

from gateway.clients.hsds_api import HsdsClient
from gateway.core.geo import Point, haversine_km
from gateway.errors import UpstreamFailed
from gateway.formats.hsds_json import read_json
from gateway.formats.hsds_tabular import read_tabular
from gateway.service.directory.directory import export_source, service_count, services_near
from gateway.service.directory.directory_import import import_path, import_url
from gateway.service.runtime import Runtime
from gateway.storage.tables import AuditEntryRow
from tests.conftest import PROJECT_ROOT, SHARED_SAMPLES
from tests.hsds_server import HsdsApi, hsds_api

FIXTURES = PROJECT_ROOT / "tests" / "fixtures" / "hsds"
SPEC = SHARED_SAMPLES / "hsds" / "openreferral-spec"
needs_samples = pytest.mark.skipif(not SPEC.is_dir(), reason="the shared HSDS samples are not laid out")


def _fixture_services() -> list[dict]:
    return json.loads((FIXTURES / "providence-3x.json").read_text())


# -- reading ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("package", "strip_terms"),
    [
        ("providence-1x", True),  # 1.x has no taxonomy: its records carry no terms
        ("providence-2x", False),
    ],
)
def test_older_packages_read_to_the_values_of_their_3x_form(package: str, strip_terms: bool) -> None:
    v3 = read_json((FIXTURES / "providence-3x.json").read_bytes(), "providence-3x.json", "pvd")
    older = read_tabular(FIXTURES / package, "pvd")
    expected = {r.sal.id: replace(r.sal, terms=()) if strip_terms else r.sal for r in v3.records}
    assert {r.sal.id: r.sal for r in older.records} == expected
    assert len(expected) == 4
    assert not v3.problems


def test_a_row_that_breaks_the_schema_is_reported_by_file_and_row_and_the_rest_lands() -> None:
    result = read_tabular(FIXTURES / "providence-1x", "pvd")
    rejected = sorted((p.where, p.message) for p in result.problems if p.severity == "rejected")
    assert rejected == [
        ("services.csv row 5", "the service lacks name; add it and import again"),
        ("services_at_location.csv row 6", "service_id names no row of services.csv; the row was left out"),
    ]
    assert sorted({r.sal.service_id for r in result.records}) == ["svc-1", "svc-2", "svc-3"]


@pytest.mark.parametrize(
    ("field", "value", "where", "lands"),
    [
        ("name", "", "x.json $[0]", False),
        ("status", "closed-ish", "x.json $[0].status", False),
        ("minimum_age", "five", "x.json $[0].minimum_age", True),  # the field is dropped, the service lands
    ],
)
def test_json_problems_name_their_path(field: str, value: str, where: str, lands: bool) -> None:
    service = {**_fixture_services()[1], field: value}
    result = read_json(json.dumps([service]).encode(), "x.json", "pvd")
    assert [p.where for p in result.problems] == [where]
    assert bool(result.records) is lands


@needs_samples
@pytest.mark.parametrize("version", ["v3.0", "3.1-dev"])
@pytest.mark.parametrize("sample", ["service_full.json", "service_list.json", "csv"])
def test_the_specification_examples_import(bare_rt: Runtime, version: str, sample: str) -> None:
    report = import_path(bare_rt, SPEC / version / "examples" / sample, source="spec")
    assert (report.added, report.rejected) == (1, 0)
    # The examples' coordinates (100, 101) are out of range: a warning, the place is kept without them.
    assert all(p.severity == "warning" for p in report.problems)
    assert service_count(bare_rt) == 1


# -- storing ---------------------------------------------------------------------------------


def test_reimport_is_idempotent_and_audited_once_per_import(bare_rt: Runtime) -> None:
    first = import_path(bare_rt, FIXTURES / "providence-2x", source="pvd")
    again = import_path(bare_rt, FIXTURES / "providence-2x", source="pvd")
    assert (first.added, again.added, again.changed, again.unchanged, again.removed) == (4, 0, 0, 4, 0)
    assert first.digest == again.digest
    with bare_rt.sessions() as session:
        kinds = session.scalars(
            select(AuditEntryRow.kind).where(AuditEntryRow.kind == "directory.imported")
        ).all()
    assert len(kinds) == 2


def test_a_full_import_replaces_changes_and_removes_what_it_no_longer_carries(
    bare_rt: Runtime, tmp_path: Path
) -> None:
    import_path(bare_rt, FIXTURES / "providence-3x.json", source="pvd")
    services = _fixture_services()
    services[0]["name"] = "Westside Food Pantry and Kitchen"
    del services[2]
    path = tmp_path / "pvd.json"
    path.write_text(json.dumps(services))
    report = import_path(bare_rt, path, source="pvd")
    assert (report.added, report.changed, report.unchanged, report.removed) == (0, 2, 1, 1)
    assert service_count(bare_rt) == 3


def test_export_round_trip_changes_nothing(bare_rt: Runtime, tmp_path: Path) -> None:
    import_path(bare_rt, FIXTURES / "providence-1x", source="pvd")
    out = tmp_path / "export.json"
    out.write_text(json.dumps(export_source(bare_rt, "pvd")))
    report = import_path(bare_rt, out, source="pvd")
    assert (report.added, report.changed, report.removed, report.unchanged) == (0, 0, 0, 4)
    assert read_json(out.read_bytes(), "export.json", "pvd").problems == []


# -- refreshing from an HSDS API --------------------------------------------------------------


def test_incremental_refresh_applies_changes_and_deletes(bare_rt: Runtime) -> None:
    api = HsdsApi(honour_full=False)  # lists are minimal: each service is fetched whole
    for service in _fixture_services():
        api.put(service)
    with hsds_api(api) as url:
        first = import_url(bare_rt, url, "pvd-api", client=HsdsClient(url, per_page=2))
        assert (first.full, first.added, first.watermark) == (True, 4, "2026-11-01T12:00:00Z")
        changed, gone = _fixture_services()[0], _fixture_services()[1]
        changed.update(name="Westside Pantry", last_modified="2026-11-20T08:00:00Z")
        changed["service_at_locations"] = changed["service_at_locations"][:1]  # one place closed
        gone.update(status="defunct", last_modified="2026-11-21T08:00:00Z")
        api.put(changed)
        api.put(gone)
        api.calls.clear()
        second = import_url(bare_rt, url, "pvd-api", client=HsdsClient(url, per_page=2))
    assert "modified_after=2026-11-01T12%3A00%3A00Z" in api.calls[0]
    assert (second.full, second.added, second.changed, second.removed) == (False, 0, 1, 2)
    assert second.watermark == "2026-11-21T08:00:00Z"
    assert sorted(s.id for s in services_near(bare_rt, Point(lat=41.82, lon=-71.43), 5)) == [
        "pvd-api:sal-1",
        "pvd-api:sal-4",
    ]


@pytest.mark.parametrize("status", [500, 404])
def test_an_api_failure_is_a_clear_error_and_changes_nothing(bare_rt: Runtime, status: int) -> None:
    api = HsdsApi(fail_next=status)
    with hsds_api(api) as url, pytest.raises(UpstreamFailed) as caught:
        import_url(bare_rt, url, "pvd-api")
    assert f"HTTP {status}" in caught.value.message
    assert service_count(bare_rt) == 0


# -- services near a place ---------------------------------------------------------------------

CELL_EDGE = 41.85  # a grid row boundary (0.05°): points on both sides
PLACES = {
    "north": Point(lat=CELL_EDGE + 0.001, lon=-71.40),
    "south": Point(lat=CELL_EDGE - 0.001, lon=-71.40),
    "far": Point(lat=CELL_EDGE + 0.10, lon=-71.40),
    "fiji-east": Point(lat=-17.0, lon=179.999),
    "fiji-west": Point(lat=-17.0, lon=-179.999),
    "pole": Point(lat=89.99, lon=10.0),
    "pole-far-side": Point(lat=89.99, lon=-170.0),
}


def _directory_of(places: dict[str, Point]) -> list[dict]:
    template = _fixture_services()[1]
    services = []
    for name, place in places.items():
        service = json.loads(json.dumps(template))
        service["id"] = f"svc-{name}"
        sal = service["service_at_locations"][0]
        sal["id"], sal["location"]["id"] = f"sal-{name}", f"loc-{name}"
        sal["location"].update(latitude=place.lat, longitude=place.lon)
        services.append(service)
    return services


@pytest.mark.parametrize(
    ("center", "km"),
    [
        (Point(lat=CELL_EDGE, lon=-71.40), 0.5),  # across a cell boundary
        (Point(lat=CELL_EDGE - 0.0005, lon=-71.40), 0.1),
        (Point(lat=CELL_EDGE, lon=-71.40), 20.0),
        (Point(lat=-17.0, lon=179.9995), 1.0),  # across the antimeridian
        (Point(lat=-17.0, lon=-179.9995), 1.0),
        (Point(lat=89.995, lon=0.0), 2.0),  # near the pole: the circle wraps every longitude
        (Point(lat=0.0, lon=0.0), 5.0),  # nothing there
    ],
)
def test_services_near_returns_exactly_those_within_km(
    bare_rt: Runtime, tmp_path: Path, center: Point, km: float
) -> None:
    path = tmp_path / "places.json"
    path.write_text(json.dumps(_directory_of(PLACES)))
    import_path(bare_rt, path, source="geo")
    expected = sorted(f"geo:sal-{n}" for n, p in PLACES.items() if haversine_km(center, p) <= km)
    found = services_near(bare_rt, center, km)
    assert sorted(s.id for s in found) == expected
    distances = [haversine_km(center, s.point) for s in found if s.point]
    assert distances == sorted(distances)
