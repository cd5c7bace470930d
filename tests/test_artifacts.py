"""Loading the data artifacts: the project's own load cleanly, and every way of breaking a
copy of them is refused at start-up with the file (relative path) and JSON path named, all
problems at once."""

from __future__ import annotations

import datetime as dt
import pathlib
import shutil
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from gateway.artifacts import (
    Vocabulary,
    agreement_from_doc,
    load_artifacts,
    load_world,
)
from gateway.core.policy import Agreement, ScheduleEntry
from gateway.errors import ArtifactInvalid

PROJECT_ROOT = pathlib.Path(__file__).resolve().parent.parent
STUDENTS = "mappings/edfi/students.yaml"
ATTENDANCE_CODES = "mappings/codes/edfi-attendance-event-category.yaml"
REFERENCE_DATA = "mappings/codes/edfi-reference-data.yaml"
RIVERSIDE_DSA = "consent_policies/samples/agreements/gbisd-riverside-2026.yaml"


def mapping_files(root: pathlib.Path) -> list[pathlib.Path]:
    return sorted(p for p in (root / "mappings").glob("*/*.yaml") if p.parent.name != "codes")


@pytest.fixture
def root(tmp_path: pathlib.Path) -> pathlib.Path:
    for folder in ("schemas", "mappings", "consent_policies"):
        shutil.copytree(PROJECT_ROOT / folder, tmp_path / folder)
    return tmp_path


@pytest.fixture(scope="module")
def vocabulary() -> Vocabulary:
    return load_artifacts(PROJECT_ROOT).vocabulary


def edit_yaml(root: pathlib.Path, relative: str, change: Callable[[Any], None]) -> None:
    path = root / relative
    doc = yaml.safe_load(path.read_text("utf-8"))
    change(doc)
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), "utf-8")


def issues_of(error: ArtifactInvalid) -> list[tuple[str, str]]:
    return [(i.path, i.message) for i in error.issues]


# --- the project's own artifacts -------------------------------------------------------


def test_project_artifacts_load() -> None:
    artifacts = load_artifacts(PROJECT_ROOT)
    files = mapping_files(PROJECT_ROOT)
    declared = [
        (doc["format"], doc["entity"]) for doc in (yaml.safe_load(p.read_text("utf-8")) for p in files)
    ]
    assert len(set(declared)) == len(declared), "each (format, entity) is mapped by one file"
    assert sorted(artifacts.mappings) == sorted(declared)
    assert sorted(m.origin for m in artifacts.mappings.values()) == sorted(
        str(p.relative_to(PROJECT_ROOT)) for p in files
    )
    for (format_name, entity), mapping in artifacts.mappings.items():
        assert artifacts.mapping_for(format_name, entity) is mapping
    assert artifacts.mapping_for("edfi-json", "no-such-entity") is None


def test_project_code_tables_and_vocabulary_load() -> None:
    artifacts = load_artifacts(PROJECT_ROOT)
    assert sorted(artifacts.codes) == sorted(
        p.stem for p in (PROJECT_ROOT / "mappings" / "codes").glob("*.yaml")
    )
    assert artifacts.codes["edfi-grade-level"]["uri://ed-fi.org/GradeLevelDescriptor#Ninth grade"] == "09"
    assert {"identity", "sdoh-screening"} <= artifacts.vocabulary.categories
    assert "care-coordination" in artifacts.vocabulary.purposes
    assert "coordinator" in artifacts.vocabulary.roles


def test_a_faithful_copy_loads(root: pathlib.Path) -> None:
    assert sorted(load_artifacts(root).mappings) == sorted(load_artifacts(PROJECT_ROOT).mappings)


# --- one way of breaking them per row ------------------------------------------------------

Break = Callable[[pathlib.Path], None]


def _append(relative: str, text: str) -> Break:
    return lambda root: (root / relative).write_text((root / relative).read_text("utf-8") + text, "utf-8")


def _write(relative: str, text: str) -> Break:
    return lambda root: (root / relative).write_text(text, "utf-8")


def _yaml(relative: str, change: Callable[[Any], None]) -> Break:
    return lambda root: edit_yaml(root, relative, change)


def _copy_as_second_mapping(root: pathlib.Path) -> None:
    doc = yaml.safe_load((root / STUDENTS).read_text("utf-8"))
    doc["id"] = "edfi.students-again"
    (root / "mappings/edfi/students-again.yaml").write_text(yaml.safe_dump(doc, sort_keys=False), "utf-8")


def _both(*breaks: Break) -> Break:
    def apply(root: pathlib.Path) -> None:
        for b in breaks:
            b(root)

    return apply


def _set_target(index: int, target: str) -> Callable[[Any], None]:
    return lambda doc: doc["rules"][index].__setitem__("target", target)


@pytest.mark.parametrize(
    ("breaking", "expected"),
    [
        # files that cannot be read
        pytest.param(
            _write(STUDENTS, "id: edfi.students\nrules: [unclosed\n"),
            [(STUDENTS, "cannot be read")],
            id="YAML syntax error",
        ),
        pytest.param(
            _append(STUDENTS, "version: 2\n"),
            [(STUDENTS, "duplicate key 'version'")],
            id="duplicate YAML key is refused, not silently overwritten",
        ),
        pytest.param(
            _write("schemas/success-plan.schema.json", "{not json"),
            [("schemas/success-plan.schema.json", "cannot be read")],
            id="plan schema is not JSON",
        ),
        # mappings against the meta-schema
        pytest.param(
            _yaml(STUDENTS, lambda d: d.pop("key")),
            [(f"{STUDENTS}: $", "'key' is a required property")],
            id="mapping missing a required property",
        ),
        pytest.param(
            _yaml(STUDENTS, lambda d: d["rules"][0].__setitem__("colour", "red")),
            [(f"{STUDENTS}: $.rules[0]", "'colour' was unexpected")],
            id="mapping rule with an unknown property",
        ),
        pytest.param(
            _yaml(STUDENTS, lambda d: d["labels"].__setitem__("regime", "GDPR")),
            [(f"{STUDENTS}: $.labels.regime", "'GDPR' is not one of")],
            id="mapping with an unknown regime",
        ),
        # mappings against the vocabulary and each other
        pytest.param(
            _yaml(STUDENTS, lambda d: d["labels"].__setitem__("category", "grades")),
            [
                (
                    f"{STUDENTS}: $.labels.category",
                    "'grades' is not a category in consent_policies/vocabulary.yaml",
                )
            ],
            id="mapping with a category not in the vocabulary",
        ),
        pytest.param(
            _yaml(
                STUDENTS,
                lambda d: d["rules"][1].__setitem__(
                    "labels", {"regime": "FERPA", "sensitivity": "normal", "category": "dob"}
                ),
            ),
            [(f"{STUDENTS}: $.rules[1].labels.category", "'dob' is not a category")],
            id="rule with a category not in the vocabulary",
        ),
        pytest.param(
            _copy_as_second_mapping,
            [(STUDENTS, "is already mapped by mappings/edfi/students-again.yaml")],
            id="two mappings for the same (format, entity)",
        ),
        pytest.param(
            _yaml(STUDENTS, _set_target(0, "student.fullName")),
            [(f"{STUDENTS}: $.rules[0].target", "'student.fullName' is not a plan slot")],
            id="rule with an unknown target slot",
        ),
        pytest.param(
            _yaml(
                "mappings/edfi/student-school-associations.yaml",
                lambda d: d["rules"][0]["fields"]["gradeLevel"].__setitem__("lookup", "grade-levels"),
            ),
            [
                (
                    "mappings/edfi/student-school-associations.yaml: $.rules[0].fields.gradeLevel.lookup",
                    "no crosswalk table 'grade-levels'",
                )
            ],
            id="lookup of a table that does not exist",
        ),
        # code tables
        pytest.param(
            _write(
                "mappings/codes/school-types.yaml",
                "id: school-type\nsource: local\nentries:\n  - {from: A, to: a}\n",
            ),
            [("mappings/codes/school-types.yaml: $.id", "must equal the file name 'school-types'")],
            id="code table id not equal to its file name",
        ),
        pytest.param(
            _append(
                ATTENDANCE_CODES,
                '  - {from: "uri://ed-fi.org/AttendanceEventCategoryDescriptor#Tardy", to: "late"}\n',
            ),
            [(f"{ATTENDANCE_CODES}: $.entries", "is listed twice")],
            id="duplicate code in a table",
        ),
        pytest.param(
            _yaml(ATTENDANCE_CODES, lambda d: d.pop("source")),
            [
                (f"{ATTENDANCE_CODES}: $", "'source' is a required property"),
                (
                    "mappings/edfi/student-school-attendance-events.yaml: $.rules[0].fields.code.code.lookup",
                    "no crosswalk table 'edfi-attendance-event-category'",
                ),
                (
                    "mappings/edfi/student-section-attendance-events.yaml: "
                    "$.rules[0].fields.code.code.lookup",
                    "no crosswalk table 'edfi-attendance-event-category'",
                ),
            ],
            id="invalid code table: it and the lookups that need it are reported",
        ),
        # two problems in one file
        pytest.param(
            _yaml(
                STUDENTS,
                lambda d: (
                    d["rules"][0].__setitem__("target", "student.fullName"),
                    d["rules"][1]["fields"]["value"].__setitem__("transform", "isodate"),
                ),
            ),
            [
                (f"{STUDENTS}: $.rules[0].target", "'student.fullName' is not a plan slot"),
                (f"{STUDENTS}: $.rules[1].fields.value.transform", "unknown transform 'isodate'"),
            ],
            id="two mapping problems in one file: both reported",
        ),
        pytest.param(
            _yaml(STUDENTS, lambda d: (d.pop("key"), d.pop("rules"))),
            [
                (f"{STUDENTS}: $", "'key' is a required property"),
                (f"{STUDENTS}: $", "'rules' is a required property"),
            ],
            id="two meta-schema problems in one file: both reported",
        ),
        pytest.param(
            _yaml(
                STUDENTS,
                lambda d: (
                    d["labels"].__setitem__("category", "grades"),
                    _set_target(0, "student.fullName")(d),
                ),
            ),
            [
                (f"{STUDENTS}: $.labels.category", "'grades' is not a category"),
                (f"{STUDENTS}: $.rules[0].target", "'student.fullName' is not a plan slot"),
            ],
            id="unknown category and unknown slot in one file: both reported",
        ),
        pytest.param(
            _yaml(REFERENCE_DATA, lambda d: d["entries"][0]["to"].__setitem__("key", "weekIdentifier")),
            [(f"{REFERENCE_DATA}: entry 'academicWeeks'.key", "must be a list of paths")],
            id="reference-data entry whose natural key is not a list of paths",
        ),
        pytest.param(
            _yaml(
                REFERENCE_DATA,
                lambda d: next(e for e in d["entries"] if e["from"] == "assessments")["to"]["named_by"][0][
                    "rules"
                ].append("edfi.student-assessments#no-such-rule"),
            ),
            [(f"{REFERENCE_DATA}: entry 'assessments'.named_by", "'edfi.student-assessments#no-such-rule'")],
            id="reference-data entry named by a rule no mapping has",
        ),
        # problems in several files
        pytest.param(
            _both(
                _append(STUDENTS, "version: 2\n"),
                _yaml(ATTENDANCE_CODES, lambda d: d["entries"].append(d["entries"][0])),
            ),
            [(STUDENTS, "duplicate key"), (f"{ATTENDANCE_CODES}: $.entries", "is listed twice")],
            id="problems in two files: both reported",
        ),
    ],
)
def test_broken_artifacts_are_refused(
    root: pathlib.Path, breaking: Break, expected: list[tuple[str, str]]
) -> None:
    breaking(root)
    with pytest.raises(ArtifactInvalid) as caught:
        load_artifacts(root)
    found = issues_of(caught.value)
    unmatched = [
        (path, says) for path, says in expected if not any(p == path and says in m for p, m in found)
    ]
    assert unmatched == [], found
    assert len(found) == len(expected), found
    assert str(root) not in str(caught.value), "paths are relative to the project root"
    assert "fix them and restart" in caught.value.message


def test_a_mapping_in_a_nested_folder_is_not_silently_ignored(root: pathlib.Path) -> None:
    nested = root / "mappings" / "fhir" / "r4"
    nested.mkdir()
    (nested / "condition.yaml").write_text("id: fhir.condition\n", "utf-8")
    with pytest.raises(ArtifactInvalid) as caught:
        load_artifacts(root)
    assert any(i.path.startswith("mappings/fhir/r4/condition.yaml") for i in caught.value.issues)


def test_broken_vocabulary_is_reported(root: pathlib.Path) -> None:
    edit_yaml(
        root, "consent_policies/vocabulary.yaml", lambda d: d["purposes"].__setitem__("Marketing Use", "x")
    )
    with pytest.raises(ArtifactInvalid) as caught:
        load_artifacts(root)
    found = issues_of(caught.value)
    assert found[0][0] == "consent_policies/vocabulary.yaml: $.purposes"
    assert "'Marketing Use' does not match" in found[0][1]


# --- the policy world ------------------------------------------------------------------------


def samples(root: pathlib.Path) -> pathlib.Path:
    return root / "consent_policies" / "samples"


def test_project_world_loads(vocabulary: Vocabulary) -> None:
    world = load_world(samples(PROJECT_ROOT), vocabulary, PROJECT_ROOT)
    assert sorted(o["id"] for o in world.organizations) == [
        "grand-bend-isd",
        "northside-food-bank",
        "riverside-health",
    ]
    assert sorted(a["id"] for a in world.agreements) == sorted(
        p.stem.removesuffix("-expired") for p in (samples(PROJECT_ROOT) / "agreements").glob("*.yaml")
    )


def _agreement(change: Callable[[Any], None]) -> Break:
    return _yaml(RIVERSIDE_DSA, change)


@pytest.mark.parametrize(
    ("breaking", "expected"),
    [
        pytest.param(
            _agreement(lambda d: d["parties"].append("mercy-hospital")),
            [(f"{RIVERSIDE_DSA}: $.parties[2]", "'mercy-hospital' is not a registered organization")],
            id="unknown party",
        ),
        pytest.param(
            _agreement(lambda d: d["schedule"][1]["sends"].append("genomics")),
            [(f"{RIVERSIDE_DSA}: $.schedule[1].sends", "unknown data category 'genomics'")],
            id="unknown category sent",
        ),
        pytest.param(
            _agreement(lambda d: d["schedule"][0]["receives"].append("genomics")),
            [(f"{RIVERSIDE_DSA}: $.schedule[0].receives", "unknown data category 'genomics'")],
            id="unknown category received",
        ),
        pytest.param(
            _agreement(lambda d: d["schedule"][0].__setitem__("party", "northside-food-bank")),
            [(f"{RIVERSIDE_DSA}: $.schedule[0].party", "'northside-food-bank' is not a party")],
            id="schedule entry for an organization that is not a party",
        ),
        pytest.param(
            _agreement(lambda d: d.__setitem__("expires", "2025-12-31")),
            [(f"{RIVERSIDE_DSA}: $.expires", "expires before it becomes effective")],
            id="expires before effective",
        ),
        pytest.param(
            _agreement(lambda d: d["purposes"].append("marketing")),
            [(f"{RIVERSIDE_DSA}: $.purposes", "unknown term 'marketing'")],
            id="unknown purpose",
        ),
        pytest.param(
            _agreement(lambda d: d["recipient_roles"].append("janitor")),
            [(f"{RIVERSIDE_DSA}: $.recipient_roles", "unknown term 'janitor'")],
            id="unknown recipient role",
        ),
        pytest.param(
            _agreement(lambda d: d.__setitem__("status", "pending")),
            [(f"{RIVERSIDE_DSA}: $.status", "'pending' is not one of")],
            id="unknown status (meta-schema)",
        ),
        pytest.param(
            _agreement(lambda d: d.__setitem__("effective", "2026-02-30")),
            [(f"{RIVERSIDE_DSA}: $.effective", "is not a 'date'")],
            id="impossible effective date (meta-schema format)",
        ),
        pytest.param(
            _agreement(lambda d: d.__setitem__("effective", dt.date(2026, 1, 1))),
            [(f"{RIVERSIDE_DSA}: $.effective", "is not of type 'string'")],
            id="unquoted YAML date is refused with its path",
        ),
        pytest.param(
            _yaml(
                "consent_policies/samples/organizations.yaml",
                lambda d: d["organizations"][0].__setitem__("kind", "charter"),
            ),
            [
                (
                    "consent_policies/samples/organizations.yaml: $.organizations[0].kind",
                    "'charter' is not one of",
                )
            ],
            id="organization of an unknown kind",
        ),
        pytest.param(
            _yaml(
                "consent_policies/samples/organizations.yaml",
                lambda d: d["organizations"][1].update(default_purpose="curiosity", default_role="janitor"),
            ),
            [
                (
                    "consent_policies/samples/organizations.yaml: $.organizations[1].default_purpose",
                    "'curiosity' is not in consent_policies/vocabulary.yaml",
                ),
                (
                    "consent_policies/samples/organizations.yaml: $.organizations[1].default_role",
                    "'janitor' is not in consent_policies/vocabulary.yaml",
                ),
            ],
            id="organization defaults for its tokens outside the vocabulary",
        ),
    ],
)
def test_bad_policy_world_is_refused(
    root: pathlib.Path, vocabulary: Vocabulary, breaking: Break, expected: list[tuple[str, str]]
) -> None:
    breaking(root)
    with pytest.raises(ArtifactInvalid) as caught:
        load_world(samples(root), vocabulary, root)
    found = issues_of(caught.value)
    assert [any(p == path and says in m for p, m in found) for path, says in expected] == [True] * len(
        expected
    ), found
    assert str(root) not in str(caught.value)


def test_every_problem_of_a_bad_agreement_is_listed(root: pathlib.Path, vocabulary: Vocabulary) -> None:
    def spoil(doc: Any) -> None:
        doc["parties"].append("mercy-hospital")
        doc["schedule"][0]["sends"].append("genomics")
        doc["expires"] = "2025-06-30"
        doc["purposes"].append("marketing")

    edit_yaml(root, RIVERSIDE_DSA, spoil)
    edit_yaml(
        root,
        "consent_policies/samples/agreements/gbisd-northside-2026.yaml",
        lambda d: d["recipient_roles"].append("janitor"),
    )
    with pytest.raises(ArtifactInvalid) as caught:
        load_world(samples(root), vocabulary, root)
    assert sorted(i.path for i in caught.value.issues) == sorted(
        [
            f"{RIVERSIDE_DSA}: $.parties[2]",
            f"{RIVERSIDE_DSA}: $.schedule[0].sends",
            f"{RIVERSIDE_DSA}: $.expires",
            f"{RIVERSIDE_DSA}: $.purposes",
            "consent_policies/samples/agreements/gbisd-northside-2026.yaml: $.recipient_roles",
        ]
    )
    assert "consent_policies/samples is invalid" in caught.value.message


# --- agreement documents to policy values ------------------------------------------------------


def test_agreement_from_doc() -> None:
    doc = yaml.safe_load(
        (PROJECT_ROOT / "consent_policies/samples/agreements/gbisd-riverside-2024-expired.yaml").read_text(
            "utf-8"
        )
    )
    assert agreement_from_doc(doc) == Agreement(
        id="gbisd-riverside-2024",
        version=2,
        parties=frozenset({"grand-bend-isd", "riverside-health"}),
        status="active",
        effective=dt.date(2024, 1, 1),
        expires=dt.date(2025, 6, 30),
        schedule=(
            ScheduleEntry(
                party="riverside-health",
                sends=frozenset({"identity", "sdoh-screening", "health-condition", "substance-use"}),
                receives=frozenset(),
            ),
            ScheduleEntry(
                party="grand-bend-isd",
                sends=frozenset(),
                receives=frozenset({"identity", "sdoh-screening", "health-condition", "substance-use"}),
            ),
        ),
        purposes=frozenset({"care-coordination"}),
        recipient_roles=frozenset({"coordinator"}),
        retention_days=None,
    )


def test_agreement_from_doc_keeps_open_end_and_retention() -> None:
    doc = yaml.safe_load((PROJECT_ROOT / RIVERSIDE_DSA).read_text("utf-8"))
    doc.pop("expires")
    agreement = agreement_from_doc(doc)
    assert agreement.expires is None
    assert agreement.retention_days == 1095
    assert agreement.in_force(dt.date(2099, 1, 1))
    assert not agreement.in_force(dt.date(2025, 12, 31))


def test_every_world_agreement_round_trips(vocabulary: Vocabulary) -> None:
    world = load_world(samples(PROJECT_ROOT), vocabulary, PROJECT_ROOT)
    for doc in world.agreements:
        agreement = agreement_from_doc(doc)
        assert (agreement.id, agreement.version, agreement.status) == (
            doc["id"],
            doc["version"],
            doc["status"],
        )
        assert agreement.parties == frozenset(doc["parties"])
        assert agreement.effective.isoformat() == doc["effective"]
        assert agreement.expires is not None
        assert agreement.expires.isoformat() == doc["expires"]
        assert [(e.party, sorted(e.sends), sorted(e.receives)) for e in agreement.schedule] == [
            (e["party"], sorted(e.get("sends", [])), sorted(e.get("receives", []))) for e in doc["schedule"]
        ]
        assert agreement.purposes == frozenset(doc["purposes"])
        assert agreement.recipient_roles == frozenset(doc["recipient_roles"])
