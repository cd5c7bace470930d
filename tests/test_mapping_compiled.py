"""The compiled form of a mapping (``core.mapping_compiled``, the ingest path) gives exactly what
the interpreter (``core.mapping.interpret_mapping``, the reference) gives: the same elements with
their keys in the same order, ids, provenance, subject, rule traces, and for a bad record the same
``MappingFailed`` with the same issues in the same order.

Differential, over every shipped mapping and every record at hand: the samples behind the golden
files, the demo exchanges, generated Ed-Fi workloads, each sample mutated field by field, and a
few small mappings for the features no shipped mapping uses."""

from __future__ import annotations

import base64
import copy
import dataclasses
import hashlib
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from benchmarks import generate
from gateway.artifacts import load_artifacts
from gateway.core import ids, mapping_compiled
from gateway.core.canonical import digest
from gateway.core.mapping import MappingContext, apply_mapping, interpret_mapping
from gateway.core.mapping_model import Mapping, build_mapping
from gateway.errors import MappingFailed

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = sorted((ROOT / "tests" / "samples").glob("*/*.json"))
# Values a sender may put where the mapping expects something else.
ODD_VALUES: tuple[Any, ...] = (
    None,
    "",
    "x",
    "uri://ed-fi.org/X#",
    0,
    91.5,
    True,
    [],
    {},
    [None],
    "2025-13-45",
)


@pytest.fixture(scope="module")
def artifacts() -> Any:
    return load_artifacts(ROOT)


def context(artifacts: Any, partner: dict[str, Any], record: Any) -> MappingContext:
    return MappingContext(
        source_org=partner["id"],
        message_id="msg-differential",
        received_at="2026-11-23T12:00:00+00:00",
        record_digest=digest(record),
        identifier_systems=partner["identifier_systems"],
        codes=artifacts.codes,
        trace=False,
    )


def outcome(run: Any, mapping: Mapping, record: Any, ctx: MappingContext) -> tuple[Any, ...]:
    """What a run gives, in a form that also compares key order (``repr`` keeps it)."""
    try:
        result = run(mapping, record, ctx)
    except MappingFailed as exc:
        return ("failed", exc.message, exc.issues)
    return ("mapped", result, repr(result))


def assert_same(mapping: Mapping, record: Any, ctx: MappingContext) -> str:
    reference = outcome(interpret_mapping, mapping, copy.deepcopy(record), ctx)
    fast = outcome(lambda m, r, c: mapping_compiled.compiled(m)(r, c), mapping, record, ctx)
    assert fast == reference, f"{mapping.id} differs on a record"
    return str(reference[0])


def sample(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def shipped(artifacts: Any, path: Path) -> Mapping:
    origin = f"mappings/{path.parent.name}/{path.stem}.yaml"
    return next(m for m in artifacts.mappings.values() if m.origin == origin)


def partners() -> list[dict[str, Any]]:
    """Every sample's partner, and one declaring no identifier system (``system_of`` fails)."""
    found = {json.dumps(sample(p)["partner"], sort_keys=True) for p in SAMPLES}
    return [json.loads(p) for p in sorted(found)] + [{"id": "no-systems", "identifier_systems": {}}]


def demo_records() -> Iterator[Any]:
    for path in sorted((ROOT / "demo" / "exchanges").glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        for item in doc if isinstance(doc, list) else [doc]:
            yield item
            for entry in item.get("entry", []) if isinstance(item, dict) else []:
                yield entry.get("resource")


def generated_records() -> Iterator[Any]:
    rng = random.Random(14)
    yield from generate.students(20, rng)
    yield from generate.associations(20, rng)
    yield from generate.attendance_events(60, 20, rng)


def leaf_paths(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Where each value of a JSON-like record sits (containers too: they may be replaced whole)."""
    if path:
        yield path
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        yield from leaf_paths(item, (*path, key))


def mutated(record: Any, rng: random.Random) -> Iterator[Any]:
    """The record with one value replaced by an odd one, or removed, for every place in it."""
    for path in leaf_paths(record):
        for replacement in (rng.choice(ODD_VALUES), rng.choice(ODD_VALUES), "DELETE"):
            copied = copy.deepcopy(record)
            parent = copied
            for key in path[:-1]:
                parent = parent[key]
            if replacement == "DELETE":
                del parent[path[-1]]
            else:
                parent[path[-1]] = copy.deepcopy(replacement)
            yield copied


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_each_sample_and_its_mutations_map_alike(artifacts: Any, path: Path) -> None:
    doc = sample(path)
    mapping = shipped(artifacts, path)
    kinds = {assert_same(mapping, doc["record"], context(artifacts, doc["partner"], doc["record"]))}
    for record in mutated(doc["record"], random.Random(path.stem)):
        kinds.add(assert_same(mapping, record, context(artifacts, doc["partner"], record)))
    assert kinds == {"mapped", "failed"}, "the mutations should both fail and pass some records"


@pytest.mark.parametrize(
    "source", ["samples", "demo", "generated"], ids=["samples", "demo exchanges", "generated Ed-Fi"]
)
def test_every_record_maps_alike_under_every_mapping(artifacts: Any, source: str) -> None:
    records = {
        "samples": lambda: (sample(p)["record"] for p in SAMPLES),
        "demo": demo_records,
        "generated": generated_records,
    }[source]()
    kinds: set[str] = set()
    for record in list(records):
        for partner in partners():
            ctx = context(artifacts, partner, record)
            for mapping in artifacts.mappings.values():
                kinds.add(assert_same(mapping, record, ctx))
    assert kinds == {"mapped", "failed"}


# Features no shipped mapping uses (yet): ``many``, ``not_in_crosswalk``, every comparison, a
# fixed or ``system_from`` subject system over a ``for_each``, a required
# nested field read relative to the item, a missing identifier system with no value.
FEATURES: dict[str, Any] = {
    "id": "test.features",
    "version": 2,
    "format": "test-json",
    "entity": "things",
    "source_system": "Test SIS",
    "labels": {"regime": "FERPA", "sensitivity": "normal", "category": "enrollment"},
    "key": ["$.id"],
    "subject": {
        "create": True,
        "link": True,
        "identifiers": [
            {"system": "urn:sid", "from": "$.sid", "transform": "upper"},
            {"for_each": "$.ids[*]", "system_from": "@.system", "from": "@.value"},
            {"for_each": "@.nothing", "system": "urn:x", "from": "@.value"},
        ],
    },
    "rules": [
        {
            "id": "scores",
            "target": "domains.academic.facts",
            "for_each": "$.scores[*]",
            "when": [{"path": "@.value", "gt": 10, "or": [{"path": "@.value", "lte": -5}]}],
            "fields": {
                "summary": {"from": "@.notes[*]", "many": True},
                "code": {"system": "urn:code", "code": {"from": "@.code", "required": True}},
                "effective": {"from": "@.on", "transform": "date", "else_from": ["$.on"]},
            },
        },
        {
            "id": "unlisted",
            "target": "domains.academic.facts",
            "when": [
                {"path": "$.other", "not_in_crosswalk": "grade-level"},
                {"path": "$.level", "lt": 3},
                {"path": "$.absent", "exists": False},
            ],
            "fields": {"summary": {"from": "$.grade", "transform": "string"}, "more": {"from": "$.list[1]"}},
        },
        {
            "id": "graded",
            "target": "student.gradeLevel",
            "when": [{"path": "$.grade", "in": ["09", "10"], "lookup": "grade-level"}],
            "fields": {"code": {"from": "$.grade", "lookup": "grade-level", "required": True}},
        },
    ],
}


def feature_records() -> list[Any]:
    base = {
        "id": "t-1",
        "sid": "abc",
        "ids": [{"system": "urn:a", "value": "1"}, {"value": "2"}, {"system": "urn:b"}, "odd"],
        "scores": [
            {"value": 12, "code": "A", "notes": ["one", None, "two"], "on": "2025-09-01"},
            {"value": "-7", "code": "B"},
            {"value": 3, "code": "C"},
            {"value": True, "code": "D"},
            {"value": "11", "code": "E", "on": "2025-10-01T08:00:00Z"},
        ],
        "on": "2025-09-02",
        "grade": "G11",
        "level": "2",
        "list": [1, 2],
    }
    records: list[Any] = [base, {"id": "t-2"}, {}, [], "text"]
    bad_scores = [*base["scores"], {"value": 50}, {"value": "11", "code": "F", "on": "2025-02-30"}]
    for change in (
        {"grade": "G9"},
        {"grade": "G12"},
        {"other": "G99"},
        {"other": "G9", "grade": "G10"},
        {"other": "G99", "level": "a"},
        {"level": 5},
        {"absent": 1},
        {"sid": "x" * 201},
        {"scores": bad_scores},
        {"ids": [{"system": "s" * 301, "value": "1"}]},
    ):
        records.append({**base, **change})
    return records


def test_features_no_shipped_mapping_uses_map_alike() -> None:
    mapping = build_mapping(FEATURES, "mappings/test/features.yaml", frozenset({"grade-level"}))
    codes = {"grade-level": {"G9": "09", "G10": "10", "G11": "11"}}
    kinds = set()
    for record in feature_records():
        for systems in ({"student-id": "urn:sid"}, {}):
            ctx = MappingContext(
                source_org="org",
                message_id="m",
                received_at="r",
                record_digest="d",
                identifier_systems=systems,
                codes=codes,
                trace=False,
            )
            kinds.add(assert_same(mapping, record, ctx))
    assert kinds == {"mapped", "failed"}


def test_apply_mapping_runs_the_compiled_form_without_a_trace(artifacts: Any, monkeypatch: Any) -> None:
    doc = sample(SAMPLES[0])
    mapping = shipped(artifacts, SAMPLES[0])
    ctx = context(artifacts, doc["partner"], doc["record"])
    traced = apply_mapping(mapping, doc["record"], dataclasses.replace(ctx, trace=True))
    monkeypatch.setattr("gateway.core.mapping.interpret_mapping", None)  # the ingest path never needs it
    fast = apply_mapping(mapping, doc["record"], ctx)
    assert (fast.elements, fast.rules, traced.unused != ()) == (traced.elements, traced.rules, True)
    assert fast.unused == ()


def test_a_mapping_is_compiled_once_and_a_new_one_afresh(artifacts: Any) -> None:
    mapping = next(iter(artifacts.mappings.values()))
    first = mapping_compiled.compiled(mapping)
    assert mapping_compiled.compiled(mapping) is first
    assert mapping_compiled.compiled(copy.copy(mapping)) is not first


@pytest.mark.parametrize("seed", range(4))
def test_derived_ids_are_the_base32_of_the_digest(seed: int) -> None:
    """The table encoding of ``core.ids`` against the standard library's base32 (the ids stored
    so far were made with it), and the pre-hashed deriver against ``derive_id``."""
    rng = random.Random(seed)
    for _ in range(2000):
        parts = [rng.choice(["", "é", "a\x1fb", str(rng.random())]) * rng.randint(0, 3) for _ in range(5)]
        parts = parts[: rng.randint(1, 5)]
        raw = hashlib.sha256("\x1f".join(parts).encode()).digest()[:17]
        expected = "el-" + base64.b32encode(raw).decode().rstrip("=").lower()[:26]
        fixed = rng.randint(0, len(parts) - 1)
        assert (ids.derive_id("el", *parts), ids.id_deriver("el", *parts[:fixed])(*parts[fixed:])) == (
            expected,
            expected,
        )
