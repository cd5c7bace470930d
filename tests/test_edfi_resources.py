"""Every Ed-Fi Data Standard 5 resource is mapped, kept as reference data, or ignored with its
reason (issue 13): a walk over the DS 5.0 resource list, the generated tables (docs and README)
kept current, and conformance of the vendored list and reference keys with the OpenAPI."""

from __future__ import annotations

import gzip
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.artifacts import load_artifacts
from gateway.formats.edfi_xml_tables import RESOURCES as XML_RESOURCES
from gateway.service.sources.edfi_resources import (
    IGNORED,
    MAPPED,
    NO_ROW,
    REFERENCE,
    document,
    grouped_table,
    resource_rows,
)
from tests.conftest import PROJECT_ROOT, SHARED_SAMPLES

RESOURCES_FILE = Path(__file__).parent / "fixtures" / "edfi-ds5-resources.txt"
RESOURCES = [
    line.strip() for line in RESOURCES_FILE.read_text("utf-8").splitlines() if line.strip() and line[0] != "#"
]
OPENAPI = SHARED_SAMPLES / "edfi" / "api-specifications" / "resources" / "resources-ds-5.0.yaml.gz"
DOC = PROJECT_ROOT / "docs" / "edfi-resources.md"
README = PROJECT_ROOT / "README.md"
README_BLOCK = re.compile(r"<!-- edfi-resources:start -->\n(.*?)<!-- edfi-resources:end -->", re.S)
ARTIFACTS = load_artifacts()
ROWS = resource_rows(ARTIFACTS, RESOURCES)


@pytest.mark.parametrize("row", ROWS, ids=[row.resource for row in ROWS])
def test_every_ds5_resource_is_mapped_kept_or_ignored_with_a_reason(row):
    assert row.fate != NO_ROW, f"{row.resource}: add a mapping, a reference-data entry or an ignored reason"
    assert row.detail.strip()


@pytest.mark.parametrize("entity", sorted(set(XML_RESOURCES.values())))
def test_every_resource_the_xml_reader_yields_has_a_row(entity):
    """Ed-Fi XML records become these resources (edfi_xml_tables.RESOURCES): none may be rejected."""
    [row] = resource_rows(ARTIFACTS, [f"ed-fi/{entity}"])
    assert row.fate != NO_ROW


def test_the_resource_list_is_the_whole_standard():
    assert len(RESOURCES) == len(set(RESOURCES)) == 143
    entities = [r.rsplit("/", 1)[-1] for r in RESOURCES]
    assert len(set(entities)) == len(entities)  # ed-fi and tpdm names never collide: entity names suffice
    assert {"ed-fi/assessments", "ed-fi/gradebookEntries", "ed-fi/interventions", "tpdm/candidates"} <= set(
        RESOURCES
    )


@pytest.mark.parametrize(
    ("resource", "fate"),
    [
        ("ed-fi/studentAssessments", MAPPED),
        ("ed-fi/studentDisciplineIncidentBehaviorAssociations", MAPPED),
        ("ed-fi/assessments", REFERENCE),
        ("ed-fi/objectiveAssessments", REFERENCE),
        ("ed-fi/gradebookEntries", REFERENCE),
        ("ed-fi/interventions", REFERENCE),
        ("ed-fi/interventionPrescriptions", REFERENCE),
        ("ed-fi/sections", REFERENCE),
        ("ed-fi/sessions", REFERENCE),
        ("ed-fi/calendars", REFERENCE),
        ("ed-fi/calendarDates", REFERENCE),
        ("ed-fi/courses", REFERENCE),
        ("ed-fi/courseOfferings", REFERENCE),
        ("ed-fi/schools", REFERENCE),
        ("ed-fi/localEducationAgencies", REFERENCE),
        ("ed-fi/programs", REFERENCE),
        ("ed-fi/staffs", IGNORED),
        ("ed-fi/surveys", IGNORED),
        ("ed-fi/accountabilityRatings", IGNORED),
        ("ed-fi/disciplineIncidents", IGNORED),
        ("tpdm/candidates", IGNORED),
    ],
)
def test_the_issue_s_resources_have_the_agreed_fate(resource, fate):
    [row] = [r for r in ROWS if r.resource == resource]
    assert row.fate == fate


def test_no_entity_is_both_ignored_and_mapped_or_kept():
    """A stale ignore entry would hide nothing today but mislead the table's readers."""
    ignored = {
        key.split("|", 1)[1] for key in ARTIFACTS.codes["ignored-records"] if key.startswith("edfi-json|")
    }
    mapped = {entity for family, entity in ARTIFACTS.mappings if family == "edfi-json"}
    kept = set(ARTIFACTS.codes["edfi-reference-data"])
    assert ignored & mapped == set()
    assert ignored & kept == set()


def test_docs_table_is_generated_from_the_artifacts(request):
    text = document(ARTIFACTS, RESOURCES)
    if request.config.getoption("--update-golden"):
        DOC.write_text(text, "utf-8")
    assert DOC.read_text("utf-8") == text, "docs/edfi-resources.md is stale: run with --update-golden"


def test_readme_table_is_generated_from_the_artifacts():
    found = README_BLOCK.search(README.read_text("utf-8"))
    assert found is not None, "README.md needs the block <!-- edfi-resources:start --> ... :end -->"
    assert found.group(1) == grouped_table(ROWS), (
        "README's Ed-Fi resource table is stale: paste grouped_table"
    )


def test_the_grouped_table_names_every_resource_once():
    table = grouped_table(ROWS)
    named = re.findall(r"`([A-Za-z0-9]+)`", table.split("\n", 2)[2])
    entities = {r.rsplit("/", 1)[-1] for r in RESOURCES}
    assert sorted(n for n in named if n in entities) == sorted(entities)


# --- conformance with the Ed-Fi OpenAPI (when ../shared is present)


@pytest.fixture(scope="module")
def openapi() -> dict[str, Any]:
    if not OPENAPI.exists():
        pytest.skip("../shared/samples/edfi/api-specifications is not present")
    with gzip.open(OPENAPI) as raw:
        return yaml.safe_load(raw)  # type: ignore[no-any-return]


def test_vendored_resource_list_equals_the_openapi(openapi):
    listed = sorted(path[1:] for path in openapi["paths"] if path.count("/") == 2)
    assert sorted(RESOURCES) == listed


def test_reference_keys_are_the_openapi_identities(openapi):
    table = ARTIFACTS.codes["edfi-reference-data"]
    for entity, spec in table.items():
        [resource] = [r for r in RESOURCES if r.endswith(f"/{entity}")]
        assert sorted(spec["key"]) == sorted(identity_paths(openapi, f"/{resource}")), entity


def identity_paths(openapi: dict[str, Any], path: str) -> list[str]:
    """The x-Ed-Fi-isIdentity query parameters of a resource, as paths into its JSON: a
    property of its own, or a key of one of its required references (role-named ones too:
    ``graduationSchoolYear`` -> ``graduationSchoolYearTypeReference.schoolYear``)."""
    schemas = openapi["components"]["schemas"]
    body = openapi["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
    schema = schemas[body["$ref"].rsplit("/", 1)[1]]
    found = []
    for parameter in openapi["paths"][path]["get"]["parameters"]:
        if parameter.get("x-Ed-Fi-isIdentity"):
            found.append(_identity_path(schemas, schema, parameter["name"]))
    return found


def _identity_path(schemas: dict[str, Any], schema: dict[str, Any], name: str) -> str:
    properties = schema["properties"]
    if name in properties and "$ref" not in properties[name]:
        return f"$.{name}"
    references = [
        (key, schemas[spec["$ref"].rsplit("/", 1)[1]]["properties"])
        for key, spec in properties.items()
        if "$ref" in spec and key in schema.get("required", [])
    ]
    for key, fields in references:  # the first required reference that has the key
        if fields.get(name, {}).get("x-Ed-Fi-isIdentity"):
            return f"$.{key}.{name}"
    for key, fields in references:  # role-named: <role><Field> in <role>...Reference
        for field in fields:
            role = name[: len(name) - len(field)]
            if role and name.endswith(field[:1].upper() + field[1:]) and key.startswith(role):
                return f"$.{key}.{field}"
    return f"?{name}"
