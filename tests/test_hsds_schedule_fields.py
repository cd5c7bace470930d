"""HSDS schedule rows carry RFC 5545 COUNT, BYWEEKNO and BYYEARDAY (HSDS 3 schedule table, 2.x
``schedule``): the readers keep them, a COUNT that is no count drops the row with a warning
(the service lands), and the export writes them back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.core.directory import ScheduleRule
from gateway.formats.hsds_json import read_json
from gateway.formats.hsds_tabular import read_tabular
from gateway.service.directory.directory import export_source
from gateway.service.directory.directory_import import import_path
from gateway.service.runtime import Runtime
from tests.conftest import PROJECT_ROOT, SHARED_SAMPLES

FIXTURES = PROJECT_ROOT / "tests" / "fixtures" / "hsds"
SPEC_CSV = SHARED_SAMPLES / "hsds" / "openreferral-spec" / "v3.0" / "examples" / "csv"

SCHEDULE = {
    "id": "sch-1",
    "freq": "WEEKLY",
    "byday": "SA",
    "byweekno": "41, 42",
    "byyearday": "-1",
    "count": "3",
    "dtstart": "2026-10-10",
    "opens_at": "10:00",
    "closes_at": "14:00",
}
EXPECTED = ScheduleRule(
    freq="WEEKLY",
    byday="SA",
    byweekno="41,42",
    byyearday="-1",
    count=3,
    dtstart="2026-10-10",
    opens_at="10:00",
    closes_at="14:00",
)


def _service(**schedule: object) -> dict[str, object]:
    service = json.loads((FIXTURES / "providence-3x.json").read_text())[1]
    service["service_at_locations"][0]["schedules"] = [{**SCHEDULE, **schedule}]
    return service


def _schedules(data: bytes) -> tuple[tuple[ScheduleRule, ...], list[tuple[str, str]]]:
    result = read_json(data, "x.json", "pvd")
    problems = [(p.where, p.severity) for p in result.problems]
    return result.records[0].sal.schedules, problems


def test_json_keeps_count_byweekno_and_byyearday() -> None:
    assert _schedules(json.dumps([_service()]).encode()) == ((EXPECTED,), [])


def test_a_tabular_package_keeps_them(tmp_path: Path) -> None:
    (tmp_path / "services.csv").write_text("id,name,status\ns1,Pantry,active\n")
    header = ",".join(["service_id", *SCHEDULE])
    values = ",".join(["s1", *(f'"{v}"' for v in SCHEDULE.values())])
    (tmp_path / "schedules.csv").write_text(f"{header}\n{values}\n")
    result = read_tabular(tmp_path, "pvd")
    assert [r.sal.schedules for r in result.records] == [(EXPECTED,)]
    assert result.problems == []


@pytest.mark.skipif(not SPEC_CSV.is_dir(), reason="the shared HSDS samples are not laid out")
def test_the_specification_example_row_is_read_whole() -> None:
    [record] = read_tabular(SPEC_CSV, "spec").records
    [rule] = record.sal.schedules
    assert (rule.count, rule.byweekno, rule.byyearday, rule.bymonthday) == (3, "41,42", "2,3,4", "2,3,4")


@pytest.mark.parametrize("count", ["0", "-1", "2.5", "three", 0])
def test_a_count_that_is_no_count_drops_the_row_and_the_service_lands(count: object) -> None:
    schedules, problems = _schedules(json.dumps([_service(count=count)]).encode())
    assert schedules == ()
    assert problems == [("x.json $[0].service_at_locations[0].schedules[0]", "warning")]


@pytest.mark.parametrize("count", [3, 3.0, "3.0", " 3 "])
def test_a_count_written_as_a_number_or_text_is_read(count: object) -> None:
    schedules, problems = _schedules(json.dumps([_service(count=count)]).encode())
    assert (schedules, problems) == ((EXPECTED,), [])


def test_the_export_writes_them_back(bare_rt: Runtime, tmp_path: Path) -> None:
    source = tmp_path / "pvd.json"
    source.write_text(json.dumps([_service()]))
    import_path(bare_rt, source, source="pvd")
    exported = export_source(bare_rt, "pvd")
    [document] = exported[0]["service_at_locations"][0]["schedules"]
    assert (document["count"], document["byweekno"], document["byyearday"]) == (3, "41,42", "-1")
    out = tmp_path / "export.json"
    out.write_text(json.dumps(exported))
    again = import_path(bare_rt, out, source="pvd")
    assert (again.added, again.changed, again.unchanged) == (0, 0, 1)
