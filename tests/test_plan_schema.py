"""The Success Plan JSON Schema: it is a valid schema that agrees with the gateway code, the
published example (and a new empty plan) satisfies it, the README shows the same example,
and each kind of broken plan is rejected at the place where it is broken."""

from __future__ import annotations

import copy
import json
import pathlib
import re
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker

ROOT = pathlib.Path(__file__).parent.parent
SCHEMAS = ROOT / "schemas"
SCHEMA_PATH = SCHEMAS / "success-plan.schema.json"
EXAMPLE_PATH = SCHEMAS / "examples" / "complete-plan.json"
README_PATH = SCHEMAS / "README.md"

SCHEMA_ID = "https://success-plan-gateway.org/schemas/success-plan/1.0.0"

Path = tuple[str | int, ...]


def load_json(path: pathlib.Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


SCHEMA = load_json(SCHEMA_PATH)
VALIDATOR = Draft202012Validator(SCHEMA, format_checker=FormatChecker())


def example() -> dict[str, Any]:
    return copy.deepcopy(load_json(EXAMPLE_PATH))


def error_paths(plan: dict[str, Any]) -> list[tuple[Path, str, str]]:
    """(location, failing keyword, message) of every validation error."""
    return [(tuple(e.absolute_path), str(e.validator), e.message) for e in VALIDATOR.iter_errors(plan)]


# --- broken plans ---------------------------------------------------------------------
# Paths are dotted, list indexes as numbers: "needs.0.labels.regime".

# A field set to a value the schema forbids: rejected at that field, by `keyword`.
BAD_VALUES: list[tuple[str, Any, str]] = [
    # top level and student
    ("$schema", SCHEMA_ID.replace("1.0.0", "2.0.0"), "const"),
    ("schemaVersion", "1.1.0", "const"),
    ("planId", "plan-123", "pattern"),
    ("needs", {}, "type"),
    ("student.id", "stu-ABC", "pattern"),
    ("student.birthDate.value", "2009-02-30", "format"),
    ("student.birthDate.value", "2009-03-14T00:00:00Z", "format"),
    ("student.school.id", "255901001", "pattern"),  # the school's id goes in schoolId
    # facts and codings
    ("domains.familyBasicNeeds.facts.0.value", ["At risk"], "anyOf"),
    ("domains.familyBasicNeeds.facts.0.effective", "10/09/2024", "anyOf"),
    # element envelope
    ("needs.0.id", "el-0000000000000000000000000a", "pattern"),
    ("needs.0.id", "el-" + "A" * 26, "pattern"),
    ("needs.0.labels.regime", "GDPR", "enum"),
    ("needs.0.labels.sensitivity", "secret", "enum"),
    ("needs.0.labels.category", "", "minLength"),
    ("needs.0.provenance.sourceRecord.digest", "md5:abc", "pattern"),
    ("needs.0.provenance.mapping", "fhir.condition#social-need", "pattern"),
    ("needs.0.provenance.receivedAt", "2024-09-13T09:41:05", "pattern"),
    ("needs.0.provenance.receivedAt", "2024-09-13 09:41:05Z", "pattern"),
    ("needs.0.provenance.derivedFrom.0", "obs-hvs-7731", "pattern"),
    # needs, goals, supports
    ("needs.0.status", "open", "enum"),
    ("needs.0.domain", "housing", "enum"),
    ("needs.0.observed", "2024-13-01", "anyOf"),
    ("goals.0.term", "medium", "enum"),
    ("goals.0.owner", "teacher", "enum"),
    ("goals.0.status", "done", "enum"),
    ("goals.0.target", "end of term", "format"),
    ("supports.0.referralStatus", "pending", "enum"),
]

# A required field removed: rejected at the object that lost it.
MISSING: list[str] = [
    "team",
    "student.id",
    "student.name.family",
    "domains.enrichmentInterests",
    "domains.academic.facts",
    "domains.familyBasicNeeds.facts.0.code",
    "domains.familyBasicNeeds.facts.0.code.system",
    "needs.0.id",
    "needs.0.provenance",
    "needs.0.labels",
    "needs.0.provenance.sourceRecord",
    "needs.0.code",
    "supports.0.service",
    "team.0.role",
]

# A field the schema does not declare: rejected at the object that gained it.
UNKNOWN: list[tuple[str, str]] = [
    ("notes", "additionalProperties"),
    ("student.ssn", "additionalProperties"),
    ("domains.spiritual", "additionalProperties"),
    ("domains.familyBasicNeeds.facts.0.code.version", "additionalProperties"),
    ("needs.0.colour", "unevaluatedProperties"),
    ("needs.0.sumary", "unevaluatedProperties"),  # a typo of summary
    ("student.school.schoolID", "unevaluatedProperties"),
    ("needs.0.labels.purpose", "additionalProperties"),
    ("needs.0.provenance.note", "additionalProperties"),
]


def steps(dotted: str) -> Path:
    return tuple(int(s) if s.isdigit() else s for s in dotted.split("."))


def parent_of(plan: dict[str, Any], path: Path) -> Any:
    node: Any = plan
    for step in path[:-1]:
        node = node[step]
    return node


def assert_rejected_at(plan: dict[str, Any], where: Path, keyword: str) -> None:
    errors = error_paths(plan)
    assert errors, "the broken plan was accepted"
    assert {path for path, _, _ in errors} == {where}, errors
    assert keyword in {kw for _, kw, _ in errors}, errors


# --- tests ----------------------------------------------------------------------------


def test_schema_is_a_valid_draft_2020_12_schema() -> None:
    Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert SCHEMA["$id"] == SCHEMA_ID


def test_every_definition_is_described() -> None:
    undescribed = [name for name, d in SCHEMA["$defs"].items() if not d.get("description")]
    assert undescribed == []


def test_example_is_valid() -> None:
    assert error_paths(example()) == []


def test_example_names_the_schema_it_was_written_against() -> None:
    plan = example()
    assert plan["$schema"] == SCHEMA["$id"]
    assert SCHEMA["$id"].endswith("/" + plan["schemaVersion"])


def test_readme_shows_the_example_file() -> None:
    readme = README_PATH.read_text(encoding="utf-8")
    _, found, after = readme.partition("## Complete example")
    assert found, "README has no '## Complete example' section"
    block = re.search(r"```json\n(.*?)\n```", after, re.DOTALL)
    assert block, "no ```json block under '## Complete example'"
    assert json.loads(block.group(1)) == load_json(EXAMPLE_PATH)


def test_example_element_ids_are_unique_and_derivations_resolve() -> None:
    from gateway.core.labels import REGIMES, SENSITIVITIES
    from gateway.core.plan import iter_elements

    elements = {e["id"]: e for _, e in iter_elements(example())}
    assert len(elements) == sum(1 for _ in iter_elements(example()))
    for element in elements.values():
        for source_id in element["provenance"].get("derivedFrom", []):
            source, derived = elements[source_id]["labels"], element["labels"]
            # a derived element is at least as restricted as each of its sources
            assert REGIMES.index(derived["regime"]) >= REGIMES.index(source["regime"])
            assert SENSITIVITIES.index(derived["sensitivity"]) >= SENSITIVITIES.index(source["sensitivity"])


def test_schema_agrees_with_the_code() -> None:
    from gateway.core.labels import DOMAINS, REGIMES, SENSITIVITIES
    from gateway.core.plan import SCHEMA_ID as CODE_SCHEMA_ID
    from gateway.core.plan import SCHEMA_VERSION

    defs = SCHEMA["$defs"]
    assert SCHEMA["$id"] == CODE_SCHEMA_ID
    assert SCHEMA["properties"]["schemaVersion"]["const"] == SCHEMA_VERSION
    assert tuple(defs["Labels"]["properties"]["regime"]["enum"]) == REGIMES
    assert tuple(defs["Labels"]["properties"]["sensitivity"]["enum"]) == SENSITIVITIES
    assert tuple(defs["Domain"]["enum"]) == DOMAINS
    assert tuple(defs["Domains"]["required"]) == DOMAINS


def test_a_new_empty_plan_is_valid() -> None:
    from gateway.core.ids import student_id_for
    from gateway.core.plan import empty_plan

    plan = empty_plan(student_id_for("uri://grand-bend-isd.example/StudentUniqueId", "1"))
    assert error_paths(plan) == []


@pytest.mark.parametrize(("dotted", "value", "keyword"), BAD_VALUES)
def test_bad_value_is_rejected_at_the_field(dotted: str, value: Any, keyword: str) -> None:
    plan, path = example(), steps(dotted)
    parent_of(plan, path)[path[-1]] = value
    assert_rejected_at(plan, path, keyword)


@pytest.mark.parametrize("dotted", MISSING)
def test_missing_field_is_rejected_at_its_parent(dotted: str) -> None:
    plan, path = example(), steps(dotted)
    del parent_of(plan, path)[path[-1]]
    assert_rejected_at(plan, path[:-1], "required")


@pytest.mark.parametrize(("dotted", "keyword"), UNKNOWN)
def test_unknown_field_is_rejected_at_its_parent(dotted: str, keyword: str) -> None:
    plan, path = example(), steps(dotted)
    parent_of(plan, path)[path[-1]] = "x"
    assert_rejected_at(plan, path[:-1], keyword)
