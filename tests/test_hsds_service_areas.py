"""A service area that lists ZIP codes is checked against the family's (issue 16): the HSDS
readers turn a name, description or text extent made only of ZIP codes into those codes, which
matching compares; an area published as a name stays shown, not checked ("check the address")."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.core.matching import rank
from gateway.formats.hsds_json import read_json
from gateway.formats.hsds_tabular import read_tabular
from tests.conftest import PROJECT_ROOT
from tests.test_matching import need, svc

FIXTURES = PROJECT_ROOT / "tests" / "fixtures" / "hsds"

AREAS = [
    ("a ZIP as the name", [{"name": "02903"}], ("02903",)),
    ("ZIPs listed in the name", [{"name": "02903, 02904; 02905-1234"}], ("02903", "02904", "02905-1234")),
    ("a text extent of ZIPs beside a name",
     [{"name": "Providence", "extent_type": "text", "extent": "02903 02904"}], ("02903", "02904")),
    ("ZIPs in the description of a named area", [{"name": "Providence", "description": "02907,02908"}],
     ("02907", "02908")),
    ("a geometry extent is not a ZIP list", [{"name": "Providence", "extent_type": "geojson",
                                              "extent": "02903"}], ("Providence",)),
    ("a name only", [{"name": "Providence County"}], ("Providence County",)),
    ("free text naming a ZIP is not mined", [{"name": "Serves 02903 and more"}], ("Serves 02903 and more",)),
    ("a name and a ZIP area", [{"name": "Providence"}, {"name": "02909"}], ("02909", "Providence")),
]  # fmt: skip


def _read(areas: list[dict[str, Any]]) -> tuple[str, ...]:
    service = json.loads((FIXTURES / "providence-3x.json").read_text())[1]
    service["service_areas"] = areas
    [record, *_] = read_json(json.dumps([service]).encode(), "x.json", "pvd").records
    return record.sal.service_area


@pytest.mark.parametrize(("areas", "expected"), [a[1:] for a in AREAS], ids=[a[0] for a in AREAS])
def test_json_service_areas(areas: list[dict[str, Any]], expected: tuple[str, ...]) -> None:
    assert _read(areas) == expected


def test_a_tabular_text_extent_lists_zips(tmp_path: Path) -> None:
    (tmp_path / "services.csv").write_text("id,name,status\ns1,Pantry,active\n")
    (tmp_path / "service_areas.csv").write_text(
        'id,service_id,name,extent,extent_type\na1,s1,Providence,"02903, 02904",text\n'
    )
    [record] = read_tabular(tmp_path, "pvd").records
    assert record.sal.service_area == ("02903", "02904")


@pytest.fixture(scope="module")
def categories() -> dict[str, Any]:
    doc = yaml.safe_load((PROJECT_ROOT / "mappings/codes/need-category-taxonomy.yaml").read_text("utf-8"))
    return {e["from"]: e["to"] for e in doc["entries"]}


ZIPS = [{"name": "Providence", "extent_type": "text", "extent": "02903,02904"}]
NAMED = [{"name": "Providence"}]


@pytest.mark.parametrize(
    ("areas", "postal_code", "suggested", "said"),
    [
        (ZIPS, "02903", True, False),  # inside the listed ZIPs: checked, nothing left to check
        (ZIPS, "02907", False, False),  # outside: not suggested
        (ZIPS, "", True, False),  # the family's ZIP unknown: kept
        (NAMED, "02907", True, True),  # a name: shown, "check the address"
    ],
    ids=["inside", "outside", "zip unknown", "named only"],
)
def test_matching_checks_an_area_that_lists_zips(
    categories: dict[str, Any], areas: list[dict[str, Any]], postal_code: str, suggested: bool, said: bool
) -> None:
    found = rank(need(postal_code=postal_code), [svc(service_area=_read(areas))], None, crosswalk=categories)
    assert bool(found) is suggested
    assert all(("check the address" in s.explanation) is said for s in found)
