"""Records mapped where they are parsed (``core.batch.Premap``, run in the parser process of
``formats.stream_worker``): the result is the one ``prepare`` computes itself; ``prepare`` takes
it only when it is of the mapping (id and version) in force for the record, and maps the record
itself otherwise; the decision is always taken in ``prepare``."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from gateway.core import batch as core_batch
from gateway.core.fhir_search import relative_references, tokens_of
from gateway.core.identity import authority_of
from gateway.core.outcomes import RecordOutcome
from gateway.core.policy import Decision
from gateway.errors import MappingFailed
from gateway.formats import stream_payload, stream_worker
from gateway.formats.records import RecordProblem, SourceRecord, record
from gateway.service.exchange import ingest as ingest_module
from gateway.service.exchange.inbound import Inbound
from gateway.service.exchange.ingest import ingest, record_batches
from gateway.service.fhir import fhir_served
from gateway.storage.tables import FhirResourceRow, FhirSearchTokenRow

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = sorted((ROOT / "tests" / "samples" / "fhir").glob("*.json"))
# The golden samples' partner: each sample names it (tests/samples/fhir/*.json "partner").
PARTNER = json.loads(SAMPLES[0].read_text())["partner"]


def _sender() -> core_batch.Sender:
    return core_batch.Sender(
        source_org=PARTNER["id"],
        message_id="msg-premap",
        format="fhir-ndjson",
        family="fhir-json",
        received_at="2026-12-07T12:00:00+00:00",
        identifier_systems=PARTNER["identifier_systems"],
        authority=authority_of(PARTNER),
    )


def _rules(artifacts: Any, decided: list[frozenset[str]]) -> core_batch.Rules:
    def decide(categories: frozenset[str]) -> Decision:
        decided.append(categories)
        return Decision(
            effect="permit",
            basis=(),
            obligations=(),
            matched_rules=(),
            reasons=(),
            policy_version="test",
            decision_id="d-1",
        )

    return core_batch.Rules(
        mapping_for=artifacts.mapping_for,
        codes=artifacts.codes,
        element_validators=artifacts.element_validators,
        decide=decide,
    )


def _premap(artifacts: Any) -> core_batch.Premap:
    entities = [entity for family, entity in artifacts.mappings if family == "fhir-json"]
    return core_batch.premap_for(_sender(), artifacts.mapping_for, artifacts.codes, entities)


def _samples() -> list[SourceRecord]:
    found = []
    for path in SAMPLES:
        sample = json.loads(path.read_text())
        assert sample["partner"] == PARTNER
        found.append(record(sample["record"]["resourceType"], path.name, sample["record"]))
    return found


def _in_process(artifacts: Any, rec: SourceRecord) -> Any:
    """What ``prepare`` maps by itself, for a record carrying no premapped result."""
    prepared = core_batch.prepare(
        [dataclasses.replace(rec, premapped=None)], _sender(), _rules(artifacts, [])
    )
    return prepared.mapped[0].result


def test_a_premapped_result_is_the_in_process_one(artifacts):
    premap = _premap(artifacts)
    samples = _samples()
    assert samples
    for rec in samples:
        found = premap(rec)
        assert found is not None, rec.location
        assert found.result == _in_process(artifacts, rec)
        assert repr(found.result) == repr(_in_process(artifacts, rec))  # key order too


def test_a_record_without_a_mapping_or_that_fails_to_map_is_left_to_prepare(artifacts):
    premap = _premap(artifacts)
    assert premap(record("Device", "line 1", {"resourceType": "Device"})) is None
    patient = json.loads((ROOT / "tests" / "samples" / "fhir" / "patient.json").read_text())["record"]
    patient["identifier"] = [{"system": PARTNER["identifier_systems"]["fhir-patient"], "value": "x" * 500}]
    assert premap(record("Patient", "line 2", patient)) is None  # an identifier over its limit


@pytest.mark.parametrize("fault", [MappingFailed("m", ()), TypeError("a bug"), RecursionError()])
def test_a_fault_while_premapping_leaves_the_record_to_prepare(artifacts, monkeypatch, fault):
    """In the parser process any fault would end the whole stream; prepare isolates it instead."""

    def failing(*args: Any) -> Any:
        raise fault

    monkeypatch.setattr(core_batch, "apply_mapping", failing)
    assert _premap(artifacts)(_samples()[0]) is None


def _sentinel(result: Any) -> Any:
    return dataclasses.replace(result, source_id="from-the-parser")


@pytest.mark.parametrize(
    ("version", "taken"),
    [
        pytest.param("same", True, id="the mapping in force: taken"),
        pytest.param("other", False, id="another version of the mapping: mapped again"),
        pytest.param("none", False, id="not premapped: mapped here"),
    ],
)
def test_prepare_takes_a_premapped_result_only_of_the_mapping_in_force(artifacts, version, taken):
    rec = _samples()[0]
    mapping = artifacts.mapping_for("fhir-json", rec.entity)
    result = _in_process(artifacts, rec)
    premapped = {
        "same": core_batch.Premapped(mapping=f"{mapping.id}@{mapping.version}", result=_sentinel(result)),
        "other": core_batch.Premapped(mapping=f"{mapping.id}@0.0.0-old", result=_sentinel(result)),
        "none": None,
    }[version]
    decided: list[frozenset[str]] = []
    prepared = core_batch.prepare(
        [dataclasses.replace(rec, premapped=premapped)], _sender(), _rules(artifacts, decided)
    )
    assert prepared.mapped[0].result.source_id == ("from-the-parser" if taken else result.source_id)
    assert decided, "the decision is taken in prepare either way"


def test_a_record_carries_its_premapped_result_without_being_another_record():
    rec = record("Patient", "line 1", {"resourceType": "Patient"})
    assert dataclasses.replace(rec, premapped="anything") == rec
    assert "premapped" not in repr(rec)


@pytest.mark.parametrize("head", [0, 4], ids=["all parsed there", "the first lines parsed here"])
def test_the_parser_process_maps_what_this_process_would(artifacts, tmp_path, monkeypatch, head):
    """Lines parsed here while the parser process starts (``HEAD_LINES``) are mapped by prepare."""
    monkeypatch.setattr(stream_worker, "MIN_BYTES", 1)
    monkeypatch.setattr(stream_worker, "HEAD_LINES", {"fhir-ndjson": head})
    samples = _samples()
    path = tmp_path / "resources.ndjson"
    path.write_bytes(b"\n".join(orjson.dumps(rec.data) for rec in samples * 3) + b"\n")
    with path.open("rb") as stream:
        found = list(stream_worker.stream_records("fhir-ndjson", stream, None, _premap(artifacts)))
    with path.open("rb") as stream:
        expected = list(stream_payload("fhir-ndjson", stream, None))
    assert found == expected
    records = [item for item in found if isinstance(item, SourceRecord)]
    assert len(records) > head
    for rec in records:
        if int(rec.location.split()[1]) <= head:  # "line N", or "line N derived ..."
            assert rec.premapped is None
            continue
        assert rec.premapped is not None
        assert rec.premapped.result == _in_process(artifacts, rec)


@pytest.mark.parametrize(
    ("records", "size", "first", "grow", "ready", "sizes"),
    [
        pytest.param(10, 4, None, False, None, [4, 4, 2], id="all of one size"),
        pytest.param(20, 8, 2, False, None, [2, 8, 8, 2], id="the first, then the size"),
        pytest.param(9, 8, 3, False, None, [3, 6], id="the stream ends before the size"),
        pytest.param(5, 4, 10, False, None, [4, 1], id="a first larger than the size is the size"),
        pytest.param(0, 4, 1, False, None, [], id="nothing"),
        pytest.param(20, 10, 1, True, None, [1, 2, 3, 4, 5, 5], id="growing by a quarter, rounded up"),
        pytest.param(40, 10, 4, True, 0, [4, 5, 7, 9, 10, 5], id="growing: nothing ready, by a quarter"),
        pytest.param(40, 10, 1, True, 6, [1, 6, 8, 10, 10, 5], id="growing: to what is ready, if more"),
        pytest.param(30, 10, 1, True, 50, [1, 10, 10, 9], id="growing: never past the size"),
        pytest.param(12, 5, 3, True, None, [3, 4, 5], id="growing: the stream ends first"),
        pytest.param(7, 4, None, True, 9, [4, 3], id="growing from the size stays at the size"),
        pytest.param(4, 8, 2, False, 50, [2, 2], id="not growing: what is ready does not matter"),
    ],
)
def test_batches_of_a_stream(records, size, first, grow, ready, sizes):
    items = []
    for n in range(records):
        items.append(record("Patient", f"line {n + 1}", {"n": n}))
        if n % 3 == 1:  # a problem between records: reported, never in a batch
            items.append(RecordProblem(location=f"line {n + 1}b", issues=()))
    problems: list[Any] = []
    waiting = None if ready is None else (lambda: ready)
    batches = list(record_batches(iter(items), problems.append, size, first=first, grow=grow, ready=waiting))
    assert [len(b) for b in batches] == sizes
    assert [r.data["n"] for b in batches for r in b] == list(range(records))
    assert len(problems) == len([n for n in range(records) if n % 3 == 1])


def test_a_staged_fhir_file_is_mapped_in_the_parser_process_and_lands_the_same(rt, tmp_path, monkeypatch):
    monkeypatch.setattr(stream_worker, "MIN_BYTES", 1)
    head = 2  # lines parsed (and so mapped) here while the parser process starts
    monkeypatch.setattr(stream_worker, "HEAD_LINES", {"fhir-ndjson": head})
    samples = [rec for rec in _samples() if rec.entity in ("Patient", "Observation", "Condition", "Goal")]
    path = tmp_path / "resources.ndjson"
    path.write_bytes(b"\n".join(orjson.dumps(rec.data) for rec in samples) + b"\n")
    mapped_here: list[str] = []
    real = core_batch.apply_mapping

    def counting(mapping: Any, data: Any, context: Any) -> Any:
        mapped_here.append(mapping.id)
        return real(mapping, data, context)

    monkeypatch.setattr(core_batch, "apply_mapping", counting)
    outcomes = {}
    for switch in ("1", "0"):
        monkeypatch.setenv(stream_worker.WORKER_ENV, switch)
        mapped_here.clear()
        summary = ingest(rt, Inbound(source_org=PARTNER["id"], format_name="fhir-ndjson", path=path))
        outcomes[switch] = [(r["location"], r["status"], r.get("reason")) for r in summary.outcome["records"]]
        landed = [r for r in summary.outcome["records"] if r["status"] in ("accepted", "held")]
        assert landed
        # with the worker every record after the head was mapped there; without it, here
        assert len(mapped_here) == (head if switch == "1" else len(samples))
        if switch == "1":
            _assert_index_is_of_the_served_documents(rt)
    assert outcomes["1"] == outcomes["0"]


@pytest.mark.parametrize(
    ("worker", "ready", "sizes"),
    [
        pytest.param("1", 0, [1, 2, 3, 4, 4, 4, 2], id="premapped in the parser, nothing waiting: growing"),
        pytest.param("1", 100, [1, 4, 4, 4, 4, 3], id="premapped in the parser, many waiting: to the size"),
        pytest.param("0", 100, [4, 4, 4, 4, 4], id="parsed here: whole batches"),
    ],
)
def test_a_stream_mapped_in_the_parser_process_lands_in_growing_batches(
    rt, tmp_path, monkeypatch, worker, ready, sizes
):
    monkeypatch.setattr(stream_worker, "MIN_BYTES", 1)
    monkeypatch.setattr(stream_worker, "HEAD_LINES", {})
    monkeypatch.setattr(ingest_module, "FIRST_PARALLEL_BATCH", 1)
    monkeypatch.setenv(stream_worker.WORKER_ENV, worker)
    # what the parser process has sent and this one has not read yet, fixed for the test
    monkeypatch.setattr(stream_worker.Backlog, "__call__", lambda self: ready)
    patient = next(rec for rec in _samples() if rec.entity == "Patient").data
    lines = [orjson.dumps({**patient, "id": f"p{n}"}) for n in range(sum(sizes))]
    path = tmp_path / "patients.ndjson"
    path.write_bytes(b"\n".join(lines) + b"\n")
    seen: list[int] = []
    real = ingest_module._run_one_batch

    def counting(rt: Any, exchange: Any, batch: list[Any]) -> Any:
        seen.append(len(batch))
        return real(rt, exchange, batch)

    monkeypatch.setattr(ingest_module, "_run_one_batch", counting)
    small = dataclasses.replace(rt, settings=dataclasses.replace(rt.settings, bulk_batch_size=4))
    summary = ingest(small, Inbound(source_org=PARTNER["id"], format_name="fhir-ndjson", path=path))
    assert seen == sizes
    assert len(summary.outcome["records"]) == sum(sizes)


def _assert_index_is_of_the_served_documents(rt: Any) -> None:
    with rt.sessions() as session:
        documents = {
            (row.resource_type, row.id): row.document for row in session.scalars(select(FhirResourceRow))
        }
        index: dict[tuple[str, str], set[tuple[str, str]]] = {}
        for row in session.scalars(select(FhirSearchTokenRow)):
            index.setdefault((row.resource_type, row.id), set()).add((row.param, row.value))
    assert documents
    for key, document in documents.items():
        assert index.get(key, set()) == {(p, v[:300]) for p, v in tokens_of(document)}, key


def test_a_fhir_record_is_indexed_where_it_is_parsed(artifacts):
    premap = _premap(artifacts)
    for rec in _samples():
        found = premap(rec)
        assert found is not None
        assert found.search_tokens == tuple(tokens_of(rec.data))
        assert found.references == relative_references(rec.data)
    assert any(premap(rec).references for rec in _samples())  # type: ignore[union-attr]
    edfi = dataclasses.replace(premap, family="edfi-json")
    assert all(edfi(rec) is None or edfi(rec).search_tokens is None for rec in _samples())
    assert all(edfi(rec) is None or edfi(rec).references is None for rec in _samples())


def _landed(document: dict[str, Any], **known: Any) -> fhir_served.Landed:
    """An accepted FHIR record as the pipeline hands it to be served, with what was read of it."""
    return fhir_served.Landed(
        record=record(str(document.get("resourceType")), "line 1", document),
        outcome=RecordOutcome(location="line 1", status="accepted"),
        element_labels=(),
        mapping_labels={},
        **known,
    )


@pytest.mark.parametrize(
    ("given", "looked_up"),
    [
        pytest.param((("Patient", "named-there"),), {("Patient", "named-there")}, id="read where parsed"),
        pytest.param(None, "computed", id="not read where parsed: read off the document"),
    ],
)
def test_the_references_looked_up_are_the_parsed_ones_when_given(monkeypatch, given, looked_up):
    document = json.loads(SAMPLES[0].read_text())["record"]
    landed = _landed(document, references=given)
    asked: list[set[tuple[str, str]]] = []
    monkeypatch.setattr(
        fhir_served.fhir_bulk, "source_orgs", lambda _s, named: asked.append(set(named)) or {}
    )
    monkeypatch.setattr(fhir_served.fhir_bulk, "server_ids", lambda _s, _org, _named: {})
    fhir_served._server_references(None, "clinic", [landed])  # type: ignore[arg-type]
    expected = set(relative_references(document)) if looked_up == "computed" else looked_up
    assert expected
    assert asked == [expected]


@pytest.mark.parametrize(
    ("given", "references", "expected"),
    [
        pytest.param((("code", "x"),), {}, (("code", "x"),), id="as sent: taken"),
        pytest.param((("code", "x"),), {"Patient/a": "Patient/b"}, "computed", id="a reference rewritten"),
        pytest.param(None, {}, "computed", id="not indexed where parsed"),
    ],
)
def test_the_served_index_is_the_parsed_one_only_when_the_document_is_as_sent(given, references, expected):
    document = json.loads(SAMPLES[0].read_text())["record"]
    landed = _landed(document, tokens=given)
    computed = tuple(tokens_of(document))
    assert computed
    assert computed != given
    assert fhir_served._tokens(landed, document, references) == (
        computed if expected == "computed" else expected
    )


@pytest.mark.parametrize(
    ("format_name", "mapped_there"),
    [
        pytest.param("fhir-ndjson", True, id="FHIR NDJSON: parsing is light, the mapping goes along"),
        pytest.param("edfi-xml", False, id="Ed-Fi XML: parsing keeps that process the busier one"),
    ],
)
def test_which_formats_are_mapped_where_they_are_parsed(rt, tmp_path, monkeypatch, format_name, mapped_there):
    monkeypatch.setattr(stream_worker, "MIN_BYTES", 1)
    steps: list[Any] = []

    def recording(format_name: str, stream: Any, entity: Any, premap: Any = None, backlog: Any = None) -> Any:
        steps.append(premap)
        return iter(())

    monkeypatch.setattr(stream_worker, "stream_records", recording)
    path = tmp_path / "file"
    path.write_bytes(b"{}\n" if format_name == "fhir-ndjson" else b"<x/>")
    ingest(rt, Inbound(source_org=PARTNER["id"], format_name=format_name, path=path))
    assert len(steps) == 1
    assert isinstance(steps[0], core_batch.Premap) is mapped_there
