"""Golden files for every mapping, discovered by glob.

Each mapping ``mappings/<std>/<name>.yaml`` must have a sample ``tests/samples/<std>/<name>.json``
(a partner and a source record) and a golden ``tests/golden/<std>/<name>.json`` (the elements
and the trace the mapping gives). A mapping without a sample fails the build;
``pytest --update-golden`` rewrites the golden files for review.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from gateway.artifacts import load_artifacts, mapping_files
from gateway.core.canonical import digest
from gateway.core.mapping import MappingContext, apply_mapping

ROOT = Path(__file__).resolve().parent.parent
MAPPINGS = mapping_files(ROOT / "mappings")
RECEIVED_AT = "2026-11-23T12:00:00+00:00"


@pytest.fixture(scope="module")
def artifacts():
    return load_artifacts(ROOT)


def _result_document(artifacts, mapping_path: Path) -> dict:
    sample = json.loads(
        (ROOT / "tests" / "samples" / mapping_path.parent.name / f"{mapping_path.stem}.json").read_text()
    )
    mapping = next(m for m in artifacts.mappings.values() if m.origin == str(mapping_path.relative_to(ROOT)))
    context = MappingContext(
        source_org=sample["partner"]["id"],
        message_id="msg-golden",
        received_at=RECEIVED_AT,
        record_digest=digest(sample["record"]),
        identifier_systems=sample["partner"]["identifier_systems"],
        codes=artifacts.codes,
    )
    result = apply_mapping(mapping, sample["record"], context)
    body = dataclasses.asdict(result)
    body["elements"] = [{"slot": e.slot, "element": dict(e.element)} for e in result.elements]
    return json.loads(json.dumps(body))


@pytest.mark.parametrize("mapping_path", MAPPINGS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_mapping_matches_its_golden_file(
    artifacts, mapping_path: Path, request: pytest.FixtureRequest
) -> None:
    sample = ROOT / "tests" / "samples" / mapping_path.parent.name / f"{mapping_path.stem}.json"
    assert sample.exists(), f"{mapping_path.relative_to(ROOT)} has no sample; add {sample.relative_to(ROOT)}"
    golden = ROOT / "tests" / "golden" / mapping_path.parent.name / f"{mapping_path.stem}.json"
    actual = _result_document(artifacts, mapping_path)
    if request.config.getoption("--update-golden"):
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(json.dumps(actual, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    assert golden.exists(), (
        f"no golden file {golden.relative_to(ROOT)}; run pytest --update-golden and review it"
    )
    assert actual == json.loads(golden.read_text(encoding="utf-8"))


@pytest.mark.parametrize("mapping_path", MAPPINGS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_rule_fires_on_its_sample(artifacts, mapping_path: Path) -> None:
    result = _result_document(artifacts, mapping_path)
    silent = [r["rule_id"] for r in result["rules"] if r["fired"] == 0]
    assert not silent, f"rules that never fire on the sample: {silent}; extend the sample"


def test_every_sample_has_a_mapping() -> None:
    samples = {
        p.relative_to(ROOT / "tests" / "samples").with_suffix("")
        for p in (ROOT / "tests" / "samples").glob("*/*.json")
    }
    mapped = {p.relative_to(ROOT / "mappings").with_suffix("") for p in MAPPINGS}
    assert samples <= mapped, f"samples without a mapping: {sorted(map(str, samples - mapped))}"


@pytest.mark.parametrize("mapping_path", MAPPINGS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_mapped_elements_fit_the_plan_schema(artifacts, mapping_path: Path) -> None:
    from gateway.core.mapping import PlanElement
    from gateway.core.plan import empty_plan, merge_elements

    result = _result_document(artifacts, mapping_path)
    elements = [PlanElement(slot=e["slot"], element=e["element"]) for e in result["elements"]]
    plan = merge_elements(empty_plan("stu-" + "a" * 26), elements).plan
    errors = [f"{e.json_path}: {e.message}" for e in artifacts.plan_validator.iter_errors(plan)]
    assert errors == []
