"""Conformance: every Ed-Fi sample interchange in ../shared/samples/edfi parses with no problem,
record counts match the element counts, every record has the Ed-Fi API's resource shape
(field names and JSON types of the DS 5.0 OpenAPI), and the vendored XSDs are the Ed-Fi ones."""

from __future__ import annotations

import gzip
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from lxml import etree

from gateway.formats.edfi_xml import XmlTally, iter_records
from gateway.formats.edfi_xml_schema import SCHEMA_DIR
from gateway.formats.edfi_xml_tables import RESOURCES
from gateway.formats.records import SourceRecord
from tests.conftest import SHARED_SAMPLES

EDFI = SHARED_SAMPLES / "edfi"
FIXTURES = Path(__file__).parent / "fixtures" / "edfi_xml"
SAMPLES = sorted((EDFI / "Samples").glob("*/*.xml")) if EDFI.exists() else []
OPENAPI = EDFI / "api-specifications" / "resources" / "resources-ds-5.0.yaml.gz"
needs_samples = pytest.mark.skipif(not EDFI.exists(), reason="../shared/samples/edfi is not present")
# Data Standard 5.1/5.2 additions the DS 5.0 OpenAPI does not have yet
NEWER_THAN_50 = {
    "studentHealths",
    "studentSection504ProgramAssociations",
    "studentSpecialEducationProgramAssociations.reductionInHoursPerWeekComparedToPeers",
    "studentSpecialEducationProgramAssociations.shortenedSchoolDayIndicator",
}
JSON_TYPES: dict[str, Any] = {"string": str, "integer": int, "number": (int, float), "boolean": bool}


def element_counts(path: Path) -> Counter[str]:
    root = etree.parse(str(path), etree.XMLParser(resolve_entities=False, no_network=True)).getroot()
    return Counter(etree.QName(child).localname for child in root if isinstance(child.tag, str))


@needs_samples
@pytest.mark.parametrize("path", SAMPLES, ids=[p.name for p in SAMPLES])
def test_sample_interchange_parses_with_no_problem_and_every_record_counted(path):
    tally = XmlTally()
    with path.open("rb") as stream:
        found = list(iter_records(stream, tally=tally))
    assert [item for item in found if not isinstance(item, SourceRecord)] == []
    expected = element_counts(path)
    records = Counter(item.entity for item in found)
    assert records == Counter({RESOURCES[name]: n for name, n in expected.items() if name in RESOURCES})
    assert tally.skipped == Counter({name: n for name, n in expected.items() if name not in RESOURCES})
    assert tally.records == sum(records.values()) > 0


@needs_samples
def test_samples_cover_the_ds52_and_ds6_interchanges():
    names = {p.name for p in SAMPLES}
    assert {"Student.xml", "StudentSchoolAttendance.xml", "StudentProgram.xml"} <= names
    assert {"StudentEnrollment.xml", "StudentGrade-1stSixWeeks.xml"} <= names  # DS 6.0 / 6.1 namespaces


@pytest.fixture(scope="module")
def openapi_schemas() -> dict[str, Any]:
    if not OPENAPI.exists():
        pytest.skip("../shared/samples/edfi/api-specifications is not present")
    with gzip.open(OPENAPI) as raw:
        return yaml.safe_load(raw)["components"]["schemas"]  # type: ignore[no-any-return]


def shape_problems(data: dict[str, Any], name: str, where: str, schemas: dict[str, Any]) -> list[str]:
    """Keys the OpenAPI does not define and values of the wrong JSON type, recursively."""
    problems: list[str] = []
    properties = schemas[name]["properties"]
    for key, value in data.items():
        spec = properties.get(key)
        path = f"{where}.{key}"
        if spec is None:
            problems.append(f"{path}: not in the OpenAPI")
        elif "$ref" in spec:
            problems += shape_problems(value, spec["$ref"].rsplit("/", 1)[1], path, schemas)
        elif spec.get("type") == "array":
            for item in value:
                problems += shape_problems(
                    item, spec["items"]["$ref"].rsplit("/", 1)[1], f"{path}[]", schemas
                )
        elif isinstance(value, bool) != (spec["type"] == "boolean") or not isinstance(
            value, JSON_TYPES[spec["type"]]
        ):
            problems.append(f"{path}: {type(value).__name__} is not {spec['type']}")
    return [p for p in problems if p.split(":")[0].split("[")[0] not in NEWER_THAN_50]


def definition(entity: str) -> str:
    singular = entity[:-3] + "y" if entity.endswith("ies") else entity[:-1]
    return f"edFi_{singular}"


@needs_samples
@pytest.mark.parametrize("path", SAMPLES, ids=[p.name for p in SAMPLES])
def test_sample_records_have_the_api_resource_shape(path, openapi_schemas):
    problems = Counter()
    with path.open("rb") as stream:
        for item in iter_records(stream):
            if item.entity in NEWER_THAN_50:
                continue
            problems.update(shape_problems(item.data, definition(item.entity), item.entity, openapi_schemas))
    assert problems == Counter()


def test_shape_fixtures_have_the_api_resource_shape(openapi_schemas):
    rows = yaml.safe_load(
        (Path(__file__).parent / "fixtures" / "edfi_xml" / "shapes.yaml").read_text("utf-8")
    )
    for row in rows:
        if row["entity"] not in NEWER_THAN_50:
            assert (
                shape_problems(row["json"], definition(row["entity"]), row["entity"], openapi_schemas) == []
            )


@needs_samples
def test_vendored_xsds_are_the_ed_fi_ones():
    vendored = sorted(SCHEMA_DIR.glob("*.xsd"))
    assert len(vendored) == 13
    for xsd in vendored:
        assert xsd.read_bytes() == (EDFI / "Schemas" / "Bulk" / xsd.name).read_bytes(), xsd.name
    for notice in ("LICENSE", "NOTICES.md", "SOURCE.txt"):
        assert (SCHEMA_DIR / notice).is_file()
