"""The mapping engine: ``build_mapping`` refuses bad mappings with every problem at once, and
``apply_mapping`` turns one record into plan elements with a trace of what it read."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from gateway.core.mapping import MappingContext, MappingResult, apply_mapping
from gateway.core.mapping_model import SLOTS, Mapping, build_mapping
from gateway.errors import ArtifactInvalid, MappingFailed

ORIGIN = "mappings/test/things.yaml"
CODES = frozenset({"grade-level"})
SID_SYSTEM = "https://grandbend.example.org/ns/studentUniqueId"
DIGEST = "sha256:" + "ab" * 32

Doc = dict[str, Any]


def mapping_doc(rules: list[Doc] | None = None, **top: Any) -> Doc:
    """A small valid mapping document; ``top`` replaces top-level keys."""
    doc: Doc = {
        "id": "test.things",
        "version": 3,
        "format": "test-json",
        "entity": "things",
        "source_system": "Test SIS",
        "labels": {"regime": "FERPA", "sensitivity": "normal", "category": "enrollment"},
        "key": ["$.id"],
        "subject": {"identifiers": [{"system": "urn:sid", "from": "$.sid"}]},
        "rules": rules
        if rules is not None
        else [{"id": "fact", "target": "domains.academic.facts", "fields": {"summary": {"from": "$.note"}}}],
    }
    doc.update(top)
    return doc


def rule(fields: Doc, **extra: Any) -> Doc:
    return {"id": "fact", "target": "domains.academic.facts", "fields": fields, **extra}


def build(doc: Doc) -> Mapping:
    return build_mapping(doc, ORIGIN, CODES)


def context(**overrides: Any) -> MappingContext:
    values: dict[str, Any] = {
        "source_org": "grand-bend-isd",
        "message_id": "msg-1",
        "received_at": "2026-11-23T12:00:00+00:00",
        "record_digest": DIGEST,
        "identifier_systems": {"student-id": SID_SYSTEM},
        "codes": {"grade-level": {"G9": "09", "G10": "10"}},
    }
    values.update(overrides)
    return MappingContext(**values)


def run(doc: Doc, record: Doc, **ctx: Any) -> MappingResult:
    return apply_mapping(build(doc), record, context(**ctx))


def failure(doc: Doc, record: Doc, **ctx: Any) -> MappingFailed:
    with pytest.raises(MappingFailed) as caught:
        run(doc, record, **ctx)
    return caught.value


def trace(result: MappingResult, rule_id: str) -> Any:
    return next(t for t in result.rules if t.rule_id == rule_id)


# --- build_mapping: one problem per row -------------------------------------------------

Edit = Callable[[Doc], None]


def _set(path: tuple[str | int, ...], value: Any) -> Edit:
    def edit(doc: Doc) -> None:
        node: Any = doc
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = value

    return edit


def _field(name: str, spec: Any) -> Edit:
    return _set(("rules", 0, "fields", name), spec)


@pytest.mark.parametrize(
    ("edit", "where", "fragment"),
    [
        # path syntax, wherever a path is written
        pytest.param(_set(("key",), ["$.id", "$..x"]), "$.key[1]", "offset 1", id="bad key path"),
        pytest.param(
            _field("summary", {"from": "$.a[x]"}),
            "$.rules[0].fields.summary.from",
            "offset 3",
            id="bad field path",
        ),
        pytest.param(
            _field("code", {"system": {"from": "$.a b"}}),
            "$.rules[0].fields.code.system.from",
            "offset 3",
            id="bad nested field path",
        ),
        pytest.param(
            _set(("rules", 0, "for_each"), "items[*]"),
            "$.rules[0].for_each",
            "must start with",
            id="bad for_each",
        ),
        pytest.param(
            _set(("rules", 0, "when"), [{"path": "$.", "exists": True}]),
            "$.rules[0].when[0].path",
            "offset 1",
            id="bad when path",
        ),
        pytest.param(
            _set(("subject", "identifiers"), [{"system": "urn:x", "from": "$.a[?]"}]),
            "$.subject.identifiers[0].from",
            "offset 3",
            id="bad subject path",
        ),
        pytest.param(
            _set(
                ("subject", "identifiers"), [{"system_from": "@..s", "from": "@.v", "for_each": "$.ids[*]"}]
            ),
            "$.subject.identifiers[0].system_from",
            "offset 1",
            id="bad subject system_from path",
        ),
        # transforms
        pytest.param(
            _field("summary", {"from": "$.note", "transform": "titlecase"}),
            "$.rules[0].fields.summary.transform",
            "unknown transform 'titlecase'; known: boolean, date, datetime",
            id="unknown field transform lists the known ones",
        ),
        pytest.param(
            _set(("subject", "identifiers"), [{"system": "urn:x", "from": "$.sid", "transform": "md5"}]),
            "$.subject.identifiers[0].transform",
            "unknown transform 'md5'",
            id="unknown subject transform",
        ),
        # target slots and lookups
        pytest.param(
            _set(("rules", 0, "target"), "student.grade"),
            "$.rules[0].target",
            "'student.grade' is not a plan slot; slots: ",
            id="unknown target slot",
        ),
        pytest.param(
            _field("summary", {"from": "$.note", "lookup": "nope"}),
            "$.rules[0].fields.summary.lookup",
            "no crosswalk table 'nope'",
            id="unknown lookup table",
        ),
        # rule ids and reserved names
        pytest.param(
            _set(("rules",), [rule({"summary": "a"}), rule({"summary": "b"}, target="needs")]),
            "$.rules",
            "rule id 'fact' is used more than once",
            id="duplicate rule id",
        ),
        pytest.param(
            _field("id", {"from": "$.id"}), "$.rules[0].fields.id", "reserved", id="reserved field id"
        ),
        pytest.param(
            _field("provenance", "x"),
            "$.rules[0].fields.provenance",
            "reserved",
            id="reserved field provenance",
        ),
        pytest.param(
            _field("labels", {"const": {}}),
            "$.rules[0].fields.labels",
            "reserved",
            id="reserved field labels",
        ),
        # labels
        pytest.param(
            _set(("labels", "regime"), "GDPR"),
            "$.labels.regime",
            "must be one of not-covered, FERPA",
            id="bad regime",
        ),
        pytest.param(
            _set(("labels", "sensitivity"), "secret"),
            "$.labels.sensitivity",
            "must be one of normal, restricted, very-restricted",
            id="bad sensitivity",
        ),
        pytest.param(
            _set(("rules", 0, "labels"), {"regime": "HIPAA", "sensitivity": "top", "category": "x"}),
            "$.rules[0].labels.sensitivity",
            "must be one of",
            id="bad sensitivity in a rule's labels",
        ),
    ],
)
def test_build_mapping_reports_the_problem_with_file_and_path(edit: Edit, where: str, fragment: str) -> None:
    doc = mapping_doc()
    edit(doc)
    with pytest.raises(ArtifactInvalid) as caught:
        build(doc)
    assert [(i.path, fragment in i.message) for i in caught.value.issues] == [(f"{ORIGIN}: {where}", True)]
    assert ORIGIN in caught.value.message


def test_unknown_slot_message_lists_every_slot() -> None:
    doc = mapping_doc([rule({"summary": "a"}, target="student.grade")])
    with pytest.raises(ArtifactInvalid) as caught:
        build(doc)
    (issue,) = caught.value.issues
    listed = issue.message.split("slots: ", 1)[1].split(", ")
    assert sorted(listed) == sorted(SLOTS)
    assert "student.gradeLevel" in listed


def test_build_mapping_reports_every_problem_at_once() -> None:
    doc = mapping_doc(
        [
            rule({"summary": {"from": "$.a..b"}}),
            rule({"id": "x", "v": {"from": "$.v", "transform": "nope"}}, target="nowhere"),
            rule(
                {"v": {"from": "$.v", "lookup": "missing-table"}},
                id="other",
                labels={"regime": "X", "sensitivity": "normal", "category": "c"},
            ),
        ],
        key=["id"],
    )
    with pytest.raises(ArtifactInvalid) as caught:
        build(doc)
    assert sorted(i.path.removeprefix(f"{ORIGIN}: ") for i in caught.value.issues) == sorted(
        [
            "$.key[0]",
            "$.rules",
            "$.rules[0].fields.summary.from",
            "$.rules[1].fields.id",
            "$.rules[1].target",
            "$.rules[1].fields.v.transform",
            "$.rules[2].fields.v.lookup",
            "$.rules[2].labels.regime",
        ]
    )


def test_valid_mapping_builds_frozen_values() -> None:
    mapping = build(
        mapping_doc(
            subject={
                "create": True,
                "link": True,
                "identifiers": [{"system_of": "student-id", "from": "$.sid"}],
            }
        )
    )
    assert (mapping.id, mapping.version, mapping.format, mapping.entity, mapping.origin) == (
        "test.things",
        3,
        "test-json",
        "things",
        ORIGIN,
    )
    assert (mapping.subject_creates, mapping.subject_links) == (True, True)
    assert [p.text for p in mapping.key] == ["$.id"]
    assert mapping.subject[0].system_of == "student-id"


# --- record key -------------------------------------------------------------------------


def test_source_id_joins_every_key_path() -> None:
    doc = mapping_doc(key=["$.sid", "$.school.id", "$.entryDate"])
    record = {"sid": "604822", "school": {"id": 255901001}, "entryDate": "2024-08-20", "note": "n"}
    assert run(doc, record).source_id == "604822|255901001|2024-08-20"


def test_missing_key_field_fails_naming_the_key_path() -> None:
    doc = mapping_doc(key=["$.sid", "$.school.id"])
    error = failure(doc, {"sid": "604822", "note": "n"})
    assert [(i.path, i.message) for i in error.issues] == [("$.school.id", "record key field is missing")]


# --- subject ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("identifiers", "record", "expected"),
    [
        pytest.param(
            [{"system": "urn:sid", "from": "$.sid"}],
            {"sid": "604822"},
            (("urn:sid", "604822"),),
            id="fixed system",
        ),
        pytest.param(
            [{"system_of": "student-id", "from": "$.sid"}],
            {"sid": "604822"},
            ((SID_SYSTEM, "604822"),),
            id="system_of: the partner's declared system",
        ),
        pytest.param(
            [{"system": "urn:sid", "from": "$.sid", "transform": "string"}],
            {"sid": 604822},
            (("urn:sid", "604822"),),
            id="value transformed",
        ),
        pytest.param(
            [{"system": "urn:pat", "from": "$.subject.reference", "transform": "reference_id"}],
            {"subject": {"reference": "Patient/pat-53234"}},
            (("urn:pat", "pat-53234"),),
            id="reference transformed to its id",
        ),
        pytest.param(
            [{"for_each": "$.identifier[*]", "system_from": "@.system", "from": "@.value"}],
            {
                "identifier": [
                    {"system": "urn:a", "value": "1"},
                    {"value": "2"},
                    {"system": "urn:b", "value": "3"},
                ]
            },
            (("urn:a", "1"), ("urn:b", "3")),
            id="system_from per item; items without a system are left out",
        ),
        pytest.param(
            [{"system": "urn:sid", "from": "$.sid"}, {"system_of": "student-id", "from": "$.sid"}],
            {"sid": "7"},
            (("urn:sid", "7"), (SID_SYSTEM, "7")),
            id="several specs, in order",
        ),
        pytest.param(
            [{"system": "urn:sid", "from": "$.sid"}, {"system": "urn:sid", "from": "$.alt"}],
            {"sid": "7", "alt": "7"},
            (("urn:sid", "7"),),
            id="duplicates collapse to one",
        ),
    ],
)
def test_subject_identifiers(
    identifiers: list[Doc], record: Doc, expected: tuple[tuple[str, str], ...]
) -> None:
    doc = mapping_doc(subject={"identifiers": identifiers}, key=["$"])
    assert run(doc, {**record, "note": "n"}).subject == expected


def test_system_of_unknown_to_the_partner_names_system_and_partner() -> None:
    doc = mapping_doc(subject={"identifiers": [{"system_of": "fhir-patient", "from": "$.sid"}]})
    error = failure(doc, {"id": "1", "sid": "604822", "note": "n"})
    messages = [i.message for i in error.issues]
    assert any("'fhir-patient'" in m and "grand-bend-isd" in m for m in messages)
    assert "604822" not in str(error)


def test_record_without_any_student_identifier_fails() -> None:
    doc = mapping_doc(subject={"identifiers": [{"system": "urn:sid", "from": "$.sid"}]})
    error = failure(doc, {"id": "1", "note": "n"})
    assert [(i.path, i.message) for i in error.issues] == [
        ("$.sid", "no student identifier found in the record")
    ]


@pytest.mark.parametrize(
    ("subject", "may_create", "identifier_elements"),
    [
        pytest.param({}, False, [], id="neither: no create, no identifier elements"),
        pytest.param({"create": True}, True, [], id="create only"),
        pytest.param(
            {"link": True}, False, [("urn:sid", "604822")], id="link only: identifiers become elements"
        ),
        pytest.param({"create": True, "link": True}, True, [("urn:sid", "604822")], id="create and link"),
    ],
)
def test_create_and_link_flags(
    subject: Doc, may_create: bool, identifier_elements: list[tuple[str, str]]
) -> None:
    doc = mapping_doc(subject={**subject, "identifiers": [{"system": "urn:sid", "from": "$.sid"}]})
    result = run(doc, {"id": "1", "sid": "604822", "note": "n"})
    assert result.may_create_subject is may_create
    found = [
        (e.element["system"], e.element["value"]) for e in result.elements if e.slot == "student.identifiers"
    ]
    assert found == identifier_elements


def test_identifier_element_id_depends_on_sender_system_and_value_only() -> None:
    doc = mapping_doc(subject={"link": True, "identifiers": [{"system": "urn:sid", "from": "$.sid"}]})
    record = {"id": "1", "sid": "604822", "note": "n"}

    def identifier_id(**ctx: Any) -> str:
        (element,) = [e.element for e in run(doc, record, **ctx).elements if e.slot == "student.identifiers"]
        return str(element["id"])

    assert identifier_id() == identifier_id(message_id="msg-2")
    assert identifier_id() != identifier_id(source_org="riverside-health")
    assert identifier_id() != run(doc, {**record, "sid": "604823"}).elements[-1].element["id"]


# --- when -------------------------------------------------------------------------------

RECORD_FOR_WHEN: Doc = {
    "id": "1",
    "sid": "7",
    "grade": "G9",
    "score": "92.5",
    "flag": True,
    "note": "n",
    "exitDate": "2025-06-01",
    "status": "active",
    "rank": 3,
    "codes": [{"code": "a"}, {"code": "88124-3"}],
}


@pytest.mark.parametrize(
    ("when", "fired"),
    [
        # exists
        pytest.param([{"path": "$.exitDate"}], 1, id="exists (default true): present"),
        pytest.param([{"path": "$.exitDate", "exists": True}], 1, id="exists true: present"),
        pytest.param([{"path": "$.missing", "exists": True}], 0, id="exists true: absent"),
        pytest.param([{"path": "$.missing", "exists": False}], 1, id="exists false: absent"),
        pytest.param([{"path": "$.exitDate", "exists": False}], 0, id="exists false: present"),
        # equals
        pytest.param([{"path": "$.status", "equals": "active"}], 1, id="equals: same text"),
        pytest.param([{"path": "$.status", "equals": "Active"}], 0, id="equals: case matters"),
        pytest.param([{"path": "$.rank", "equals": 3}], 1, id="equals: number"),
        pytest.param([{"path": "$.missing", "equals": "x"}], 0, id="equals: absent never equals"),
        # in
        pytest.param([{"path": "$.status", "in": ["inactive", "active"]}], 1, id="in: one of the values"),
        pytest.param([{"path": "$.status", "in": ["inactive"]}], 0, id="in: none of the values"),
        pytest.param([{"path": "$.codes[*].code", "in": ["88124-3"]}], 1, id="in: any match of a star path"),
        pytest.param([{"path": "$.rank", "in": [1, 2, 3]}], 1, id="in: numbers"),
        # not_in
        pytest.param([{"path": "$.status", "not_in": ["inactive"]}], 1, id="not_in: none of the values"),
        pytest.param([{"path": "$.status", "not_in": ["active"]}], 0, id="not_in: one of the values"),
        pytest.param([{"path": "$.missing", "not_in": ["x"]}], 1, id="not_in: absent is in nothing"),
        # lookup: values through a crosswalk first
        pytest.param([{"path": "$.grade", "lookup": "grade-level", "in": ["09"]}], 1, id="lookup in: mapped"),
        pytest.param(
            [{"path": "$.grade", "lookup": "grade-level", "in": ["G9"]}], 0, id="lookup in: not raw"
        ),
        pytest.param([{"path": "$.grade", "lookup": "grade-level", "not_in": ["10"]}], 1, id="lookup not_in"),
        pytest.param([{"path": "$.grade", "lookup": "grade-level", "equals": "09"}], 1, id="lookup equals"),
        # numeric comparisons
        pytest.param([{"path": "$.rank", "gte": 3}], 1, id="gte: equal"),
        pytest.param([{"path": "$.rank", "gte": 3.5}], 0, id="gte: below"),
        pytest.param([{"path": "$.rank", "gt": 3}], 0, id="gt: equal"),
        pytest.param([{"path": "$.rank", "gt": 2.99}], 1, id="gt: above"),
        pytest.param([{"path": "$.rank", "lt": 3}], 0, id="lt: equal"),
        pytest.param([{"path": "$.rank", "lt": 3.01}], 1, id="lt: below"),
        pytest.param([{"path": "$.rank", "lte": 3}], 1, id="lte: equal"),
        pytest.param([{"path": "$.score", "gte": 90}], 1, id="gte: numeric text"),
        pytest.param([{"path": "$.status", "gte": 0}], 0, id="gte: text is no number"),
        pytest.param([{"path": "$.flag", "gte": 0}], 0, id="gte: a boolean is no number"),
        pytest.param([{"path": "$.missing", "lt": 100}], 0, id="lt: absent never compares"),
        # or: alternatives
        pytest.param(
            [{"path": "$.rank", "gte": 90, "or": [{"path": "$.status", "equals": "active"}]}],
            1,
            id="or: the alternative",
        ),
        pytest.param(
            [{"path": "$.rank", "lt": 5, "or": [{"path": "$.missing"}]}], 1, id="or: the condition itself"
        ),
        pytest.param(
            [{"path": "$.rank", "gte": 90, "or": [{"path": "$.status", "in": ["x"]}, {"path": "$.missing"}]}],
            0,
            id="or: none holds",
        ),
        # all conditions must hold
        pytest.param(
            [{"path": "$.status", "equals": "active"}, {"path": "$.exitDate", "exists": False}],
            0,
            id="all conditions: one fails",
        ),
        pytest.param(
            [{"path": "$.status", "equals": "active"}, {"path": "$.rank", "in": [3]}],
            1,
            id="all conditions: all hold",
        ),
    ],
)
def test_when(when: list[Doc], fired: int) -> None:
    doc = mapping_doc([rule({"summary": {"from": "$.note"}}, when=when)])
    result = run(doc, RECORD_FOR_WHEN)
    assert trace(result, "fact").fired == fired
    assert len(result.elements) == fired


# --- for_each ---------------------------------------------------------------------------

RECORD_WITH_ITEMS: Doc = {
    "id": "p1",
    "sid": "7",
    "communication": [
        {"language": {"code": "es"}, "preferred": True},
        {"language": {"code": "en"}},
        {"language": {"code": "fr"}, "preferred": True},
    ],
}


def test_for_each_makes_one_element_per_item_with_distinct_ids() -> None:
    doc = mapping_doc(
        [
            {
                "id": "language",
                "target": "student.languages",
                "for_each": "$.communication[*]",
                "fields": {"code": {"from": "@.language.code"}},
            }
        ]
    )
    result = run(doc, RECORD_WITH_ITEMS)
    assert [(e.slot, e.element["code"]) for e in result.elements] == [
        ("student.languages", "es"),
        ("student.languages", "en"),
        ("student.languages", "fr"),
    ]
    assert len({e.element["id"] for e in result.elements}) == 3
    assert trace(result, "language").fired == 3
    assert trace(result, "language").filled == (
        ("language.code", "$.communication[0].language.code"),
        ("language.code", "$.communication[1].language.code"),
        ("language.code", "$.communication[2].language.code"),
    )


def test_for_each_with_a_relative_condition_filters_items() -> None:
    doc = mapping_doc(
        [
            {
                "id": "language",
                "target": "student.languages",
                "for_each": "$.communication[*]",
                "when": [{"path": "@.preferred", "equals": True}],
                "fields": {"code": {"from": "@.language.code"}},
            }
        ]
    )
    result = run(doc, RECORD_WITH_ITEMS)
    assert [e.element["code"] for e in result.elements] == ["es", "fr"]


def test_for_each_over_nothing_fires_zero_times() -> None:
    doc = mapping_doc(
        [
            {
                "id": "language",
                "target": "student.languages",
                "for_each": "$.communication[*]",
                "fields": {"code": {"from": "@.code"}},
            }
        ]
    )
    result = run(doc, {"id": "p1", "sid": "7"})
    assert result.elements == ()
    assert trace(result, "language").fired == 0


def test_relative_path_outside_for_each_reads_nothing() -> None:
    doc = mapping_doc([rule({"summary": {"from": "@.note"}, "status": "x"})])
    (element,) = run(doc, {"id": "1", "sid": "7", "note": "n"}).elements
    assert "summary" not in element.element


# --- fields -----------------------------------------------------------------------------

FIELD_RECORD: Doc = {
    "id": "1",
    "sid": "7",
    "note": "Reads above grade level",
    "code": "88124-3",
    "tags": ["a", "b", "c"],
    "grade": "G9",
    "count": "12",
    "empty": None,
}


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        # constants
        pytest.param({"status": "active"}, {"status": "active"}, id="plain scalar is a constant"),
        pytest.param({"status": {"const": "active"}}, {"status": "active"}, id="const"),
        pytest.param({"flag": False}, {"flag": False}, id="false constant kept"),
        # from
        pytest.param(
            {"summary": {"from": "$.note"}},
            {"summary": "Reads above grade level"},
            id="from copies the value",
        ),
        pytest.param({"n": {"from": "$.count", "transform": "integer"}}, {"n": 12}, id="from with transform"),
        pytest.param({"summary": {"from": "$.absent"}}, {}, id="optional missing field left out"),
        pytest.param({"summary": {"from": "$.empty"}}, {}, id="None value counts as missing"),
        # else_from: the first path that finds something
        pytest.param(
            {"v": {"from": "$.absent", "else_from": ["$.empty", "$.count"]}},
            {"v": "12"},
            id="else_from: fallback",
        ),
        pytest.param(
            {"v": {"from": "$.note", "else_from": ["$.count"]}},
            {"v": "Reads above grade level"},
            id="else_from: from first",
        ),
        pytest.param(
            {"v": {"from": "$.absent", "else_from": ["$.empty"]}}, {}, id="else_from: nothing anywhere"
        ),
        # nested
        pytest.param(
            {"code": {"system": {"const": "http://loinc.org"}, "code": {"from": "$.code"}}},
            {"code": {"system": "http://loinc.org", "code": "88124-3"}},
            id="nested const and from",
        ),
        pytest.param(
            {"code": {"a": {"b": {"from": "$.code"}}}},
            {"code": {"a": {"b": "88124-3"}}},
            id="two levels deep",
        ),
        pytest.param(
            {"code": {"system": {"from": "$.absent"}}}, {}, id="nested object with nothing in it left out"
        ),
        # many
        pytest.param(
            {"tags": {"from": "$.tags[*]", "many": True}}, {"tags": ["a", "b", "c"]}, id="many: every match"
        ),
        pytest.param({"tags": {"from": "$.tags[*]"}}, {"tags": "a"}, id="not many: the first match"),
        pytest.param(
            {"tags": {"from": "$.tags[*]", "many": True, "transform": "upper"}},
            {"tags": ["A", "B", "C"]},
            id="many with transform",
        ),
        pytest.param(
            {"tags": {"from": "$.tags[0]", "many": True}}, {"tags": ["a"]}, id="many with one match is a list"
        ),
        # lookup
        pytest.param(
            {"grade": {"from": "$.grade", "lookup": "grade-level"}}, {"grade": "09"}, id="lookup hit"
        ),
    ],
)
def test_fields(fields: Doc, expected: Doc) -> None:
    (element,) = run(mapping_doc([rule(fields)]), FIELD_RECORD).elements
    body = {k: v for k, v in element.element.items() if k not in {"id", "provenance", "labels"}}
    assert body == expected


def test_required_field_missing_fails_with_the_source_path() -> None:
    doc = mapping_doc(
        [
            rule(
                {
                    "summary": {"from": "$.note", "required": True},
                    "when": {"from": "$.date", "required": True},
                }
            )
        ]
    )
    error = failure(doc, {"id": "1", "sid": "7", "note": "n"})
    assert [(i.path, i.message) for i in error.issues] == [("$.date", "required for fact.when but missing")]


def test_required_nested_field_missing_names_the_nested_element_path() -> None:
    doc = mapping_doc([rule({"code": {"system": {"from": "$.system", "required": True}}})])
    error = failure(doc, {"id": "1", "sid": "7"})
    assert [(i.path, i.message) for i in error.issues] == [
        ("$.system", "required for fact.code.system but missing")
    ]


def test_required_missing_in_several_items_names_each_item() -> None:
    doc = mapping_doc(
        [
            {
                "id": "language",
                "target": "student.languages",
                "for_each": "$.communication[*]",
                "fields": {"code": {"from": "@.code", "required": True}},
            }
        ]
    )
    error = failure(doc, {"id": "1", "sid": "7", "communication": [{"x": 1}, {"code": "en"}, {"x": 2}]})
    assert len(error.issues) == 2
    assert [
        i.path.startswith(f"$.communication[{n}]") for i, n in zip(error.issues, (0, 2), strict=True)
    ] == [True, True]


def test_if_missing_skip_drops_the_element_silently() -> None:
    doc = mapping_doc(
        [
            rule({"summary": {"from": "$.note", "required": True, "if_missing": "skip"}}),
            rule({"status": "kept"}, id="other", target="needs"),
        ]
    )
    result = run(doc, {"id": "1", "sid": "7"})
    assert trace(result, "fact").fired == 0
    assert trace(result, "other").fired == 1
    assert [e.slot for e in result.elements] == ["needs"]


def test_if_missing_skip_only_skips_the_items_that_miss() -> None:
    doc = mapping_doc(
        [
            {
                "id": "language",
                "target": "student.languages",
                "for_each": "$.communication[*]",
                "fields": {"code": {"from": "@.code", "required": True, "if_missing": "skip"}},
            }
        ]
    )
    result = run(doc, {"id": "1", "sid": "7", "communication": [{"x": 1}, {"code": "en"}]})
    assert [e.element["code"] for e in result.elements] == ["en"]
    assert trace(result, "language").fired == 1


def test_if_missing_skip_without_required_still_drops_the_element() -> None:
    doc = mapping_doc([rule({"summary": {"from": "$.note", "if_missing": "skip"}, "status": "x"})])
    assert run(doc, {"id": "1", "sid": "7"}).elements == ()


def test_if_missing_skip_in_a_nested_field_drops_the_whole_element() -> None:
    doc = mapping_doc(
        [rule({"code": {"code": {"from": "$.code", "required": True, "if_missing": "skip"}}, "status": "x"})]
    )
    assert run(doc, {"id": "1", "sid": "7"}).elements == ()


# --- lookups and transforms never leak the value -----------------------------------------


def test_lookup_miss_names_the_table_and_not_the_value() -> None:
    doc = mapping_doc([rule({"grade": {"from": "$.grade", "lookup": "grade-level"}})])
    secret = "uri://district.example.org/GradeLevel#Grade-Nine-Private"
    error = failure(doc, {"id": "1", "sid": "7", "grade": secret})
    assert [i.path for i in error.issues] == ["$.grade"]
    (issue,) = error.issues
    assert "'grade-level'" in issue.message
    assert "mappings/codes/grade-level.yaml" in issue.message
    rendered = f"{error} {error.to_dict()}"
    assert secret not in rendered
    assert "Grade-Nine-Private" not in rendered


def test_lookup_of_an_unloaded_table_is_a_miss_not_a_crash() -> None:
    doc = mapping_doc([rule({"grade": {"from": "$.grade", "lookup": "grade-level"}})])
    error = failure(doc, {"id": "1", "sid": "7", "grade": "G9"}, codes={})
    assert "'grade-level'" in error.issues[0].message


def test_transform_failure_names_location_and_transform_not_the_value() -> None:
    doc = mapping_doc([rule({"birth": {"from": "$.person.birthDate", "transform": "date"}})])
    error = failure(doc, {"id": "1", "sid": "7", "person": {"birthDate": "14/03/2009"}})
    assert [(i.path, i.message.split(":")[0]) for i in error.issues] == [("$.person.birthDate", "date")]
    assert "14/03/2009" not in str(error)


def test_every_problem_of_a_record_is_reported_at_once() -> None:
    doc = mapping_doc(
        [
            rule({"a": {"from": "$.a", "required": True}}),
            rule({"g": {"from": "$.grade", "lookup": "grade-level"}}, id="g", target="needs"),
            rule({"d": {"from": "$.d", "transform": "date"}}, id="d", target="goals"),
        ],
        key=["$.id"],
    )
    error = failure(doc, {"sid": "7", "grade": "G99", "d": "soon"})
    assert sorted(i.path for i in error.issues) == ["$.a", "$.d", "$.grade", "$.id"]


# --- trace ------------------------------------------------------------------------------


def test_trace_counts_fires_and_pairs_element_paths_with_source_locations() -> None:
    doc = mapping_doc(
        [
            rule(
                {
                    "code": {"system": {"const": "urn:c"}, "code": {"from": "$.code"}},
                    "summary": {"from": "$.note"},
                }
            ),
            rule({"status": "active"}, id="never", target="needs", when=[{"path": "$.absent"}]),
        ]
    )
    result = run(doc, FIELD_RECORD)
    assert [(t.rule_id, t.fired) for t in result.rules] == [("fact", 1), ("never", 0)]
    assert trace(result, "fact").filled == (("fact.code.code", "$.code"), ("fact.summary", "$.note"))
    assert trace(result, "never").filled == ()


@pytest.mark.parametrize(
    ("rules", "record", "unused"),
    [
        pytest.param(
            [rule({"summary": {"from": "$.note"}})],
            {"id": "1", "sid": "7", "note": "n", "extra": "e", "more": {"deep": 1, "list": [1, None, 2]}},
            ["$.extra", "$.more.deep", "$.more.list[0]", "$.more.list[2]"],
            id="leaves no rule, key or subject read",
        ),
        pytest.param(
            [rule({"summary": {"from": "$.note"}})],
            {"id": "1", "sid": "7", "note": "n"},
            [],
            id="everything read",
        ),
        pytest.param(
            [rule({"whole": {"from": "$.more"}})],
            {"id": "1", "sid": "7", "more": {"deep": 1, "list": [1]}},
            [],
            id="reading an object covers its leaves",
        ),
        pytest.param(
            [rule({"status": "x"}, when=[{"path": "$.flag", "equals": "y"}])],
            {"id": "1", "sid": "7", "flag": "y", "note": "n"},
            ["$.note"],
            id="a condition reads its path",
        ),
        pytest.param(
            [rule({"t": {"from": "$.tags[1]"}})],
            {"id": "1", "sid": "7", "tags": ["a", "b", "c"]},
            ["$.tags[0]", "$.tags[2]"],
            id="an index reads only that item",
        ),
        pytest.param(
            [rule({"t": {"from": "$.tag"}}), rule({"t": {"from": "$.tagline"}}, id="r2", target="needs")],
            {"id": "1", "sid": "7", "tag": "a", "tags": ["b"]},
            ["$.tags[0]"],
            id="a field name that is a prefix of another covers only itself",
        ),
        pytest.param(
            [
                {
                    "id": "l",
                    "target": "student.languages",
                    "for_each": "$.items[*]",
                    "fields": {"code": {"from": "@.code"}},
                }
            ],
            {"id": "1", "sid": "7", "items": [{"code": "es", "note": "x"}, {"code": "en"}]},
            ["$.items[0].note"],
            id="iterating items does not read the fields of each item",
        ),
        pytest.param(
            [rule({"summary": {"from": "$.note"}})],
            {"id": "1", "sid": "7", "note": "n", "ids": [{"system": "urn:a", "value": "1", "use": "old"}]},
            ["$.ids[0].system", "$.ids[0].use", "$.ids[0].value"],
            id="fields no spec names stay unused",
        ),
    ],
)
def test_unused_lists_exactly_the_unread_leaves(rules: list[Doc], record: Doc, unused: list[str]) -> None:
    assert sorted(run(mapping_doc(rules), record).unused) == sorted(unused)


# --- ids, provenance, labels ------------------------------------------------------------


def element_ids(result: MappingResult) -> list[str]:
    return [str(e.element["id"]) for e in result.elements]


BASE_RECORD: Doc = {"id": "1", "sid": "7", "note": "n"}


@pytest.mark.parametrize(
    ("record", "ctx", "same"),
    [
        pytest.param(BASE_RECORD, {}, True, id="same input twice: same ids"),
        pytest.param(
            BASE_RECORD,
            {"message_id": "msg-2", "received_at": "2027-01-01T00:00:00+00:00"},
            True,
            id="another message: same ids",
        ),
        pytest.param({**BASE_RECORD, "note": "changed"}, {}, True, id="changed content, same key: same ids"),
        pytest.param(
            BASE_RECORD, {"record_digest": "sha256:" + "cd" * 32}, True, id="another digest: same ids"
        ),
        pytest.param(
            BASE_RECORD, {"source_org": "riverside-health"}, False, id="another source organization: new ids"
        ),
        pytest.param({**BASE_RECORD, "id": "2"}, {}, False, id="another record key: new ids"),
    ],
)
def test_element_ids_are_derived_from_content(record: Doc, ctx: Doc, same: bool) -> None:
    doc = mapping_doc()
    first = element_ids(run(doc, BASE_RECORD))
    again = element_ids(run(doc, copy.deepcopy(record), **ctx))
    assert (first == again) is same
    assert all(i.startswith("el-") and len(i) == 29 for i in first + again)


def test_element_ids_differ_between_rules_and_mappings() -> None:
    doc = mapping_doc([rule({"status": "a"}), rule({"status": "b"}, id="second")])
    ids = element_ids(run(doc, BASE_RECORD))
    other = element_ids(run(mapping_doc([rule({"status": "a"})], id="test.other"), BASE_RECORD))
    assert len(set(ids + other)) == 3


def test_provenance_says_where_the_element_came_from() -> None:
    (element,) = run(mapping_doc(key=["$.sid", "$.id"]), BASE_RECORD).elements
    assert element.element["provenance"] == {
        "sourceOrganization": "grand-bend-isd",
        "sourceSystem": "Test SIS",
        "sourceFormat": "test-json",
        "sourceRecord": {"type": "things", "id": "7|1", "digest": DIGEST},
        "mapping": "test.things@3#fact",
        "messageId": "msg-1",
        "receivedAt": "2026-11-23T12:00:00+00:00",
    }


def test_labels_come_from_the_mapping_unless_the_rule_overrides_them() -> None:
    restricted = {"regime": "HIPAA", "sensitivity": "restricted", "category": "health-condition"}
    doc = mapping_doc(
        [rule({"status": "a"}), rule({"status": "b"}, id="sensitive", target="needs", labels=restricted)]
    )
    result = run(doc, BASE_RECORD)
    assert [(e.slot, e.element["labels"]) for e in result.elements] == [
        ("domains.academic.facts", {"regime": "FERPA", "sensitivity": "normal", "category": "enrollment"}),
        ("needs", restricted),
    ]
    assert result.categories == frozenset({"enrollment", "health-condition"})


def test_apply_mapping_does_not_change_the_record() -> None:
    record = copy.deepcopy(FIELD_RECORD)
    run(mapping_doc([rule({"tags": {"from": "$.tags[*]", "many": True}})]), record)
    assert record == FIELD_RECORD


# --- condition lookups (issue 4) ----------------------------------------------------------


def test_condition_lookup_of_an_unknown_code_is_reported_with_its_location() -> None:
    when = [{"path": "$.grade", "lookup": "grade-level", "in": ["09"]}]
    doc = mapping_doc([rule({"summary": {"from": "$.note"}}, when=when)])
    caught = failure(doc, {"id": "1", "sid": "7", "note": "n", "grade": "G99"})
    assert [(i.path, "crosswalk 'grade-level'" in i.message) for i in caught.issues] == [("$.grade", True)]
    assert all("G99" not in i.message for i in caught.issues)


def test_condition_lookup_names_only_loaded_tables() -> None:
    when = [{"path": "$.grade", "lookup": "no-such-table", "in": ["09"]}]
    with pytest.raises(ArtifactInvalid) as caught:
        build(mapping_doc([rule({"summary": {"from": "$.note"}}, when=when)]))
    assert [i.path for i in caught.value.issues] == [f"{ORIGIN}: $.rules[0].when[0].lookup"]


# --- issue 5 additions: joined keys, lookup chains, alternatives, element keys, labels/targets by content


GRAVITY_CODES = {
    "risk": {"88124-3|LA19952-3": "food-insecurity"},
    "domain": {"food-insecurity": "familyBasicNeeds"},
    "part2": {"F10": "alcohol"},
}


def run_with(rules: list[Doc], record: Doc) -> MappingResult:
    mapping = build_mapping(mapping_doc(rules), ORIGIN, frozenset(GRAVITY_CODES))
    return apply_mapping(mapping, record, context(codes=GRAVITY_CODES))


GRAVITY_RECORD: Doc = {"id": "1", "sid": "7", "q": "88124-3", "a": "LA19952-3", "icd": "F10.20", "note": "n"}


@pytest.mark.parametrize(
    ("fields", "record_changes", "expected"),
    [
        # join + lookup chain
        pytest.param(
            {"summary": {"join": ["$.q", "$.a"], "lookup": ["risk", "domain"]}},
            {},
            {"summary": "familyBasicNeeds"},
            id="join: two values as one key, through a chain of crosswalks",
        ),
        pytest.param(
            {"summary": {"join": ["$.q", "$.a"], "lookup": "risk", "if_unmapped": "skip"}},
            {"a": "LA19983-8"},
            None,
            id="if_unmapped skip: a code in no crosswalk leaves the element out",
        ),
        pytest.param(
            {"summary": {"join": ["$.q", "$.missing"], "lookup": "risk"}},
            {},
            {},
            id="join: a missing part gives no value",
        ),
        # first_of
        pytest.param(
            {"summary": {"first_of": [{"from": "$.missing"}, {"from": "$.note"}]}},
            {},
            {"summary": "n"},
            id="first_of: the first alternative with a value",
        ),
        pytest.param(
            {
                "summary": {
                    "first_of": [{"from": "$.q", "lookup": "domain", "if_unmapped": "skip"}, {"const": "c"}]
                }
            },
            {},
            {"summary": "c"},
            id="first_of: an unmapped alternative is passed over",
        ),
    ],
)
def test_issue5_fields(fields: Doc, record_changes: Doc, expected: Doc | None) -> None:
    result = run_with([rule(fields)], {**GRAVITY_RECORD, **record_changes})
    bodies = [
        {k: v for k, v in e.element.items() if k not in {"id", "provenance", "labels"}}
        for e in result.elements
    ]
    assert bodies == ([] if expected is None else [expected])


@pytest.mark.parametrize(
    ("condition", "fired"),
    [
        pytest.param(
            {"path": "$.icd", "transform": "icd10_category", "in_crosswalk": "part2"}, 1, id="in_crosswalk"
        ),
        pytest.param(
            {"path": "$.icd", "in_crosswalk": "part2"}, 0, id="in_crosswalk: raw code is not the category"
        ),
        pytest.param(
            {"path": "$.icd", "transform": "icd10_category", "not_in_crosswalk": "part2"},
            0,
            id="not_in_crosswalk",
        ),
        pytest.param({"path": "$.missing", "not_in_crosswalk": "part2"}, 1, id="not_in_crosswalk: absent"),
    ],
)
def test_issue5_crosswalk_conditions(condition: Doc, fired: int) -> None:
    result = run_with([rule({"summary": {"from": "$.note"}}, when=[condition])], GRAVITY_RECORD)
    assert trace(result, "fact").fired == fired


def test_element_key_gives_records_naming_the_same_thing_one_id() -> None:
    keyed = {"element_key": ["ref", {"from": "$.ref"}]}
    first = run_with([rule({"summary": {"from": "$.note"}}, **keyed)], {**GRAVITY_RECORD, "ref": "sr-1"})
    other = run_with(
        [rule({"summary": {"from": "$.note"}}, **keyed)], {**GRAVITY_RECORD, "id": "2", "ref": "sr-1"}
    )
    third = run_with([rule({"summary": {"from": "$.note"}}, **keyed)], {**GRAVITY_RECORD, "ref": "sr-2"})
    assert (
        first.elements[0].element["id"] == other.elements[0].element["id"] != third.elements[0].element["id"]
    )


def test_element_key_part_missing_fails_the_record() -> None:
    doc = mapping_doc([rule({"summary": {"from": "$.note"}}, element_key=["ref", {"from": "$.ref"}])])
    with pytest.raises(MappingFailed):
        apply_mapping(build_mapping(doc, ORIGIN, frozenset(GRAVITY_CODES)), GRAVITY_RECORD, context())


def test_element_id_field_points_at_the_keyed_element_of_another_slot() -> None:
    need = rule(
        {"summary": {"from": "$.note"}}, id="need", target="needs", element_key=["need", {"from": "$.sid"}]
    )
    goal = rule(
        {"addresses": {"element_id": {"target": "needs", "key": ["need", {"from": "$.sid"}]}}},
        id="goal",
        target="goals",
    )
    result = run_with([need, goal], GRAVITY_RECORD)
    need_el, goal_el = (e.element for e in result.elements)
    assert goal_el["addresses"] == [need_el["id"]]


@pytest.mark.parametrize(
    ("icd", "slot", "regime"),
    [
        pytest.param("F10.20", "domains.physicalMentalHealth.facts", "42CFRPart2", id="Part 2 code"),
        pytest.param("J45.909", "domains.academic.facts", "FERPA", id="other code keeps the rule's own"),
    ],
)
def test_labels_and_targets_chosen_by_content(icd: str, slot: str, regime: str) -> None:
    part2 = [{"path": "$.icd", "transform": "icd10_category", "in_crosswalk": "part2"}]
    chosen = rule(
        {"summary": {"from": "$.note"}},
        labels_when=[
            {
                "when": part2,
                "labels": {
                    "regime": "42CFRPart2",
                    "sensitivity": "very-restricted",
                    "category": "substance-use",
                },
            }
        ],
        targets_when=[{"when": part2, "target": "domains.physicalMentalHealth.facts"}],
    )
    result = run_with([chosen], {**GRAVITY_RECORD, "icd": icd})
    assert (result.elements[0].slot, result.elements[0].element["labels"]["regime"]) == (slot, regime)


def test_merge_update_names_the_fields_an_element_updates() -> None:
    result = run_with([rule({"summary": {"from": "$.note"}}, merge={"update": ["summary"]})], GRAVITY_RECORD)
    assert result.elements[0].update_fields == ("summary",)
    plain = run_with([rule({"summary": {"from": "$.note"}})], GRAVITY_RECORD)
    assert plain.elements[0].update_fields == ()


@pytest.mark.parametrize(
    ("edit", "where"),
    [
        pytest.param(
            _set(("rules", 0, "when"), [{"path": "$.x", "in_crosswalk": "nope"}]),
            "$.rules[0].when[0].in_crosswalk",
            id="unknown crosswalk in a condition",
        ),
        pytest.param(
            _field("summary", {"join": ["$.a", "$.b"], "lookup": ["risk", "nope"]}),
            "$.rules[0].fields.summary.lookup",
            id="unknown table in a chain",
        ),
        pytest.param(
            _set(
                ("rules", 0, "targets_when"),
                [{"when": [{"path": "$.x", "exists": True}], "target": "nowhere"}],
            ),
            "$.rules[0].targets_when[0].target",
            id="targets_when names no slot",
        ),
    ],
)
def test_issue5_build_problems_name_their_place(edit: Edit, where: str) -> None:
    doc = mapping_doc()
    edit(doc)
    with pytest.raises(ArtifactInvalid) as caught:
        build_mapping(doc, ORIGIN, frozenset(GRAVITY_CODES))
    assert [i.path for i in caught.value.issues] == [f"{ORIGIN}: {where}"]
